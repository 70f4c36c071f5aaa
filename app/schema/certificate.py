"""E-certificates (电子证照) and their catalogue."""

from __future__ import annotations

import datetime as dt
from typing import Any

import strawberry
from sqlalchemy import Row
from strawberry.scalars import JSON
from strawberry.types import Info

import app.schema.enums  # noqa: F401  (registers the enums)
from app.auth.enforce import View
from app.domain import rules
from app.certificates.qr import qr_svg
from app.context import Context
from app.domain.enums import CertificateStatus, HolderKind


@strawberry.type(name="CertificateType", description="A kind of certificate in the catalogue.")
class CatalogueEntryType:
    type_code: str = strawberry.field(description="The short code used across the API, e.g. ID_CARD.")
    name: str
    national_code: str = strawberry.field(description="The national type code used inside identifiers.")
    holder_kind: HolderKind


@strawberry.type(name="CertificateStatusChange", description="One change of a certificate's status, and why.")
class StatusChangeType:
    at: dt.datetime
    status: CertificateStatus
    reason: str


@strawberry.type(name="Certificate", description="An electronic certificate, signed by its issuer.")
class CertificateType:
    identifier: str
    type_code: str
    type_name: str
    number: str | None
    holder_kind: HolderKind
    holder_id: str | None
    holder_name: str | None
    issuer_code: str
    issuer_name: str
    issued_on: dt.date
    valid_from: dt.date
    valid_until: dt.date | None
    status: CertificateStatus = strawberry.field(description="EXPIRED is derived from validUntil.")
    data: JSON | None
    document: str | None = strawberry.field(
        description="Compact JWS signed by the issuer; verify offline against /.well-known/jwks.json."
    )
    view: strawberry.Private[View]
    # A mutation's answer: the history as its own (not yet committed) transaction sees it.
    history: strawberry.Private[list[Any] | None] = None

    @strawberry.field(description="An SVG QR code holding the document (the compact JWS), for offline scanning.")
    def qr_code(self) -> str | None:
        return qr_svg(self.document) if self.document else None

    @strawberry.field(description="Every change of status with its reason, oldest first.")
    async def status_history(self, info: Info[Context, None]) -> list[StatusChangeType] | None:
        rows = self.history if self.history is not None else await info.context.loaders.certificate_history.load(self.identifier)
        return [StatusChangeType(at=r.at, status=CertificateStatus(r.status), reason=r.reason) for r in rows]

    @classmethod
    def from_row(cls, row: Row[Any], today: dt.date, holder_name: str | None, view: View) -> CertificateType:
        return cls(
            identifier=row.identifier,
            type_code=row.type_code,
            type_name=row.type_name,
            number=row.number,
            holder_kind=row.holder_kind,
            holder_id=row.holder_id,
            holder_name=holder_name,
            issuer_code=row.issuer_code,
            issuer_name=row.issuer_name,
            issued_on=row.issued_on,
            valid_from=row.valid_from,
            valid_until=row.valid_until,
            status=rules.certificate_status(row.status, row.valid_until, today),
            data=row.data,
            document=row.document,
            view=view,
        )
