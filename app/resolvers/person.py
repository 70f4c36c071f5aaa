from __future__ import annotations

from strawberry.types import Info

from app.context import Context
from app.identifiers import parse_id_number
from app.resolvers.selection import selected_fields
from app.schema.access import AccessInput
from app.schema.person import PersonType


async def person(info: Info[Context, None], id_number: str, access: AccessInput | None = None) -> PersonType | None:
    """One person by citizen ID number, if the caller may reach them."""
    gate = info.context.gate
    row = await gate.person(parse_id_number(id_number), access, selected_fields(info))
    return PersonType.from_row(row, gate.root_view(access)) if row else None
