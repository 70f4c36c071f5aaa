"""The credit score model: facts in, score out. Pure and deterministic; see docs/scoring.md.

Every change to a weight is a new MODEL_VERSION, so a stored score says which rules made it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from app.domain.enums import CreditFlagKind, PenaltySeverity, PenaltyStatus
from app.domain.rules import add_months, licence_in_force

MODEL_VERSION = "xz-score-2026.1"
BASE_SCORE = 700
MIN_SCORE, MAX_SCORE = 350, 950
MAX_REASONS = 4

PENALTY_POINTS = {PenaltySeverity.MINOR: -10, PenaltySeverity.GENERAL: -40, PenaltySeverity.SERIOUS: -120}
# Weight by age of the decision: (younger than N months, weight). Older than 5 years: no weight.
RECENCY = ((12, 1.0), (36, 0.6), (60, 0.3))
REPAIRED_WEIGHT = 0.5  # a repaired penalty (信用修复) still counts, at half
LICENCE_POINTS, LICENCE_CAP = 5, 30
FLAG_POINTS = {
    CreditFlagKind.DISHONEST_DEBTOR: -250,
    CreditFlagKind.HONOUR_LIST: 60,
    CreditFlagKind.TAX_A_GRADE: 40,
}
GRADES = ((850, "AAA"), (750, "AA"), (650, "A"), (550, "B"), (450, "C"), (MIN_SCORE, "D"))

DESCRIPTIONS = {
    "PENALTY_SERIOUS": "serious administrative penalties in the last 5 years",
    "PENALTY_GENERAL": "general administrative penalties in the last 5 years",
    "PENALTY_MINOR": "minor administrative penalties in the last 5 years",
    "LICENCES_IN_FORCE": "administrative licences in force",
    "DISHONEST_DEBTOR": "listed as a dishonest judgment debtor (失信被执行人)",
    "HONOUR_LIST": "on an honour list (守信激励名单)",
    "TAX_A_GRADE": "tax credit grade A (纳税信用A级)",
}


@dataclass(frozen=True)
class PenaltyFact:
    severity: PenaltySeverity
    status: PenaltyStatus
    decided_on: dt.date


@dataclass(frozen=True)
class LicenceFact:
    status: str
    valid_from: dt.date
    valid_to: dt.date | None


@dataclass(frozen=True)
class FlagFact:
    flag: CreditFlagKind
    since: dt.date
    until: dt.date | None


@dataclass(frozen=True)
class Factor:
    code: str
    description: str
    impact: int


@dataclass(frozen=True)
class Score:
    score: int
    grade: str
    model_version: str
    factors: tuple[Factor, ...]  # the reasons: most negative first, at most MAX_REASONS


def _recency_weight(decided_on: dt.date, today: dt.date) -> float:
    for months, weight in RECENCY:
        if decided_on > add_months(today, -months):
            return weight
    return 0.0


def grade_of(score: int) -> str:
    return next(grade for floor, grade in GRADES if score >= floor)


def compute(
    penalties: list[PenaltyFact], licences: list[LicenceFact], flags: list[FlagFact], *, today: dt.date
) -> Score:
    impacts: dict[str, float] = {}
    for p in penalties:
        if p.status == PenaltyStatus.REVOKED or p.decided_on > today:
            continue  # a revoked decision never happened, in credit terms
        weight = _recency_weight(p.decided_on, today)
        if p.status == PenaltyStatus.REPAIRED:
            weight *= REPAIRED_WEIGHT
        if weight:
            code = f"PENALTY_{PenaltySeverity(p.severity).value}"
            impacts[code] = impacts.get(code, 0) + PENALTY_POINTS[PenaltySeverity(p.severity)] * weight
    in_force = sum(1 for lic in licences if licence_in_force(lic.status, lic.valid_from, lic.valid_to, today))
    if in_force:
        impacts["LICENCES_IN_FORCE"] = min(in_force * LICENCE_POINTS, LICENCE_CAP)
    for f in flags:
        if f.since <= today and (f.until is None or today <= f.until):
            code = CreditFlagKind(f.flag).value
            impacts[code] = FLAG_POINTS[CreditFlagKind(f.flag)]  # one listing or several: once
    factors = [Factor(code, DESCRIPTIONS[code], round(v)) for code, v in impacts.items() if round(v)]
    # Adverse-action style: the most negative reasons first, then the strongest positive ones.
    factors.sort(key=lambda f: (f.impact >= 0, f.impact if f.impact < 0 else -f.impact, f.code))
    score = max(MIN_SCORE, min(MAX_SCORE, BASE_SCORE + sum(f.impact for f in factors)))
    return Score(score, grade_of(score), MODEL_VERSION, tuple(factors[:MAX_REASONS]))
