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
from app.errors import BadUserInput
from app.i18n import DEFAULT, Language
from app.identifiers import is_text

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
    # The language of the answer's words (app/i18n), from the request's Accept-Language.
    language: Language = DEFAULT
    disclosure: Disclosure = field(default_factory=Disclosure)
    gate: Gate = field(init=False)

    def __post_init__(self) -> None:
        # A token's `sub` is free text its issuer chose; one no database stores as given (NUL,
        # half of a surrogate pair) is refused before anything runs, and the entry keeps it
        # escaped (app/audit/redact.py).
        if self.principal.sub is not None and not is_text(self.principal.sub):
            raise BadUserInput("auth.sub_not_text")
        self.gate = Gate(self.principal, self.audit, self.db, self.loaders)
