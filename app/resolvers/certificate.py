from __future__ import annotations

from sqlalchemy import select
from strawberry.types import Info

from app.context import Context
from app.db.hot import hot
from app.db.models import CertificateType as CatalogueRow
from app.domain.enums import HolderKind
from app.identifiers import parse_certificate_identifier
from app.schema.access import AccessInput
from app.schema.certificate import CatalogueEntryType, CertificateType

catalogue = CatalogueRow.__table__
CATALOGUE = hot("catalogue", select(catalogue).order_by(catalogue.c.holder_kind.desc(), catalogue.c.code))


async def certificate(
    info: Info[Context, None], identifier: str, access: AccessInput | None = None
) -> CertificateType | None:
    """One e-certificate by its identifier, if the caller may reach it."""
    gate = info.context.gate
    row = await gate.certificate(str(parse_certificate_identifier(identifier)), access)
    if row is None:
        return None
    loaders = info.context.loaders
    if HolderKind(row.holder_kind) is HolderKind.PERSON:
        holder = await loaders.person.load(row.holder_id)
    else:
        holder = await loaders.enterprise.load(row.holder_id)
    return CertificateType.from_row(row, info.context.today, holder.name if holder else None, gate.root_view(access))


async def certificate_types(info: Info[Context, None]) -> list[CatalogueEntryType]:
    """The catalogue of certificate types."""
    return [
        CatalogueEntryType(type_code=r.code, name=r.name, national_code=r.national_code, holder_kind=r.holder_kind)
        for r in await info.context.db.rows(CATALOGUE)
    ]
