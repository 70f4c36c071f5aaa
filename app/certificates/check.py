"""The counter's document check (最多跑一次): for each required type, the applicant's best
certificate and its state. Pure: the resolver reads the certificates.

States: VALID, EXPIRED, SUSPENDED, REVOKED, MISSING. A CANCELLED certificate (注销) no longer
proves anything, as a revoked one: it reads REVOKED here. Of several certificates of a type
the best is chosen: a VALID one over any other, then SUSPENDED (it may be reinstated), then
EXPIRED, then REVOKED; among equals the one valid longest, then the one issued last.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any

from app.domain import rules
from app.domain.enums import CertificateStatus


class DocumentState(StrEnum):
    VALID = "VALID"
    EXPIRED = "EXPIRED"
    SUSPENDED = "SUSPENDED"
    REVOKED = "REVOKED"
    MISSING = "MISSING"


STATE_OF = {
    CertificateStatus.VALID: DocumentState.VALID,
    CertificateStatus.SUSPENDED: DocumentState.SUSPENDED,
    CertificateStatus.EXPIRED: DocumentState.EXPIRED,
    CertificateStatus.REVOKED: DocumentState.REVOKED,
    CertificateStatus.CANCELLED: DocumentState.REVOKED,
}
RANK = {DocumentState.VALID: 0, DocumentState.SUSPENDED: 1, DocumentState.EXPIRED: 2, DocumentState.REVOKED: 3}


def state_of(row: Any, today: dt.date) -> DocumentState:
    return STATE_OF[rules.certificate_status(row.status, row.valid_until, today)]


def best(rows: list[Any], today: dt.date) -> tuple[DocumentState, Any | None]:
    """The best certificate of one type, and its state; MISSING and None when there is none."""
    if not rows:
        return DocumentState.MISSING, None
    far = dt.date.max

    def key(row: Any) -> tuple[int, int, int]:
        return (RANK[state_of(row, today)], -(row.valid_until or far).toordinal(), -row.issued_on.toordinal())

    chosen = min(rows, key=key)
    return state_of(chosen, today), chosen
