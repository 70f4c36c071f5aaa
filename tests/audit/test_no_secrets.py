"""Nothing stored in the audit log works as a credential: a live token sent where the log keeps
text (a variable of any name, nested in an input, inline in the query text, as the operation
name) is redacted by its shape, undeclared variables are not kept at all, and every value the
log holds, replayed as a bearer token, is refused with 401.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select
from sqlalchemy.ext.asyncio import create_async_engine

from app.audit.rows import access_records, audit_log
from app.auth.roles import Role
from tests.audit.conftest import KNOWN_BANK, Service, stored_entries, xinzheng

CITIZEN = "330106198503120028"
CERTIFICATE = "1.2.156.3005.2.11100000000013338W011.11430000006122244L.20230000403.001.U"
# Test-only key, made for this run: a PEM block a careless client might send.
PEM = Ed25519PrivateKey.generate().private_bytes(
    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
).decode()

# Variables named as the issue found them stored verbatim, each used by the operation.
BY_NAME = ["authorization", "jwt", "bearer", "session", "otp"]
NAMED = "query Named(%s) { %s }" % (
    ", ".join(f"${n}: String!" for n in BY_NAME),
    " ".join(f'{n}: searchEnterprises(name: ${n}, first: 1) {{ edges {{ cursor }} }}' for n in BY_NAME),
)
INNOCENT = """query Innocent($name: String!, $a: AccessInput, $key: String!, $id: String!, $c: String!) {
  byName: searchEnterprises(name: $name, first: 1) { edges { cursor } }
  byKey: searchEnterprises(name: $key, first: 1) { edges { cursor } }
  person(idNumber: $id, access: $a) { name }
  certificate(identifier: $c) { typeCode }
}"""


async def everything_stored(url: str) -> list[Any]:
    """Every value of every row of the audit tables, JSON columns as they are read back."""
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            rows = [*(await conn.execute(select(audit_log))).all(), *(await conn.execute(select(access_records))).all()]
    finally:
        await engine.dispose()
    return [value for row in rows for value in row]


def strings(value: Any) -> set[str]:
    """Each string a stored value holds, and each word of it (a token inside a query's text)."""
    found: set[str] = set()
    if isinstance(value, str):
        found |= {value, *value.split(), *(w.strip('"(){}:,') for w in value.split())}
    elif isinstance(value, dict):
        for k, v in value.items():
            found |= strings(k) | strings(v)
    elif isinstance(value, list):
        for v in value:
            found |= strings(v)
    return {s for s in found if s}


async def test_no_stored_value_replays_as_a_token(service: Service) -> None:
    live = service.tokens.make(Role.BANK, org=KNOWN_BANK)
    assert (await service.query("{ me { role } }", token=live)).json()["data"]["me"]["role"] == "bank"
    api_key = secrets.token_urlsafe(30)
    sent = [
        (NAMED, dict.fromkeys(BY_NAME, live), None),
        (NAMED, {**dict.fromkeys(BY_NAME, "x"), "authorization": f"Bearer {live}"}, None),
        (INNOCENT, {"name": live, "key": api_key, "id": CITIZEN, "c": CERTIFICATE,
                    "a": {"purpose": "LOAN_APPROVAL", "consentId": live[:60], "reason": f"Bearer {live}\n{PEM}"}}, None),
        # Undeclared: never reached a resolver, not kept.
        ("{ me { role } }", {"authorization": live, "x": {"deep": [live]}, "plain": "kept nowhere"}, None),
        # Inline in the query text, and as the operation name.
        ('{ searchEnterprises(name: "%s", first: 1) { edges { cursor } } }' % live, {}, None),
        ("query Q { me { role } }", {}, live),
    ]  # fmt: skip
    for query, variables, operation_name in sent:
        await service.query(query, variables, token=live, operation_name=operation_name)

    stored = await everything_stored(service.url)

    held = set().union(*(strings(v) for v in stored))
    assert live not in held and not any(part in str(stored) for part in live.split(".")[1:])
    assert api_key not in str(stored) and "PRIVATE KEY" not in str(stored)
    for value in sorted(held):
        response = await service.query("{ me { role } }", headers={"authorization": f"Bearer {value}"})
        assert response.status_code == 401, value


async def test_variables_kept_are_the_declared_ones_redacted_by_shape_not_only_name(service: Service) -> None:
    live = service.tokens.make(Role.BANK, org=KNOWN_BANK)
    api_key = secrets.token_urlsafe(30)
    variables = {
        "name": f"Bearer {live}", "key": api_key, "id": CITIZEN, "c": CERTIFICATE,
        "a": {"purpose": "LOAN_APPROVAL", "consentId": "consent-borrower-loan", "reason": f"renewal\n{PEM}"},
        "undeclared": "never kept", "authorization": live,
    }  # fmt: skip

    await service.query(INNOCENT, variables, token=live)

    entry = (await stored_entries(service.url))[-1]
    assert entry["variables"] == {
        "name": "[redacted]", "key": "[redacted]", "id": CITIZEN, "c": CERTIFICATE,
        "a": {"purpose": "LOAN_APPROVAL", "consentId": "consent-borrower-loan", "reason": "renewal\n[redacted]\n"},
    }  # fmt: skip


async def test_a_token_inline_in_the_query_text_is_not_kept_but_its_hash_is_of_what_was_sent(service: Service) -> None:
    live = service.tokens.make(Role.ADMIN)
    query = '{ searchEnterprises(name: "%s", first: 1) { edges { cursor } } }' % live

    await service.query(query)

    entry = (await stored_entries(service.url))[-1]
    assert entry["queryText"] == '{ searchEnterprises(name: "[redacted]", first: 1) { edges { cursor } } }'
    assert entry["queryHash"] == hashlib.sha256(query.encode()).hexdigest()


async def test_an_auditor_and_an_export_see_no_token(service: Service, tmp_path: Any) -> None:
    live = service.tokens.make(Role.BANK, org=KNOWN_BANK)
    await service.query(NAMED, dict.fromkeys(BY_NAME, live), token=live)
    await service.query("{ me { role } }", {"jwt": live})

    read = await service.query(
        "{ auditLog(first: 10) { edges { node { queryText variables operationName actorSub subjects } } } }",
        token=service.tokens.make(Role.AUDITOR),
    )
    exported = xinzheng("audit", "export", "--output", str(tmp_path / "log.jsonl"), database_url=service.url)

    assert read.status_code == 200 and "errors" not in read.json(), read.text
    assert exported.returncode == 0, exported.stderr
    text = (tmp_path / "log.jsonl").read_text()
    for where in (read.text, text):
        assert live.split(".")[2] not in where and live.split(".")[1] not in where
    nodes = [e["node"] for e in read.json()["data"]["auditLog"]["edges"]]
    assert dict.fromkeys(BY_NAME, "[redacted]") in [n["variables"] for n in nodes]
    assert json.loads(text.splitlines()[-1])  # the export is whole
