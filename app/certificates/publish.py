"""What the service publishes for offline verification: an issuer's status lists.

`GET /status-lists/{issuerCode}/{listId}` answers the signed Status List Token (JWT,
`typ: statuslist+jwt`, media type application/statuslist+jwt), signed with the issuer's
current key (published at /.well-known/jwks.json). The list is built from its certificates'
stored statuses when asked: it is never a copy that could lag a committed status change.
A verifier that keeps a copy (for at most its `ttl`) checks any certificate of that list with
the network off, and by fetching the whole list tells nobody which one it checks.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Awaitable, Callable

from sqlalchemy import Table, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from starlette.requests import Request
from starlette.responses import Response

from app import clock
from app.certificates.keys import KeyRing, KeyStore
from app.certificates.signing import NoPrivateKey, status_list_uri
from app.certificates.statuslist import LIST_SIZE, STATUS_VALUES, TTL_SECONDS, StatusList, status_list_token
from app.db.models import Certificate
from app.db.models.certificate import MARKED_CONDITION
from app.domain.enums import CertificateStatus
from app.i18n import Text
from app.identifiers import InvalidIdentifier, parse_credit_code
from app.refusals import refusal

log = logging.getLogger("xinzheng.certificates")

certificates: Table = Certificate.__table__
MEDIA_TYPE = "application/statuslist+jwt"
MAX_LIST_ID = 2**31 - 1  # certificates.status_list is an INTEGER


async def list_statuses(conn: AsyncConnection, issuer_code: str, list_id: int) -> StatusList | None:
    """The list's entries from its certificates' statuses; None if the issuer has no such list.

    Only the certificates whose entry is not VALID are read, by a partial index of theirs
    (`ix_certificates_marked`): VALID is the list's zero, and a list holds up to 65,536
    certificates (entries.py FILL_LIMIT), nearly all valid. Reading each of them made a
    request of this public endpoint costly enough that a few callers could keep the service
    busy (the figures: bench/README.md, "A published status list")."""
    in_list = (certificates.c.issuer_code == issuer_code, certificates.c.status_list == list_id)
    marked = select(certificates.c.status_index, certificates.c.status).where(*in_list, text(MARKED_CONDITION))
    rows = (await conn.execute(marked)).all()
    if not rows and (await conn.execute(select(certificates.c.id).where(*in_list).limit(1))).first() is None:
        return None
    statuses = StatusList(LIST_SIZE)
    for index, status in rows:
        statuses.set(index, STATUS_VALUES[CertificateStatus(status)])
    return statuses


async def status_list_token_for(
    conn: AsyncConnection, store: KeyStore, issuer_code: str, list_id: int, at: dt.datetime
) -> str | None:
    """The issuer's signed list, or None if it has no such list."""
    statuses = await list_statuses(conn, issuer_code, list_id)
    if statuses is None:
        return None
    key = await KeyRing(conn, store).signing_key(issuer_code)
    return status_list_token(key, uri=status_list_uri(issuer_code, list_id), statuses=statuses, issued_at=int(at.timestamp()))


def status_list_endpoint(engine: AsyncEngine, store: KeyStore) -> Callable[[Request], Awaitable[Response]]:
    """The route's handler: `GET /status-lists/{issuer}/{list_id}`."""

    async def status_list(request: Request) -> Response:
        list_id = request.path_params["list_id"]  # digits only (the route's int converter)
        try:
            issuer = parse_credit_code(request.path_params["issuer"])
        except InvalidIdentifier:
            return refusal(request, Text("certificate.status_list_unknown"), 404)
        if list_id > MAX_LIST_ID:  # no list's: not looked up, which the database would refuse
            return refusal(request, Text("certificate.status_list_unknown"), 404)
        try:
            async with engine.begin() as conn:  # dev: an issuer's first key may be made here
                token = await status_list_token_for(conn, store, issuer, list_id, clock.now())
        except NoPrivateKey as e:  # the deployment's fault, not the caller's: said, and logged
            log.error("status list of %s not signed: %s", issuer, e)
            return refusal(request, Text("certificate.status_list_not_now"), 503)
        if token is None:
            return refusal(request, Text("certificate.status_list_unknown"), 404)
        return Response(token, media_type=MEDIA_TYPE, headers={"cache-control": f"public, max-age={TTL_SECONDS}"})

    return status_list
