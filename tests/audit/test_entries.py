"""One audit entry per GraphQL request, whatever its fate, holding what SPEC section 7 lists and
never the caller's token or a secret variable; every answer cites its entry.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
from collections.abc import Awaitable, Callable

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import create_async_engine

from app.audit.rows import access_records, audit_log
from app.auth.roles import Role
from tests.audit.conftest import Service, entry_count, stored_entries

CITIZEN = "330106198503120028"
BANK = "91330100MA2H00001P"

Send = Callable[[Service], Awaitable[httpx.Response]]

# name: (the request, its HTTP status, the entry's outcome, its error codes)
FATES: dict[str, tuple[Send, int, str, list[str]]] = {
    "served": (lambda s: s.query("{ me { role } }"), 200, "SERVED", []),
    "partial": (lambda s: s.query(f'{{ me {{ role }} person(idNumber: "{CITIZEN}") {{ name }} }}'), 200, "PARTIAL", ["FORBIDDEN"]),
    "denied": (lambda s: s.query(f'{{ person(idNumber: "{CITIZEN}") {{ name }} }}'), 200, "DENIED", ["FORBIDDEN"]),
    "bad_token": (lambda s: s.query("{ me { role } }", token="not.a.token"), 401, "REJECTED", ["UNAUTHENTICATED"]),
    "expired_token": (
        lambda s: s.query("{ me { role } }", token=s.tokens.make(Role.ADMIN, ttl=dt.timedelta(seconds=1),
                                                                  now=dt.datetime(2020, 1, 1, tzinfo=dt.UTC))),
        401, "REJECTED", ["UNAUTHENTICATED"],
    ),
    "malformed_body": (
        lambda s: s.post(content=b'{"query": ', headers={"content-type": "application/json"}), 400, "REJECTED", ["BAD_USER_INPUT"],
    ),
    "not_json": (lambda s: s.post(content=b"query=x", headers={"content-type": "text/plain"}), 415, "REJECTED", ["BAD_USER_INPUT"]),
    "syntax_error": (lambda s: s.query("{ me { role }"), 200, "REJECTED", ["BAD_USER_INPUT"]),
    "unknown_field": (lambda s: s.query("{ me { salary } }"), 200, "REJECTED", ["BAD_USER_INPUT"]),
    "batch": (lambda s: s.post([{"query": "{ me { role } }"}, {"query": "{ me { role } }"}]), 400, "REJECTED", ["BAD_USER_INPUT"]),
    "subscription": (lambda s: s.query("subscription { me { role } }"), 400, "REJECTED", ["BAD_USER_INPUT"]),
    # GraphQL over HTTP (app/transport.py): GET, the new media type, and what either refuses.
    "get": (lambda s: s.client.get("/graphql", params={"query": "{ me { role } }"}), 200, "SERVED", []),
    "get_mutation": (
        lambda s: s.client.get("/graphql", params={"query": "mutation { revokeConsent(id: \"x\") { id } }"}),
        405, "REJECTED", ["BAD_USER_INPUT"],
    ),
    "get_too_long": (lambda s: s.client.get("/graphql", params={"query": "{ me { role } }" * 2000}), 414, "REJECTED", ["BAD_USER_INPUT"]),
    "not_acceptable": (lambda s: s.query("{ me { role } }", headers={"accept": "text/html"}), 406, "REJECTED", ["BAD_USER_INPUT"]),
    "bad_extensions": (lambda s: s.post({"query": "{ me { role } }", "extensions": "x"}), 400, "REJECTED", ["BAD_USER_INPUT"]),
    "syntax_error_new_type": (
        lambda s: s.query("{ me { role }", headers={"accept": "application/graphql-response+json"}),
        400, "REJECTED", ["BAD_USER_INPUT"],
    ),
}


@pytest.mark.parametrize("fate", list(FATES))
async def test_every_request_leaves_exactly_one_entry_and_cites_it(service: Service, fate: str) -> None:
    send, status, outcome, codes = FATES[fate]
    await service.query("{ me { role } }")  # an entry before, so that seq is not trivially 1
    before = await entry_count(service.url)

    response = await send(service)

    assert response.status_code == status, response.text
    assert await entry_count(service.url) == before + 1
    extensions = response.json()["extensions"]
    entry = (await stored_entries(service.url))[-1]
    assert extensions["auditSeq"] == entry["seq"] == before + 1
    assert extensions["requestId"] == entry["requestId"] == response.headers["x-request-id"]
    assert (entry["outcome"], entry["errorCodes"]) == (outcome, codes)


async def test_requests_one_after_another_get_consecutive_seqs(service: Service) -> None:
    seqs = [(await service.query("{ me { role } }")).json()["extensions"]["auditSeq"] for _ in range(5)]
    assert seqs == [1, 2, 3, 4, 5]
    request_ids = [e["requestId"] for e in await stored_entries(service.url)]
    assert len(set(request_ids)) == 5


async def test_an_incoming_request_id_is_honoured(service: Service) -> None:
    response = await service.query("{ me { role } }", headers={"x-request-id": "bank-7f3a:0001"})
    assert response.json()["extensions"]["requestId"] == "bank-7f3a:0001"
    assert response.headers["x-request-id"] == "bank-7f3a:0001"
    assert (await stored_entries(service.url))[-1]["requestId"] == "bank-7f3a:0001"


@pytest.mark.parametrize("header", ["has spaces in it", "x" * 65, "semi;colon", "\u4e2d\u6587"])
async def test_an_unfit_request_id_is_replaced(service: Service, header: str) -> None:
    response = await service.post({"query": "{ me { role } }"}, headers={"x-request-id": header.encode()})  # type: ignore[dict-item]
    request_id = response.json()["extensions"]["requestId"]
    assert request_id != header and request_id
    assert (await stored_entries(service.url))[-1]["requestId"] == request_id


SEARCH = """query FindCompanies($document: String!, $token: String!, $first: Int) {
  byDocument: searchEnterprises(name: $document, first: $first) { edges { node { name } } }
  byToken: searchEnterprises(name: $token, first: $first) { edges { node { name } } }
  me { role org sub }
}"""


async def test_an_entry_holds_what_the_spec_lists_and_no_secret(service: Service) -> None:
    token = service.tokens.make(Role.BANK, org=BANK, sub="loan-officer-7")
    variables = {"document": "eyJhbGciOi-secret-document", "token": "tok-secret-value-123", "first": 5}

    response = await service.query(SEARCH, variables, token=token, operation_name="FindCompanies")

    assert response.status_code == 200 and "errors" not in response.json(), response.text
    entry = (await stored_entries(service.url))[-1]
    assert entry["seq"] == response.json()["extensions"]["auditSeq"]
    assert (entry["actorSub"], entry["actorRole"], entry["actorOrg"]) == ("loan-officer-7", "bank", BANK)
    assert (entry["operationName"], entry["operationType"]) == ("FindCompanies", "QUERY")
    assert entry["queryText"] == SEARCH
    assert entry["queryHash"] == hashlib.sha256(SEARCH.encode()).hexdigest()
    assert entry["variables"] == {"document": "[redacted]", "token": "[redacted]", "first": 5}
    assert (entry["outcome"], entry["errorCodes"]) == ("SERVED", [])
    assert entry["clientAddress"] == "127.0.0.1"
    assert isinstance(entry["durationMs"], int) and entry["durationMs"] >= 0
    assert entry["at"].tzinfo is not None
    assert (entry["purpose"], entry["consentId"], entry["caseNumber"]) == (None, None, None)
    assert (entry["subjects"], entry["fieldsMasked"], entry["fieldsDenied"]) == ([], [], [])
    assert len(entry["prevHash"]) == len(entry["hash"]) == 64

    stored = await everything_stored(service.url)
    for secret in (token, token.split(".")[2], variables["document"], variables["token"]):
        assert secret not in stored


async def test_the_operation_name_comes_from_the_document_when_the_body_gives_none(service: Service) -> None:
    await service.query("query WhoAmI { me { role } }")
    assert (await stored_entries(service.url))[-1]["operationName"] == "WhoAmI"


async def test_an_entry_records_the_access_context_subjects_and_denials(service: Service) -> None:
    query = """query($id: String!, $a: AccessInput) { person(idNumber: $id, access: $a) { name phone } }"""
    access = {"purpose": "LOAN_APPROVAL", "consentId": "consent-that-is-not-there"}
    token = service.tokens.make(Role.BANK, org=BANK)

    response = await service.query(query, {"id": CITIZEN, "a": access}, token=token)

    entry = (await stored_entries(service.url))[-1]
    assert entry["seq"] == response.json()["extensions"]["auditSeq"]
    assert (entry["purpose"], entry["consentId"]) == ("LOAN_APPROVAL", "consent-that-is-not-there")
    assert {"subject": f"PERSON:{CITIZEN}", "state": "REFUSED", "purpose": "LOAN_APPROVAL",
            "consentId": "consent-that-is-not-there", "caseNumber": None} in entry["subjects"]
    assert entry["outcome"] in ("DENIED", "REJECTED")
    assert entry["errorCodes"] and set(entry["errorCodes"]) <= {"CONSENT_REQUIRED", "FORBIDDEN", "BAD_USER_INPUT"}


async def test_the_bearer_token_is_never_stored_even_when_refused(service: Service) -> None:
    good = service.tokens.make(Role.CITIZEN, id_number=CITIZEN)
    forged = good[: good.rindex(".") + 1] + "AAAA" + good[good.rindex(".") + 5 :]  # a bad signature
    for token in (good, forged):
        await service.query("{ me { role } }", token=token)
    stored = await everything_stored(service.url)
    for token in (good, forged):
        for part in token.split("."):
            assert part not in stored


async def everything_stored(url: str) -> str:
    """The text of every row of the audit tables, as someone reading the database sees it."""
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            rows = [*(await conn.execute(select(audit_log))).all(), *(await conn.execute(select(access_records))).all()]
    finally:
        await engine.dispose()
    return "\n".join(repr(tuple(row)) for row in rows)



# Caller-chosen text longer than its column (operation_name and actor_sub varchar(200),
# consent_id varchar(64)) once made the audit insert fail on PostgreSQL, and with group commit
# every request in the same batch with it. app/audit/record.py now cuts it to size.


LONG_TEXT: dict[str, Send] = {
    "operation_name": lambda s: s.query("{ me { role } }", operation_name="Q" * 300),
    "consent_id": lambda s: s.query(
        'query($a: AccessInput) { person(idNumber: "330106198503120028", access: $a) { name } }',
        {"a": {"purpose": "LOAN_APPROVAL", "consentId": "c" * 100}},
        token=s.tokens.make(Role.BANK, org=BANK),
    ),
    "token_sub": lambda s: s.query("{ me { role } }", token=s.tokens.make(Role.ADMIN, sub="s" * 250)),
}


@pytest.mark.parametrize("field", list(LONG_TEXT))
async def test_over_long_caller_text_still_leaves_an_entry(service: Service, field: str) -> None:
    before = await entry_count(service.url)

    response = await LONG_TEXT[field](service)

    assert response.status_code != 503, response.text
    assert await entry_count(service.url) == before + 1


async def test_one_callers_over_long_text_does_not_fail_the_requests_beside_it(service: Service) -> None:

    responses = await asyncio.gather(
        LONG_TEXT["operation_name"](service), *(service.query("{ me { role } }") for _ in range(9))
    )

    assert [r.status_code for r in responses[1:]] == [200] * 9


async def test_the_query_hash_is_of_the_whole_query_even_when_its_text_is_cut(service: Service) -> None:
    query = "{ me { role } }" + " " * 25_000
    await service.query(query)
    assert (await stored_entries(service.url))[-1]["queryHash"] == hashlib.sha256(query.encode()).hexdigest()
