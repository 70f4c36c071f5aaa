"""Fail closed: when the audit entry cannot be written, the caller gets AUDIT_UNAVAILABLE (503) and
no data, and a mutation's writes are not committed.

The audit write is made to fail for real, in the database: the table refuses inserts (a
trigger, as a full disk or a revoked grant would), or the table is not there at all.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import create_async_engine

from app.auth.roles import Role
from app.db.models import Consent
from tests.audit.conftest import Service, backend, entry_count, sql, stored_entries, xinzheng

CITIZEN = "330106198503120028"  # 王芳
CITIZEN_NAME = "王芳"
CITIZEN_PHONE = "13800138000"
BANK = "91330100MA2H00001P"  # 惠民银行

PERSON = 'query Me($id: String!) { person(idNumber: $id) { idNumber name phone address } }'
GRANT = """mutation Grant($input: GrantConsentInput!) { grantConsent(input: $input) { id granteeCode purposes } }"""
GRANT_INPUT = {
    "holderKind": "PERSON",
    "holderId": CITIZEN,
    "granteeCode": BANK,
    "purposes": ["LOAN_APPROVAL"],
    "validUntil": "2099-12-31T00:00:00+08:00",  # far ahead: the test does not depend on today
}


def _break_audit_sqlite(how: str) -> list[str]:
    if how == "refusing_inserts":
        return ["CREATE TRIGGER audit_log_offline BEFORE INSERT ON audit_log "
                "BEGIN SELECT RAISE(ABORT, 'audit storage offline'); END"]
    return ["ALTER TABLE audit_log RENAME TO audit_log_elsewhere"]


def _break_audit_postgresql(how: str) -> list[str]:
    if how == "refusing_inserts":
        return [
            "CREATE FUNCTION audit_offline() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'audit storage offline'; END $$",
            "CREATE TRIGGER audit_log_offline BEFORE INSERT ON audit_log FOR EACH ROW EXECUTE FUNCTION audit_offline()",
        ]
    return ["ALTER TABLE audit_log RENAME TO audit_log_elsewhere"]


async def break_audit(url: str, how: str) -> None:
    statements = _break_audit_sqlite(how) if backend(url) == "sqlite" else _break_audit_postgresql(how)
    await sql(url, *statements)


async def mend_audit(url: str, how: str) -> None:
    if how == "refusing_inserts":
        await sql(url, "DROP TRIGGER audit_log_offline" + ("" if backend(url) == "sqlite" else " ON audit_log"))
    else:
        await sql(url, "ALTER TABLE audit_log_elsewhere RENAME TO audit_log")


@pytest.fixture
def city(service: Service, tmp_path: Path) -> Service:
    """A citizen and a bank, loaded with `xinzheng import` as an operator would."""
    lines = [
        {"kind": "authority", "code": BANK, "name": "惠民银行", "authority_type": "BANK"},
        {"kind": "person", "id_number": CITIZEN, "name": CITIZEN_NAME, "phone": CITIZEN_PHONE, "address": "杭州市西湖区文三路1号"},
        {"kind": "person", "id_number": "330105199007080010", "name": "李明"},
    ]
    data = tmp_path / "city.jsonl"
    data.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in lines), encoding="utf-8")
    result = xinzheng("import", str(data), database_url=service.url)
    assert result.returncode == 0, result.stderr
    return service


async def consent_count(url: str) -> int:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return int((await conn.execute(select(func.count()).select_from(Consent.__table__))).scalar_one())
    finally:
        await engine.dispose()


def assert_fails_closed(response: Any) -> None:
    assert response.status_code == 503, response.text
    body = response.json()
    assert "data" not in body
    assert [e["extensions"]["code"] for e in body["errors"]] == ["AUDIT_UNAVAILABLE"]
    assert body["extensions"]["auditSeq"] is None
    assert body["extensions"]["requestId"]


FAILURES = ["refusing_inserts", "table_gone"]


@pytest.mark.parametrize("how", FAILURES)
async def test_a_query_gets_audit_unavailable_and_no_data(city: Service, how: str) -> None:
    citizen = city.tokens.make(Role.CITIZEN, id_number=CITIZEN)
    served = await city.query(PERSON, {"id": CITIZEN}, token=citizen)
    assert served.json()["data"]["person"]["name"] == CITIZEN_NAME  # the answer there would have been
    await break_audit(city.url, how)

    response = await city.query(PERSON, {"id": CITIZEN}, token=citizen)

    assert_fails_closed(response)
    for secret in (CITIZEN_NAME, CITIZEN_PHONE, "文三路", "person"):
        assert secret not in response.text


# On SQLite a mutation once committed before its entry was written: the driver emitted no
# BEGIN, so the resolver's savepoint opened the transaction and its RELEASE committed it.
# app/db/session.py now emits BEGIN itself.


@pytest.mark.parametrize("how", FAILURES)
async def test_a_mutation_is_not_committed_without_its_entry(city: Service, how: str) -> None:
    citizen = city.tokens.make(Role.CITIZEN, id_number=CITIZEN)
    await break_audit(city.url, how)

    response = await city.query(GRANT, {"input": GRANT_INPUT}, token=citizen, operation_name="Grant")

    assert_fails_closed(response)
    assert BANK not in response.text
    assert await consent_count(city.url) == 0

    # The same request, with the audit log back: it commits, with its entry.
    await mend_audit(city.url, how)
    entries_before = await entry_count(city.url)
    again = await city.query(GRANT, {"input": GRANT_INPUT}, token=citizen, operation_name="Grant")
    assert again.status_code == 200, again.text
    assert again.json()["data"]["grantConsent"]["granteeCode"] == BANK
    assert await consent_count(city.url) == 1
    assert await entry_count(city.url) == entries_before + 1
    entry = (await stored_entries(city.url))[-1]
    assert (entry["operationType"], entry["operationName"], entry["outcome"]) == ("MUTATION", "Grant", "SERVED")
    assert entry["seq"] == again.json()["extensions"]["auditSeq"]


async def test_a_rejected_request_fails_closed_too(city: Service) -> None:
    """Even a request refused before execution is not answered without its entry."""
    await break_audit(city.url, "refusing_inserts")
    response = await city.query("{ me { role } }", token="not-a-token")
    assert_fails_closed(response)
