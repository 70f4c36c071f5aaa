"""The credit score model (SPEC section 6): bounds, weights, determinism, reasons."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Sequence

import pytest

from app.domain.enums import CreditFlagKind, PenaltySeverity, PenaltyStatus
from app.scoring.rules import (
    BASE_SCORE,
    MAX_REASONS,
    MAX_SCORE,
    MIN_SCORE,
    MODEL_VERSION,
    FlagFact,
    LicenceFact,
    PenaltyFact,
    compute,
    grade_of,
)

TODAY = dt.date(2026, 6, 15)
ACTIVE, REPAIRED, REVOKED = PenaltyStatus.ACTIVE, PenaltyStatus.REPAIRED, PenaltyStatus.REVOKED
MINOR, GENERAL, SERIOUS = PenaltySeverity.MINOR, PenaltySeverity.GENERAL, PenaltySeverity.SERIOUS


def days_ago(n: int) -> dt.date:
    return TODAY - dt.timedelta(days=n)


def penalty(severity: PenaltySeverity, age_days: int, status: PenaltyStatus = ACTIVE) -> PenaltyFact:
    return PenaltyFact(severity, status, days_ago(age_days))


def licence(valid_to: dt.date | None = None, status: str = "VALID") -> LicenceFact:
    return LicenceFact(status, days_ago(400), valid_to)


def flag(kind: CreditFlagKind, since: int = 30, until: dt.date | None = None) -> FlagFact:
    return FlagFact(kind, days_ago(since), until)


def impacts(
    penalties: Sequence[PenaltyFact] = (), licences: Sequence[LicenceFact] = (), flags: Sequence[FlagFact] = ()
) -> dict[str, int]:
    return {f.code: f.impact for f in compute(list(penalties), list(licences), list(flags), today=TODAY).factors}


def test_no_facts_is_the_base_score_with_no_reasons() -> None:
    score = compute([], [], [], today=TODAY)
    assert (score.score, score.grade, score.model_version, score.factors) == (BASE_SCORE, "A", MODEL_VERSION, ())


def test_the_score_stays_within_350_and_950() -> None:
    worst = compute([penalty(SERIOUS, 10)] * 20, [], [flag(CreditFlagKind.DISHONEST_DEBTOR)], today=TODAY)
    assert (worst.score, worst.grade) == (MIN_SCORE, "D")
    best = compute(
        [], [licence()] * 50, [flag(k) for k in (CreditFlagKind.HONOUR_LIST, CreditFlagKind.TAX_A_GRADE)], today=TODAY
    )
    assert MIN_SCORE <= best.score <= MAX_SCORE


@pytest.mark.parametrize(
    ("score", "grade"),
    [(950, "AAA"), (850, "AAA"), (849, "AA"), (750, "AA"), (700, "A"), (550, "B"), (450, "C"), (350, "D")],
)
def test_grades(score: int, grade: str) -> None:
    assert grade_of(score) == grade


def test_penalties_weigh_by_severity() -> None:
    assert impacts([penalty(MINOR, 10)]) == {"PENALTY_MINOR": -10}
    assert impacts([penalty(GENERAL, 10)]) == {"PENALTY_GENERAL": -40}
    assert impacts([penalty(SERIOUS, 10)]) == {"PENALTY_SERIOUS": -120}


def test_older_penalties_weigh_less_and_after_five_years_not_at_all() -> None:
    assert impacts([penalty(SERIOUS, 2 * 365)]) == {"PENALTY_SERIOUS": -72}  # 0.6
    assert impacts([penalty(SERIOUS, 4 * 365)]) == {"PENALTY_SERIOUS": -36}  # 0.3
    assert impacts([penalty(SERIOUS, 5 * 365 + 2)]) == {}


def test_a_repaired_penalty_counts_at_half_and_a_revoked_one_not_at_all() -> None:
    assert impacts([penalty(SERIOUS, 10, REPAIRED)]) == {"PENALTY_SERIOUS": -60}
    assert impacts([penalty(SERIOUS, 10, REVOKED)]) == {}


def test_a_penalty_dated_in_the_future_does_not_count_yet() -> None:
    assert impacts([penalty(SERIOUS, -1)]) == {}


def test_licences_in_force_add_up_to_a_cap() -> None:
    assert impacts(licences=[licence()]) == {"LICENCES_IN_FORCE": 5}
    assert impacts(licences=[licence()] * 100) == {"LICENCES_IN_FORCE": 30}
    assert impacts(licences=[licence(valid_to=days_ago(1)), licence(status="REVOKED")]) == {}


def test_flags_count_while_in_force_and_once_however_often_listed() -> None:
    dishonest = CreditFlagKind.DISHONEST_DEBTOR
    assert impacts(flags=[flag(dishonest), flag(dishonest, since=400)]) == {"DISHONEST_DEBTOR": -250}
    assert impacts(flags=[flag(dishonest, until=days_ago(1))]) == {}
    assert impacts(flags=[flag(dishonest, since=-1)]) == {}
    assert impacts(flags=[flag(CreditFlagKind.HONOUR_LIST), flag(CreditFlagKind.TAX_A_GRADE)]) == {
        "HONOUR_LIST": 60,
        "TAX_A_GRADE": 40,
    }


def test_the_same_facts_give_the_same_score_in_any_order() -> None:
    penalties = [penalty(s, age) for s in PenaltySeverity for age in (10, 500, 1200)]
    licences = [licence(), licence(valid_to=days_ago(3)), licence()]
    flags = [flag(CreditFlagKind.TAX_A_GRADE), flag(CreditFlagKind.DISHONEST_DEBTOR)]
    first = compute(penalties, licences, flags, today=TODAY)
    rng = random.Random(7)
    for _ in range(5):
        rng.shuffle(penalties)
        rng.shuffle(licences)
        rng.shuffle(flags)
        assert compute(penalties, licences, flags, today=TODAY) == first


def test_reasons_show_the_most_negative_first_and_at_most_four_adding_up_to_the_score() -> None:
    score = compute(
        [penalty(MINOR, 10), penalty(GENERAL, 10), penalty(SERIOUS, 10)],
        [licence()],
        [flag(CreditFlagKind.DISHONEST_DEBTOR), flag(CreditFlagKind.HONOUR_LIST)],
        today=TODAY,
    )
    # Six factors moved it: the three most negative, then the other three together (-10 + 60 + 5).
    assert [(f.code, f.impact) for f in score.factors] == [
        ("DISHONEST_DEBTOR", -250),
        ("PENALTY_SERIOUS", -120),
        ("PENALTY_GENERAL", -40),
        ("OTHER_FACTORS", 55),
    ]
    assert len(score.factors) == MAX_REASONS
    assert BASE_SCORE + sum(f.impact for f in score.factors) == 345  # clamped to the floor, 350
    assert score.score == MIN_SCORE


def test_factors_past_the_fourth_that_cancel_out_are_not_a_reason() -> None:
    score = compute(
        [penalty(GENERAL, 10), penalty(SERIOUS, 10), penalty(MINOR, 10)],
        [licence()] * 2,  # +10, and the MINOR penalty's -10: nothing together
        [flag(CreditFlagKind.DISHONEST_DEBTOR)],
        today=TODAY,
    )
    assert [f.code for f in score.factors] == ["DISHONEST_DEBTOR", "PENALTY_SERIOUS", "PENALTY_GENERAL"]
    assert BASE_SCORE + sum(f.impact for f in score.factors) == 290 and score.score == MIN_SCORE


def test_a_factor_left_out_of_the_reasons_still_counts() -> None:
    score = compute(
        [penalty(MINOR, 10), penalty(GENERAL, 10), penalty(SERIOUS, 10)],
        [licence()],
        [flag(CreditFlagKind.HONOUR_LIST)],
        today=TODAY,
    )
    assert "LICENCES_IN_FORCE" not in [f.code for f in score.factors]
    assert score.score == BASE_SCORE - 120 - 40 - 10 + 60 + 5


def test_positive_reasons_follow_the_negative_ones_strongest_first() -> None:
    score = compute(
        [penalty(MINOR, 10)],
        [licence()],
        [flag(CreditFlagKind.HONOUR_LIST), flag(CreditFlagKind.TAX_A_GRADE)],
        today=TODAY,
    )
    assert [(f.code, f.impact) for f in score.factors] == [
        ("PENALTY_MINOR", -10),
        ("HONOUR_LIST", 60),
        ("TAX_A_GRADE", 40),
        ("LICENCES_IN_FORCE", 5),
    ]
    assert all(f.description for f in score.factors)
    assert score.score == BASE_SCORE - 10 + 60 + 40 + 5
