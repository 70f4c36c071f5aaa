"""Pure domain rules of SPEC section 6. Every function takes `today`: no hidden clock."""

from __future__ import annotations

import calendar
import datetime as dt

from app.domain.enums import CertificateStatus, LicenceStatus, PenaltySeverity, PenaltyStatus

# 信用修复管理办法 (in force 2026-04-01): (minimum, maximum) publication in months.
PUBLICATION_MONTHS: dict[PenaltySeverity, tuple[int, int]] = {
    PenaltySeverity.GENERAL: (3, 12),
    PenaltySeverity.SERIOUS: (12, 36),
}
# 征信业管理条例 art. 16: negative information is kept for banks five years.
BANK_RETENTION_YEARS = 5


def add_months(day: dt.date, months: int) -> dt.date:
    """Calendar months later; the 31st becomes the month's last day."""
    month0 = day.month - 1 + months
    year, month = day.year + month0 // 12, month0 % 12 + 1
    return day.replace(year=year, month=month, day=min(day.day, calendar.monthrange(year, month)[1]))


def publish_until(severity: PenaltySeverity, decided_on: dt.date) -> dt.date | None:
    """The last day a penalty may be published; None for a MINOR one, which never is."""
    window = PUBLICATION_MONTHS.get(PenaltySeverity(severity))
    return add_months(decided_on, window[1]) if window else None


def earliest_repair(severity: PenaltySeverity, decided_on: dt.date) -> dt.date | None:
    """The first day a penalty may be repaired (信用修复): after the minimum publication."""
    window = PUBLICATION_MONTHS.get(PenaltySeverity(severity))
    return add_months(decided_on, window[0]) if window else None


def is_published(severity: PenaltySeverity, status: PenaltyStatus, decided_on: dt.date, today: dt.date) -> bool:
    """In public view today: published severity, still ACTIVE (a repair ends it at once), in window."""
    until = publish_until(severity, decided_on)
    return until is not None and status == PenaltyStatus.ACTIVE and decided_on <= today <= until


def within_bank_retention(decided_on: dt.date, today: dt.date) -> bool:
    return decided_on > add_months(today, -12 * BANK_RETENTION_YEARS)


def licence_status(stored: str, valid_to: dt.date | None, today: dt.date) -> LicenceStatus:
    """A VALID licence past its valid_to reads as EXPIRED; revoked and annulled stay so."""
    status = LicenceStatus(stored)
    if status is LicenceStatus.VALID and valid_to is not None and valid_to < today:
        return LicenceStatus.EXPIRED
    return status


def certificate_status(stored: str, valid_until: dt.date | None, today: dt.date) -> CertificateStatus:
    """A VALID certificate past its valid_until reads as EXPIRED; the others keep their status."""
    status = CertificateStatus(stored)
    if status is CertificateStatus.VALID and valid_until is not None and valid_until < today:
        return CertificateStatus.EXPIRED
    return status


def licence_in_force(stored: str, valid_from: dt.date, valid_to: dt.date | None, today: dt.date) -> bool:
    return valid_from <= today and licence_status(stored, valid_to, today) is LicenceStatus.VALID
