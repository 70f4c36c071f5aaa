"""What every resolver gets: who is asking, the request's database handle and loaders, and today."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from starlette.requests import Request

from app.audit.record import AuditRecord
from app.auth.enforce import Disclosure
from app.auth.gate import Gate
from app.auth.tokens import Principal
from app.db.request import RequestDatabase

if TYPE_CHECKING:
    from app.audit.store import AuditStore
    from app.resolvers.loaders import Loaders


@dataclass
class Context:
    request: Request
    principal: Principal
    db: RequestDatabase
    loaders: Loaders
    # One "today" per request: every date rule in one answer agrees with every other.
    today: dt.date
    audit: AuditRecord
    audit_store: AuditStore | None = None
    # The operationName the request sent (strawberry would otherwise take a document's first operation).
    operation_name: str | None = None
    disclosure: Disclosure = field(default_factory=Disclosure)
    gate: Gate = field(init=False)

    def __post_init__(self) -> None:
        self.gate = Gate(self.principal, self.audit, self.db, self.loaders)
