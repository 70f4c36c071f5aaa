"""Verifying a certificate online: its signature, its match with the record, its status, its dates.

Every reason that applies is told, not only the first (SPEC section 5's fixed codes), so that
a counter clerk or a bank knows at once whether the paper is forged, out of date, or revoked.
Pure: it takes the record and the keys; the resolver fetches them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from app.certificates.signing import BadSignature, UnknownKey, certificate_payload, payload_mismatches, status_reference, verify_document
from app.domain import rules
from app.domain.enums import CertificateStatus


class Reason(StrEnum):
    BAD_SIGNATURE = "BAD_SIGNATURE"
    UNKNOWN_KEY = "UNKNOWN_KEY"
    DOCUMENT_MISMATCH = "DOCUMENT_MISMATCH"
    UNKNOWN_CERTIFICATE = "UNKNOWN_CERTIFICATE"
    REVOKED = "REVOKED"
    SUSPENDED = "SUSPENDED"
    CANCELLED = "CANCELLED"
    EXPIRED = "EXPIRED"
    NOT_YET_VALID = "NOT_YET_VALID"


STATUS_REASONS = {
    CertificateStatus.REVOKED: Reason.REVOKED,
    CertificateStatus.SUSPENDED: Reason.SUSPENDED,
    CertificateStatus.CANCELLED: Reason.CANCELLED,
    CertificateStatus.EXPIRED: Reason.EXPIRED,
}


@dataclass
class Verification:
    identifier: str
    status: CertificateStatus | None = None
    issuer_code: str | None = None
    reasons: list[Reason] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return not self.reasons


def record_content(row: Any) -> dict[str, Any]:
    """What the issuer signed for this record (with its status claim where it has an entry)."""
    status = status_reference(row.status_list, row.status_index, row.issuer_code) if row.status_list is not None else None
    return certificate_payload(
        identifier=row.identifier,
        type_code=row.type_code,
        number=row.number,
        holder_kind=row.holder_kind,
        holder_id=row.holder_id,
        issuer_code=row.issuer_code,
        issued_on=row.issued_on,
        valid_from=row.valid_from,
        valid_until=row.valid_until,
        data=row.data,
        status=status,
    )


def _mismatch(payload: dict[str, Any], row: Any) -> bool:
    expected = record_content(row)
    if "status" not in payload:  # signed elsewhere before it had an entry: the rest must match
        expected.pop("status", None)
    return bool(payload_mismatches(payload, expected))


def verify(identifier: str, document: str | None, row: Any | None, keys: dict[str, Any], today: dt.date) -> Verification:
    """`document` (or, when none is given, the record's own) checked against the keys, the record,
    its status and its dates."""
    result = Verification(identifier)
    reasons: dict[Reason, None] = {}  # ordered, each once
    to_check = document if document is not None else (row.document if row is not None else None)
    payload: dict[str, Any] | None = None
    if to_check is not None:
        try:
            payload = verify_document(to_check, keys)
        except UnknownKey:
            reasons[Reason.UNKNOWN_KEY] = None
        except BadSignature:
            reasons[Reason.BAD_SIGNATURE] = None
    if row is None:
        reasons[Reason.UNKNOWN_CERTIFICATE] = None
        result.issuer_code = payload.get("issuer_code") if payload else None
    else:
        result.issuer_code = row.issuer_code
        if payload is not None and (payload.get("identifier") != row.identifier or _mismatch(payload, row)):
            reasons[Reason.DOCUMENT_MISMATCH] = None
        status = rules.certificate_status(row.status, row.valid_until, today)
        result.status = status
        if status in STATUS_REASONS:
            reasons[STATUS_REASONS[status]] = None
        if row.valid_until is not None and row.valid_until < today:
            reasons[Reason.EXPIRED] = None  # a revoked one past its date is both
        if row.valid_from > today:
            reasons[Reason.NOT_YET_VALID] = None
    result.reasons = list(reasons)
    return result
