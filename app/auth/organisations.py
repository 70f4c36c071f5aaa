"""A token's `org` must be a known organisation of the kind its role acts for (SPEC section 8).

A `counter` token carrying a bank's credit code was served, and the subject's access record then
named that bank. The organisations are few and change seldom, so their kinds are kept in memory
and read again every REFRESH_SECONDS, or sooner when a token names one not seen yet (at most
once per MISS_SECONDS, so unknown codes cannot make every request read the table).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from sqlalchemy import select

from app.auth.policy import ORG_KIND
from app.auth.tokens import Principal
from app.db.hot import hot
from app.db.models import Authority
from app.db.request import RequestDatabase
from app.domain.enums import AuthorityType
from app.errors import Unauthenticated

authorities = Authority.__table__
ALL_KINDS = hot("authority_kinds", select(authorities.c.code, authorities.c.authority_type))

REFRESH_SECONDS = 60.0
MISS_SECONDS = 5.0


class Organisations:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._kinds: dict[str, AuthorityType] = {}
        self._read_at: float | None = None

    async def check(self, principal: Principal, db: RequestDatabase) -> None:
        """Raise UNAUTHENTICATED unless the token's organisation is one its role may act for."""
        wanted = ORG_KIND.get(principal.role)
        if wanted is None:
            return
        kind = await self._kind(principal.org, db) if principal.org else None
        if kind is not wanted:
            raise Unauthenticated("auth.unknown_org", role=principal.role)

    async def _kind(self, code: str, db: RequestDatabase) -> AuthorityType | None:
        now = self.clock()
        age = None if self._read_at is None else now - self._read_at
        if age is None or age > REFRESH_SECONDS or (code not in self._kinds and age > MISS_SECONDS):
            rows = await db.rows(ALL_KINDS)
            self._kinds = {row.code: AuthorityType(row.authority_type) for row in rows}
            self._read_at = now
        return self._kinds.get(code)
