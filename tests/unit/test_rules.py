"""Domain rules (SPEC section 6): publication windows, repair, retention, derived statuses.

The rules take `today` as an argument, so these tests give them one: no clock involved.
"""

from __future__ import annotations

import datetime as dt

import pytest

from app.domain.enums import CertificateStatus, LicenceStatus, PenaltySeverity, PenaltyStatus
from app.domain.rules import (
    add_months,
    certificate_status,
    earliest_repair,
    is_published,
    licence_in_force,
    licence_status,
    publish_until,
    within_bank_retention,
)

DECIDED = dt.date(2026, 4, 15)
ACTIVE, REPAIRED, REVOKED = PenaltyStatus.ACTIVE, PenaltyStatus.REPAIRED, PenaltyStatus.REVOKED
MINOR, GENERAL, SERIOUS = PenaltySeverity.MINOR, PenaltySeverity.GENERAL, PenaltySeverity.SERIOUS


@pytest.mark.parametrize(
    ("day", "months", "expected"),
    [
        (dt.date(2026, 1, 31), 1, dt.date(2026, 2, 28)),
        (dt.date(2028, 1, 31), 1, dt.date(2028, 2, 29)),
        (dt.date(2026, 11, 30), 3, dt.date(2027, 2, 28)),
        (dt.date(2026, 3, 10), 36, dt.date(2029, 3, 10)),
        (dt.date(2026, 3, 31), -1, dt.date(2026, 2, 28)),
        (dt.date(2026, 1, 15), -60, dt.date(2021, 1, 15)),
    ],
)
def test_months_are_calendar_months_and_the_31st_becomes_the_last_day(
    day: dt.date, months: int, expected: dt.date
) -> None:
    assert add_months(day, months) == expected


def test_publication_lasts_at_most_a_year_for_general_and_three_for_serious_and_never_for_minor() -> None:
    assert publish_until(GENERAL, DECIDED) == dt.date(2027, 4, 15)
    assert publish_until(SERIOUS, DECIDED) == dt.date(2029, 4, 15)
    assert publish_until(MINOR, DECIDED) is None


def test_repair_is_allowed_after_the_minimum_publication() -> None:
    assert earliest_repair(GENERAL, DECIDED) == dt.date(2026, 7, 15)  # 3 months
    assert earliest_repair(SERIOUS, DECIDED) == dt.date(2027, 4, 15)  # 1 year
    assert earliest_repair(MINOR, DECIDED) is None


@pytest.mark.parametrize(
    ("severity", "status", "today", "published"),
    [
        (GENERAL, ACTIVE, DECIDED, True),  # from the day of the decision
        (GENERAL, ACTIVE, dt.date(2027, 4, 15), True),  # through its last day
        (GENERAL, ACTIVE, dt.date(2027, 4, 16), False),  # and no longer
        (SERIOUS, ACTIVE, dt.date(2029, 4, 15), True),
        (SERIOUS, ACTIVE, dt.date(2029, 4, 16), False),
        (GENERAL, ACTIVE, dt.date(2026, 4, 14), False),  # not before it was decided
        (MINOR, ACTIVE, DECIDED, False),  # never published
        (GENERAL, REPAIRED, dt.date(2026, 8, 1), False),  # a repair ends publication at once
        (SERIOUS, REPAIRED, dt.date(2027, 5, 1), False),
        (SERIOUS, REVOKED, dt.date(2026, 5, 1), False),  # a revoked decision is not shown
    ],
)
def test_a_penalty_is_public_only_inside_its_window_and_while_active(
    severity: PenaltySeverity, status: PenaltyStatus, today: dt.date, published: bool
) -> None:
    assert is_published(severity, status, DECIDED, today) is published


def test_banks_see_negative_information_for_five_years_and_then_no_longer() -> None:
    today = dt.date(2026, 6, 15)
    assert within_bank_retention(dt.date(2021, 6, 16), today)
    assert not within_bank_retention(dt.date(2021, 6, 15), today)
    assert within_bank_retention(today, today)


@pytest.mark.parametrize(
    ("stored", "valid_to", "expected"),
    [
        ("VALID", None, LicenceStatus.VALID),
        ("VALID", dt.date(2026, 6, 15), LicenceStatus.VALID),  # valid through its last day
        ("VALID", dt.date(2026, 6, 14), LicenceStatus.EXPIRED),
        ("REVOKED", dt.date(2026, 6, 14), LicenceStatus.REVOKED),  # revoked stays revoked
        ("ANNULLED", None, LicenceStatus.ANNULLED),
    ],
)
def test_licence_expiry_is_derived_from_valid_to(
    stored: str, valid_to: dt.date | None, expected: LicenceStatus
) -> None:
    assert licence_status(stored, valid_to, dt.date(2026, 6, 15)) is expected


def test_a_licence_is_in_force_from_valid_from_while_valid() -> None:
    today = dt.date(2026, 6, 15)
    assert licence_in_force("VALID", today, None, today)
    assert not licence_in_force("VALID", today + dt.timedelta(days=1), None, today)
    assert not licence_in_force("VALID", dt.date(2020, 1, 1), dt.date(2026, 6, 14), today)
    assert not licence_in_force("REVOKED", dt.date(2020, 1, 1), None, today)


@pytest.mark.parametrize(
    ("stored", "valid_until", "expected"),
    [
        ("VALID", None, CertificateStatus.VALID),
        ("VALID", dt.date(2026, 6, 15), CertificateStatus.VALID),
        ("VALID", dt.date(2026, 6, 14), CertificateStatus.EXPIRED),
        ("SUSPENDED", dt.date(2026, 6, 14), CertificateStatus.SUSPENDED),
        ("REVOKED", None, CertificateStatus.REVOKED),
        ("CANCELLED", None, CertificateStatus.CANCELLED),
    ],
)
def test_certificate_expiry_is_derived_from_valid_until(
    stored: str, valid_until: dt.date | None, expected: CertificateStatus
) -> None:
    assert certificate_status(stored, valid_until, dt.date(2026, 6, 15)) is expected
