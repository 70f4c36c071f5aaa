from __future__ import annotations

from strawberry.types import Info

from app.context import Context
from app.schema.access import ViewerType


def me(info: Info[Context, None]) -> ViewerType:
    """Who the service thinks is calling."""
    p = info.context.principal
    return ViewerType(role=str(p.role), sub=p.sub, org=p.org, id_number=p.id_number)
