"""A natural person's profile. Fields a role may be denied are nullable (SPEC section 3)."""

from __future__ import annotations

import datetime as dt
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
from app.domain.enums import Gender, HolderKind
from app.errors import XinzhengError
from app.schema.certificate import CertificateType
from app.schema.consent import ConsentType
from app.schema.record import CreditScoreType, LicenceType, PenaltyType

from app.context import Context

if TYPE_CHECKING:
    from app.schema.enterprise import EnterpriseType


# Person and Enterprise each define their list fields (credit score, licences, penalties,
# certificates, access records) rather than inheriting them: the field policy guards each
# field object, and an inherited field would be one object under both types.
@strawberry.type(name="Person")
class PersonType:
    id_number: str | None
    name: str | None
    gender: Gender | None
    birth_date: dt.date | None
    phone: str | None
    address: str | None
    view: strawberry.Private[View]

    @classmethod
    def from_row(cls, row: Row[Any], view: View) -> PersonType:
        return cls(
            id_number=row.id_number,
            name=row.name,
            gender=row.gender,
            birth_date=row.birth_date,
            phone=row.phone,
            address=row.address,
            view=view,
        )

    @property
    def key(self) -> tuple[HolderKind, str]:
        assert self.id_number is not None
        return (HolderKind.PERSON, self.id_number)

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

    @strawberry.field(description="The enterprises this person legally represents.")
    async def enterprises(
        self, info: Info[Context, None]
    ) -> list[Annotated[EnterpriseType, strawberry.lazy("app.schema.enterprise")] | None] | None:
        from app.schema.enterprise import EnterpriseType

        assert self.id_number is not None
        rows = await info.context.loaders.enterprises_by_rep.load(self.id_number)
        gate = info.context.gate
        found: list[EnterpriseType | XinzhengError] = []
        for row in rows:
            # Each enterprise is a subject of its own: a bank needs its consent too. A refused
            # one is null with its error at its own index; the others still answer.
            try:
                view = await gate.link(self.view, Subject.ENTERPRISE, HolderKind.ENTERPRISE, row.credit_code)
            except XinzhengError as e:
                found.append(e)
            else:
                found.append(EnterpriseType.from_row(row, view))
        return found  # type: ignore[return-value]

    @strawberry.field
    async def consents(self, info: Info[Context, None]) -> list[ConsentType] | None:
        return [ConsentType.from_row(r) for r in await info.context.loaders.consents.load(self.key)]

    @strawberry.field(description="Who other than the subject reached its data, newest first.")
    async def access_records(
        self, info: Info[Context, None], first: int | None = 20, after: str | None = None
    ) -> Connection[AccessRecordType] | None:
        from app.resolvers.audit import access_records_connection

        assert self.id_number is not None
        return await access_records_connection(info, HolderKind.PERSON, self.id_number, first, after)
