"""The score's promises, for any facts (issue 12): hypothesis draws the facts and the day.

- adding a penalty never raises a score; repairing one never lowers it;
- an older penalty never weighs more than a newer one of the same severity;
- every score is within 350..950, and the reasons shown add up to its distance from the base
  (before clamping);
- a stored score holds, unchanged, on every day up to `holds_until`, and no later day that the
  facts make a bound is missed (the day before and the day after each bound, with the day given
  to the model, never read from the clock).
"""

from __future__ import annotations

import dataclasses
import datetime as dt

from hypothesis import given, settings, strategies as st

from app.domain.enums import CreditFlagKind, PenaltySeverity, PenaltyStatus
from app.domain.rules import add_months
from app.scoring.rules import (
    BASE_SCORE,
    MAX_REASONS,
    MAX_SCORE,
    MIN_SCORE,
    FlagFact,
    LicenceFact,
    PenaltyFact,
    compute,
    holds_until,
)

TODAY = dt.date(2026, 6, 15)
DAY = dt.timedelta(days=1)
days = st.dates(min_value=dt.date(2015, 1, 1), max_value=dt.date(2032, 12, 31))
penalties = st.builds(PenaltyFact, st.sampled_from(PenaltySeverity), st.sampled_from(PenaltyStatus), days)
licences = st.builds(LicenceFact, st.sampled_from(["VALID", "REVOKED", "ANNULLED"]), days, st.none() | days)
flags = st.builds(FlagFact, st.sampled_from(CreditFlagKind), days, st.none() | days)
facts = st.tuples(st.lists(penalties, max_size=6), st.lists(licences, max_size=8), st.lists(flags, max_size=4))
SETTINGS = settings(max_examples=300, deadline=None, derandomize=True, database=None)


def score_of(f: tuple[list[PenaltyFact], list[LicenceFact], list[FlagFact]], today: dt.date = TODAY) -> int:
    return compute(*f, today=today).score


@SETTINGS
@given(facts, penalties, days)
def test_adding_a_penalty_never_raises_a_score(f, extra: PenaltyFact, today: dt.date) -> None:  # type: ignore[no-untyped-def]
    assert score_of((f[0] + [extra], f[1], f[2]), today) <= score_of(f, today)


@SETTINGS
@given(facts, st.data(), days)
def test_repairing_a_penalty_never_lowers_a_score(f, data: st.DataObject, today: dt.date) -> None:  # type: ignore[no-untyped-def]
    active = [i for i, p in enumerate(f[0]) if p.status == PenaltyStatus.ACTIVE]
    if not active:
        return
    i = data.draw(st.sampled_from(active))
    repaired = list(f[0])
    repaired[i] = dataclasses.replace(repaired[i], status=PenaltyStatus.REPAIRED)
    assert score_of((repaired, f[1], f[2]), today) >= score_of(f, today)


@SETTINGS
@given(st.sampled_from(PenaltySeverity), days, days, days)
def test_an_older_penalty_never_weighs_more_than_a_newer_one(
    severity: PenaltySeverity, a: dt.date, b: dt.date, today: dt.date
) -> None:
    older, newer = sorted((a, b))
    weigh = lambda day: score_of(([PenaltyFact(severity, PenaltyStatus.ACTIVE, day)], [], []), today)  # noqa: E731
    if newer <= today:  # a decision dated after today does not count yet, whatever its age
        assert weigh(older) >= weigh(newer)


@SETTINGS
@given(facts, days)
def test_scores_stay_within_bounds_and_reasons_add_up(f, today: dt.date) -> None:  # type: ignore[no-untyped-def]
    score = compute(*f, today=today)
    assert MIN_SCORE <= score.score <= MAX_SCORE
    assert len(score.factors) <= MAX_REASONS
    unclamped = BASE_SCORE + sum(factor.impact for factor in score.factors)
    assert score.score == max(MIN_SCORE, min(MAX_SCORE, unclamped))
    negatives = [factor.impact for factor in score.factors if factor.impact < 0]
    assert negatives == sorted(negatives)  # the most negative first


@SETTINGS
@given(facts, days, st.data())
def test_a_score_holds_until_its_date_and_not_past_a_bound(f, today: dt.date, data: st.DataObject) -> None:  # type: ignore[no-untyped-def]
    computed = compute(*f, today=today)
    until = holds_until(*f, today=today)
    last = until if until is not None else today + dt.timedelta(days=4000)
    assert last >= today
    some_day = data.draw(st.dates(min_value=today, max_value=last))
    for day in (today, some_day, last):
        assert compute(*f, today=day) == computed, (day, until)


def test_each_bound_the_day_before_and_the_day_after() -> None:
    """Every bound that moves a score with the date alone: the score holds the day before, and
    `holds_until` says so; on the day after, the stored score no longer holds."""
    decided = dt.date(2024, 2, 29)  # a leap day: add_months ends it on the 28th
    general = [PenaltyFact(PenaltySeverity.GENERAL, PenaltyStatus.ACTIVE, decided)]
    for months in (12, 36, 60):  # the recency bounds: 1, 3 and 5 years
        first_lighter = add_months(decided, months) + DAY  # the decision is no longer younger than the bound
        before = first_lighter - DAY
        assert holds_until(general, [], [], today=before - DAY) == before
        assert compute(general, [], [], today=before).score < compute(general, [], [], today=first_lighter).score
    valid_to = dt.date(2027, 3, 31)
    licence = [LicenceFact("VALID", dt.date(2020, 1, 1), valid_to)]
    assert holds_until([], licence, [], today=valid_to - DAY) == valid_to
    assert compute([], licence, [], today=valid_to).score > compute([], licence, [], today=valid_to + DAY).score
    until = dt.date(2026, 12, 31)
    flag = [FlagFact(CreditFlagKind.DISHONEST_DEBTOR, dt.date(2025, 1, 1), until)]
    assert holds_until([], [], flag, today=until - DAY) == until
    assert compute([], [], flag, today=until).score < compute([], [], flag, today=until + DAY).score
    assert holds_until([], [], [], today=TODAY) is None
