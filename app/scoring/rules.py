"""The credit score model: facts in, score out. Pure and deterministic; see docs/scoring.md.

Every change to a weight is a new MODEL_VERSION, so a stored score says which rules made it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from app.domain.enums import CreditFlagKind, PenaltySeverity, PenaltyStatus
from app.domain.rules import add_months, licence_in_force
from app.i18n import Language, Text

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
ONE_DAY = dt.timedelta(days=1)
GRADES = ((850, "AAA"), (750, "AA"), (650, "A"), (550, "B"), (450, "C"), (MIN_SCORE, "D"))

# When more factors moved a score than MAX_REASONS, the last reason shown is the rest together,
# so that the reasons shown always add up to the score's distance from BASE_SCORE.
OTHER = "OTHER_FACTORS"
# Every code a factor may have. Each one's description, in Chinese and in English, is in the
# catalogue of texts (app/i18n/catalogue.toml, [factor]).
CODES = (
    *(f"PENALTY_{severity.value}" for severity in PenaltySeverity),
    "LICENCES_IN_FORCE",
    *(flag.value for flag in CreditFlagKind),
    OTHER,
)


def describe(code: str, language: Language = Language.EN) -> str:
    """A factor's description in `language`. A read shows it in the request's language; the
    stored score keeps the English one (credit_scores.factors), which no read shows."""
    return Text(f"factor.{code}").render(language)


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


def compute(penalties: list[PenaltyFact], licences: list[LicenceFact], flags: list[FlagFact], *, today: dt.date) -> Score:
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
    factors = sorted((Factor(code, describe(code), round(v)) for code, v in impacts.items() if round(v)), key=_adverse_first)
    score = max(MIN_SCORE, min(MAX_SCORE, BASE_SCORE + sum(f.impact for f in factors)))
    return Score(score, grade_of(score), MODEL_VERSION, _reasons(factors))


def _adverse_first(f: Factor) -> tuple[bool, int, str]:
    """Adverse-action style: the most negative reasons first, then the strongest positive ones."""
    return (f.impact >= 0, f.impact if f.impact < 0 else -f.impact, f.code)


def _reasons(factors: list[Factor]) -> tuple[Factor, ...]:
    """At most MAX_REASONS, adding up to all of them: past that, the rest are one reason."""
    if len(factors) <= MAX_REASONS:
        return tuple(factors)
    shown, rest = factors[: MAX_REASONS - 1], sum(f.impact for f in factors[MAX_REASONS - 1 :])
    if rest:
        shown.append(Factor(OTHER, describe(OTHER), rest))
    return tuple(sorted(shown, key=_adverse_first))


def holds_until(
    penalties: list[PenaltyFact], licences: list[LicenceFact], flags: list[FlagFact], *, today: dt.date
) -> dt.date | None:
    """The last day on which these facts give the score they give today (None: every day after).

    The date alone moves a score when a penalty's decision day comes or its age crosses a
    recency bound, a licence comes into force or ends, a flag starts or ends. Stored with the
    score, it tells a read when the stored score no longer holds (app/scoring/current.py).
    """
    changes: list[dt.date] = []
    for p in penalties:
        if p.status != PenaltyStatus.REVOKED:
            changes.append(p.decided_on)
            if p.decided_on.year < dt.MAXYEAR - 10:  # (5 years after year 9989 is past the calendar)
                changes += (_lighter_from(p.decided_on, months) for months, _ in RECENCY)
    for lic in licences:
        changes.append(lic.valid_from)
        if lic.valid_to is not None and lic.valid_to < dt.date.max:
            changes.append(lic.valid_to + ONE_DAY)
    for f in flags:
        changes.append(f.since)
        if f.until is not None and f.until < dt.date.max:
            changes.append(f.until + ONE_DAY)
    coming = [day for day in changes if day > today]
    return min(coming) - ONE_DAY if coming else None


def _lighter_from(decided_on: dt.date, months: int) -> dt.date:
    """The first day on which a decision is no longer younger than `months` (`_recency_weight`'s
    test turns false): about `months` calendar months later, found with the same add_months."""
    day = add_months(decided_on, months)
    while add_months(day - ONE_DAY, -months) >= decided_on:
        day -= ONE_DAY
    while add_months(day, -months) < decided_on:
        day += ONE_DAY
    return day
