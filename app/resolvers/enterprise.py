from __future__ import annotations

from sqlalchemy import tuple_
from strawberry.types import Info

from app.auth.enforce import View
from app.auth.policy import REGISTER_VIEW
from app.context import Context
from app.identifiers import parse_credit_code, parse_text
from app.resolvers.loaders import _ENTERPRISE, enterprises
from app.resolvers.selection import selected_fields
from app.schema.access import AccessInput
from app.schema.enterprise import EnterpriseType
from app.schema.pagination import Connection, Page, decode_cursor, encode_cursor, page_size

MAX_SEARCH_TEXT = 100
REGISTER = View(REGISTER_VIEW)  # search hits are seen as the public sees them, whoever asks


async def enterprise(
    info: Info[Context, None], credit_code: str, access: AccessInput | None = None
) -> EnterpriseType | None:
    """One enterprise by Unified Social Credit Code, if the caller may reach it."""
    gate = info.context.gate
    row = await gate.enterprise(parse_credit_code(credit_code), access, selected_fields(info))
    return EnterpriseType.from_row(row, gate.root_view(access)) if row else None


async def search_enterprises(
    info: Info[Context, None], name: str, first: int | None = 20, after: str | None = None
) -> Connection[EnterpriseType]:
    """Enterprises whose name contains the text, by name (public registration facts)."""
    text = parse_text(name, "what.name", MAX_SEARCH_TEXT)
    size = page_size(first)
    statement = _ENTERPRISE.where(enterprises.c.name.contains(text, autoescape=True))
    if after is not None:
        last_name, last_code = decode_cursor(after, (str, str))
        statement = statement.where(
            tuple_(enterprises.c.name, enterprises.c.credit_code) > tuple_(str(last_name), str(last_code))
        )
    statement = statement.order_by(enterprises.c.name, enterprises.c.credit_code).limit(size + 1)
    rows = await info.context.db.rows(statement)
    for row in rows:  # prime the loader: a nested field asking for the same one costs nothing
        info.context.loaders.enterprise.prime(row.credit_code, row)
    page = rows[:size]
    return Page(
        nodes=[EnterpriseType.from_row(r, REGISTER) for r in page],
        cursors=[encode_cursor([r.name, r.credit_code]) for r in page],
        has_next_page=len(rows) > size,
    ).connection()
