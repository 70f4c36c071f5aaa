"""Generated queries: planned execution answers and audits exactly as graphql-core's own executor.

hypothesis-graphql writes queries from the schema itself (so a field is fuzzed the day it
appears); their arguments are then often replaced by values that reach real subjects of the
test city (its citizens' ID numbers, its enterprises' credit codes, its certificates, a bank's
real consent, a counter's case), and some are passed as variables instead of literals, so that
the plans' deep fields, guards and argument coercion all run. Each query is sent, under every
role's token, to two apps that differ only in `planned` (app/main.py `create_app`), each on its
own copy of the city, request for request, so the two databases stay alike (audit log
included). The answers must be equal: data, errors, the disclosure lists (`extensions.masked`
/ `denied`), the audit receipt's seq; and so must the audit entry each request wrote, apart
from what is the request's own (request id, time, duration, hashes). Values that are a
request's own inside the data (an audit entry's `at`, `hash`...) are compared as present or
null only, a certificate's `document` by its signed payload (each database has its own keys).

Order. The errors (message, locations, path, extensions), the masked/denied lists and the entry's
subjects, disclosures and error codes are compared in order: they are listed in the order in
which things happened, and plans settle an object's fields and a list's items as graphql-core
does (app/execution/run.py `_settle`): each started in the query's order, those that await
gathered with graphql-core's own `gather_with_cancel`. So the order in which awaits finish is the
same on both sides: the same statements on one connection in turn (PostgreSQL) or on the loop
(SQLite), the same loader batches. Where a null propagates past pending siblings, what the
nulled part records is not compared at all (`nulled_part_set_aside`).

Bounded and deterministic: `derandomize=True`, no example database, no deadline. The default
(`XINZHENG_FUZZ_EXAMPLES`, 50 queries per role and database) takes about a minute; a longer run:

    XINZHENG_FUZZ_EXAMPLES=2000 XINZHENG_REQUIRE_POSTGRES=1 python -m pytest -p no:warnings \\
        tests/api/test_generated_equivalence.py

The app pair and their databases are this module's own: no other test writes to them, so the
results do not depend on which tests ran before.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import difflib
import json
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import graphql
import httpx
import pytest
import pytest_asyncio
from graphql import DocumentNode
from hypothesis import HealthCheck, Phase, given, settings, strategies as st
from sqlalchemy import select

from app.audit.rows import audit_log, from_row
from app.auth.roles import Role
from app.main import create_app
from tests.api import city
from tests.api.conftest import Tokens, run_cli, settings_for
from tests.api.generated_queries import Arguments, generated
from tests.api.test_compiled_execution import role_token
from tests.conftest import DatabaseFactory

EXAMPLES = int(os.environ.get("XINZHENG_FUZZ_EXAMPLES", "50"))

# Values a request (or a copy of the city) makes for itself: compared as present-or-null, not as
# values. By response key (hypothesis-graphql writes no aliases; no other type has these names).
# `computedAt` is when each copy of the city was scored, at its import.
# The audit log's tree is made of each copy's own entries: its hashes, proofs and signed notes too;
# `qrCode` draws the document, signed with each copy's own keys (its payload is compared below).
OWN_VALUES = {
    "at", "requestId", "durationMs", "prevHash", "hash", "headHash", "computedAt", "qrCode",
    "leafHash", "rootHash", "inclusionProof", "checkpoint", "fromRootHash", "toRootHash", "consistencyProof",
}  # fmt: skip
# Fields of an audit entry that are the request's own: seq, request id, time, duration, hashes.
OWN_ENTRY_FIELDS = {"seq", "requestId", "at", "durationMs", "prevHash", "hash"}


@dataclass
class Side:
    client: httpx.AsyncClient
    app: Any


class Twins:
    """Two apps, planned and not, each on its own copy of the city, asked alike in turn."""

    def __init__(self, planned: Side, unplanned: Side, tokens: Tokens, identifiers: list[str], cursors: list[str]) -> None:
        self.planned = planned
        self.unplanned = unplanned
        self.tokens = tokens
        self.identifiers = identifiers
        self.cursors = cursors

    async def ask(self, side: Side, body: dict[str, Any], token: str | None) -> tuple[int, dict[str, Any], dict[str, Any]]:
        headers = {"authorization": f"Bearer {token}"} if token else {}
        response = await side.client.post("/graphql", json=body, headers=headers)
        answer = response.json()
        seq = answer.get("extensions", {}).get("auditSeq")
        assert isinstance(seq, int), answer
        async with side.app.state.engine.connect() as conn:
            row = (await conn.execute(select(audit_log).where(audit_log.c.seq == seq))).one()
        return response.status_code, answer, from_row(row)


def own_values_blanked(value: Any) -> Any:
    """The answer with the values that are a request's own replaced by whether they are there, and
    certificates' documents by what they sign (each database makes its issuers' keys)."""
    if isinstance(value, dict):
        return {
            k: (v is not None if k in OWN_VALUES else signed_payload(v) if k == "document" else own_values_blanked(v))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [own_values_blanked(v) for v in value]
    return value


def signed_payload(document: Any) -> Any:
    """A compact JWS's payload, without the header (its key id) and signature, and without its
    status-list reference (each copy drew its certificates' places in the list at random)."""
    if not (isinstance(document, str) and document.count(".") == 2):
        return document
    segment = document.split(".")[1]
    payload = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    payload.pop("status", None)
    return payload


def null_propagated(answer: dict[str, Any]) -> bool:
    """Did a null for a non-null field null a parent (an error's path runs through a null)?"""
    for error in answer["errors"]:
        value: Any = answer["data"]
        for key in error.get("path", [])[:-1]:
            if value is None:
                return True
            value = value[key]
        if value is None:
            return True
    return False


def nulled_part_set_aside(planned: dict[str, Any], unplanned: dict[str, Any]) -> None:
    """Where a null propagated, what each executor records of the nulled part is not compared.

    graphql-core, when a field's error nulls its parent, settles the sibling fields still pending
    in the background (Executor.settle_in_background) if the error was raised at once: they read,
    fail and record disclosures or not depending on how far they got, racing with the answer.
    Plans close those siblings unstarted (app/execution/run.py `execute_fields`): no work is left
    running behind an answer. (Raised after an await, both cancel the pending siblings alike.)
    So the errors, the masked/denied lists and the
    entry's subjects, disclosures, error codes, outcome and access (purpose, consent, case: the
    first field that gave one) may differ; the data (the nulls) and
    everything else must not.
    """
    for answer in (planned, unplanned):
        answer["errors"] = bool(answer["errors"])
        for held_back in ("masked", "denied"):
            answer["extensions"].pop(held_back, None)
        for name in ("subjects", "fieldsMasked", "fieldsDenied", "errorCodes", "outcome", "purpose", "consentId", "caseNumber"):
            answer["entry"][name] = None


def comparable(status: int, answer: dict[str, Any], entry: dict[str, Any]) -> dict[str, Any]:
    extensions = dict(answer.get("extensions", {}))
    extensions.pop("requestId", None)
    return {
        "status": status,
        "data": own_values_blanked(answer.get("data")),
        "errors": answer.get("errors") or [],  # in order: message, locations, path, extensions (code)
        "extensions": extensions,  # auditSeq alike; masked and denied in order
        "entry": {k: v for k, v in entry.items() if k not in OWN_ENTRY_FIELDS},
    }


# --- arguments: real values where they reach something, variables instead of literals ---------


# --- the apps -----------------------------------------------------------------------------------


def city_copy(databases: DatabaseFactory, tmp: Any) -> str:
    url = databases.new()
    result = run_cli("import", str(city.write(tmp / "city.jsonl")), database_url=url)
    assert result.returncode == 0, result.stderr
    return url


@pytest.fixture(scope="module")
def twin_cities(databases: DatabaseFactory, tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """Two databases of the city, this module's own (made outside the event loop: see DatabaseFactory)."""
    return [city_copy(databases, tmp_path_factory.mktemp("twin")) for _ in range(2)]


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def twins(twin_cities: list[str]) -> AsyncIterator[Twins]:
    urls = twin_cities
    # No timed checkpoints: one twin's clock tick would sign a head the other's has not (the logs
    # stay alike request for request; checkpoints every N entries stay on).
    untimed = [dataclasses.replace(settings_for(url), audit_checkpoint_seconds=24 * 3600.0) for url in urls]
    apps = [create_app(untimed[0]), create_app(untimed[1], planned=False)]
    async with contextlib.AsyncExitStack() as stack:
        sides = []
        for app in apps:
            await stack.enter_async_context(app.router.lifespan_context(app))
            client = await stack.enter_async_context(
                httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://xinzheng.test")
            )
            sides.append(Side(client, app))
        tokens = Tokens(settings_for(urls[0]))
        pair = Twins(sides[0], sides[1], tokens, [], [])
        admin = tokens.admin
        # Real certificate identifiers and a real cursor, asked of both so that they stay alike.
        for query in (
            '{ a: person(idNumber: "%s") { certificates { identifier } } b: person(idNumber: "%s") { certificates { identifier } }'
            ' c: enterprise(creditCode: "%s") { certificates { identifier } } }' % (city.CITIZEN, city.BORROWER, city.TEA),
            '{ searchEnterprises(name: "%s", first: 3) { pageInfo { endCursor } } }' % city.SEARCH_PREFIX,
        ):
            answers = [await pair.ask(side, {"query": query}, admin) for side in sides]
            assert comparable(*answers[0]) == comparable(*answers[1])
            data = answers[0][1]["data"]
            for holder in data.values():
                if "certificates" in holder:
                    pair.identifiers += [c["identifier"] for c in holder["certificates"]]
                else:
                    pair.cursors.append(holder["pageInfo"]["endCursor"])
        pair.identifiers.append("not-a-certificate")
        pair.cursors.append("not-a-cursor")
        assert len(pair.identifiers) > 3 and len(pair.cursors) == 2
        yield pair


@pytest.mark.parametrize("role", list(Role), ids=lambda r: r.value)
@settings(
    max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
    phases=[Phase.explicit, Phase.generate, Phase.shrink],  # no explain phase: it reruns for minutes
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)  # fmt: skip
@given(document=generated(), data=st.data())
async def test_generated_queries_answer_and_audit_alike(
    twins: Twins, role: Role, document: DocumentNode, data: st.DataObject
) -> None:
    arguments = Arguments(data.draw, twins.identifiers, twins.cursors)
    query = graphql.print_ast(arguments.document(document))
    body = {"query": query, "variables": arguments.variables}
    token = role_token(twins.tokens, role)
    planned = comparable(*await twins.ask(twins.planned, body, token))
    unplanned = comparable(*await twins.ask(twins.unplanned, body, token))
    if null_propagated(unplanned) or null_propagated(planned):
        nulled_part_set_aside(planned, unplanned)
    if planned != unplanned:
        a, b = (json.dumps(x, ensure_ascii=False, indent=1, default=str).splitlines() for x in (unplanned, planned))
        diff = "\n".join(difflib.unified_diff(a, b, "graphql-core", "planned", lineterm="", n=4))
        pytest.fail(f"planned and graphql-core differ as {role} for\n{query}\n{json.dumps(arguments.variables)}:\n{diff}")
