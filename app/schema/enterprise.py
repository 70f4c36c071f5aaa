"""An enterprise's profile: basic registration facts are public, the rest by role (SPEC section 3)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from sqlalchemy import Row
from strawberry.types import Info

import app.schema.enums  # noqa: F401  (registers the enums)
from app.scoring.current import current_score
from app.schema.audit import AccessRecordType
from app.schema.pagination import Connection
from app.auth.enforce import View
from app.auth.policy import Subject
from app.domain.enums import EnterpriseStatus, HolderKind
from app.schema.certificate import CertificateType
from app.schema.record import CreditScoreType, LicenceType, PenaltyType

from app.context import Context

if TYPE_CHECKING:
    from app.schema.person import PersonType


@strawberry.type(name="Enterprise")
class EnterpriseType:
    credit_code: str
    name: str
    type: str
    status: EnterpriseStatus
    established_on: dt.date
    registered_capital: Decimal | None = strawberry.field(description="Yuan.")
    registered_address: str
    legal_representative_name: str
    business_scope: str
    legal_rep_id_number: strawberry.Private[str]
    view: strawberry.Private[View]

    @classmethod
    def from_row(cls, row: Row[Any], view: View) -> EnterpriseType:
        return cls(
            credit_code=row.credit_code,
            name=row.name,
            type=row.type,
            status=row.status,
            established_on=row.established_on,
            registered_capital=row.registered_capital,
            registered_address=row.registered_address,
            legal_representative_name=row.legal_rep_name,
            business_scope=row.business_scope,
            legal_rep_id_number=row.legal_rep_id_number,
            view=view,
        )

    @property
    def key(self) -> tuple[HolderKind, str]:
        return (HolderKind.ENTERPRISE, self.credit_code)

    @strawberry.field
    async def legal_representative(
        self, info: Info[Context, None]
    ) -> Annotated[PersonType, strawberry.lazy("app.schema.person")] | None:
        from app.schema.person import PersonType

        view = await info.context.gate.link(self.view, Subject.PERSON, HolderKind.PERSON, self.legal_rep_id_number)
        row = await info.context.loaders.person.load(self.legal_rep_id_number)
        return PersonType.from_row(row, view) if row else None

    @strawberry.field
    async def credit_score(self, info: Info[Context, None]) -> CreditScoreType | None:
        row = await current_score(info.context, self.key)
        return CreditScoreType.from_row(row, info.context.language) if row else None

    @strawberry.field
    async def licences(self, info: Info[Context, None]) -> list[LicenceType] | None:
        today = info.context.today
        return [LicenceType.from_row(r, today) for r in await info.context.loaders.licences.load(self.key)]

    @strawberry.field
    async def penalties(self, info: Info[Context, None]) -> list[PenaltyType] | None:
        return [PenaltyType.from_row(r) for r in await info.context.loaders.penalties.load(self.key)]

    @strawberry.field
    async def certificates(self, info: Info[Context, None]) -> list[CertificateType] | None:
        today = info.context.today
        rows = await info.context.loaders.certificates.load(self.key)
        return [CertificateType.from_row(r, today, self.name, self.view) for r in rows]

    @strawberry.field(description="Who other than the subject reached its data, newest first.")
    async def access_records(
        self, info: Info[Context, None], first: int | None = 20, after: str | None = None
    ) -> Connection[AccessRecordType] | None:
        from app.resolvers.audit import access_records_connection

        assert self.credit_code is not None
        return await access_records_connection(info, HolderKind.ENTERPRISE, self.credit_code, first, after)
