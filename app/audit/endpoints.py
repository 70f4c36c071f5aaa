"""What a witness fetches, over plain HTTP: the newest signed checkpoint and consistency proofs.

`GET /audit/checkpoint` answers the newest checkpoint's signed note (text/plain; 404 before the
first); `GET /audit/consistency?from=M&to=N` the proof that the tree at M is a prefix of the
signed one at N (JSON, the fields of GraphQL's AuditConsistency).

Public, without a token, and not themselves in the audit log, on purpose: a checkpoint and a
consistency proof are hashes of the log, with no personal data and nothing a caller could not
check; a witness is run by another organisation, which should not hold a credential of this
service to watch it; and were these GraphQL requests, every poll would add an entry, and so a
checkpoint to witness at the next poll, for ever.
"""

from __future__ import annotations

import dataclasses
import re

from sqlalchemy.exc import DBAPIError
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from app.audit import proofs, tree
from app.audit.store import AuditStore
from app.i18n import Text
from app.refusals import refusal

NOTE_TYPE = "text/plain; charset=utf-8"
SIZE = re.compile(r"[0-9]{1,19}")  # 2**63 - 1 has 19 digits; a larger one is refused by `proofs.consistency`


def audit_routes(store: AuditStore) -> list[Route]:
    async def checkpoint(request: Request) -> Response:
        try:
            async with proofs.reading(store) as run:
                latest = await tree.latest_checkpoint(run)
        except DBAPIError:
            return refusal(request, Text("audit.cannot_read_now"), 503)
        if latest is None:
            return refusal(request, Text("audit.no_checkpoint_yet"), 404)
        return PlainTextResponse(latest.note, media_type=NOTE_TYPE, headers={"cache-control": "no-cache"})

    async def consistency(request: Request) -> Response:
        sizes = [_size(request.query_params.get(name)) for name in ("from", "to")]
        if sizes[0] is None or sizes[1] is None:
            return refusal(request, Text("audit.consistency_sizes"), 400)
        try:
            proof = await proofs.consistency(store, sizes[0], sizes[1], names=("from", "to"))
        except proofs.ProofRequestError as e:
            return refusal(request, e.text, 400)
        except (DBAPIError, tree.TreeError):
            return refusal(request, Text("audit.cannot_read_now"), 503)
        body = {_camel(k): v for k, v in dataclasses.asdict(proof).items()}
        return JSONResponse(body, headers={"cache-control": "public, max-age=3600"})  # a proof never changes

    return [Route("/audit/checkpoint", checkpoint), Route("/audit/consistency", consistency)]


def _size(given: str | None) -> int | None:
    """A tree size as a query gives it: ASCII digits only (int() would take " 5", "1_0" and
    full-width digits), and no more of them than a BIGINT holds."""
    if given is None or not SIZE.fullmatch(given):
        return None
    return int(given)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)
