"""Each subject a request reaches is recorded under the purpose, consent and case it was reached
under, in the entry and in the subject's access records (SPEC sections 4 and 7): a decoy alias
cannot lend its claims to the real read beside it, a traversal records the consent it needed,
and a refused attempt is in the log as refused, never an access.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import create_async_engine

from app.audit.rows import access_records, audit_log, from_row
from app.main import create_app
from tests.api import city
from tests.api.conftest import Api, Tokens, codes_at, run_cli, settings_for
from tests.audit.conftest import backend, drop_append_only_trigger, first_bad_seq, sql, xinzheng

DECOY = """query Decoy($someone: String!, $borrower: String!, $ok: ID!) {
  decoy: person(idNumber: $someone, access: {purpose: GUARANTEE_REVIEW, consentId: "NO-SUCH-CONSENT"}) { name }
  real: person(idNumber: $borrower, access: {purpose: LOAN_APPROVAL, consentId: $ok}) { name }
}"""
ACCESS = """query($id: String!) { person(idNumber: $id) { accessRecords(first: 5) {
  edges { node { organisationCode role purpose consentId caseNumber } } } } }"""
LOG = """query($s: String!) { auditLog(first: 1, filter: {subjectKind: PERSON, subjectId: $s}) { edges { node { seq purpose consentId caseNumber subjects
  subjectContexts { subject state purpose consentId caseNumber } } } } }"""


def item(subject: str, state: str, purpose: str | None = None, consent: str | None = None,
         case: str | None = None) -> dict[str, Any]:  # fmt: skip
    return {"subject": subject, "state": state, "purpose": purpose, "consentId": consent, "caseNumber": case}


async def entry_and_records(url: str, seq: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The entry as stored, and the access records written with it."""
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            entry = from_row((await conn.execute(select(audit_log).where(audit_log.c.seq == seq))).one())
            rows = (await conn.execute(select(access_records).where(access_records.c.audit_seq == seq))).all()
    finally:
        await engine.dispose()
    records = [
        {k: r._mapping[k] for k in ("holder_kind", "holder_id", "organisation_code", "purpose", "consent_id", "case_number")}
        for r in rows
    ]
    return entry, records


async def test_a_decoy_alias_lends_its_purpose_and_consent_to_nothing(api: Api, city_database: str) -> None:
    for someone in (city.STRANGER, city.BORROWER):  # anyone, and the very subject of the real read
        body = await api.graphql(DECOY, {"someone": someone, "borrower": city.BORROWER, "ok": city.CONSENT_OK},
                                 token=api.tokens.bank)  # fmt: skip
        assert codes_at(body, ["decoy"]) == ["CONSENT_REQUIRED"] and body["data"]["real"] is not None

        entry, records = await entry_and_records(city_database, body["extensions"]["auditSeq"])

        assert records == [{
            "holder_kind": "PERSON", "holder_id": city.BORROWER, "organisation_code": city.BANK,
            "purpose": "LOAN_APPROVAL", "consent_id": city.CONSENT_OK, "case_number": None,
        }]  # fmt: skip
        assert entry["subjects"] == [
            item(f"PERSON:{someone}", "REFUSED", "GUARANTEE_REVIEW", "NO-SUCH-CONSENT"),
            item(f"PERSON:{city.BORROWER}", "REACHED", "LOAN_APPROVAL", city.CONSENT_OK),
        ]
        # Two contexts: the entry names neither at the top; its subjects say which went with which.
        assert (entry["purpose"], entry["consentId"], entry["caseNumber"]) == (None, None, None)
    newest = (await api.graphql(ACCESS, {"id": city.BORROWER}, token=api.tokens.borrower))["data"]["person"]
    assert newest["accessRecords"]["edges"][0]["node"]["consentId"] == city.CONSENT_OK
    assert all(e["node"]["consentId"] != "NO-SUCH-CONSENT" for e in newest["accessRecords"]["edges"])


async def test_an_auditor_reads_each_subject_with_its_context(api: Api) -> None:
    body = await api.graphql(DECOY, {"someone": city.STRANGER, "borrower": city.BORROWER, "ok": city.CONSENT_OK},
                             token=api.tokens.bank)  # fmt: skip
    seq = body["extensions"]["auditSeq"]

    log = await api.graphql(LOG, {"s": city.STRANGER}, token=api.tokens.auditor)

    assert "errors" not in log, log
    node = log["data"]["auditLog"]["edges"][0]["node"]
    assert node["seq"] == seq
    assert node["subjects"] == [f"PERSON:{city.STRANGER}", f"PERSON:{city.BORROWER}"]
    assert node["subjectContexts"] == [
        item(f"PERSON:{city.STRANGER}", "REFUSED", "GUARANTEE_REVIEW", "NO-SUCH-CONSENT"),
        item(f"PERSON:{city.BORROWER}", "REACHED", "LOAN_APPROVAL", city.CONSENT_OK),
    ]
    assert (node["purpose"], node["consentId"]) == (None, None)


async def test_a_counter_reading_under_two_cases_records_each(api: Api, city_database: str) -> None:
    first, second = f"XH-{uuid.uuid4().hex[:8]}", f"XH-{uuid.uuid4().hex[:8]}"
    body = await api.graphql(
        """query($a: String!, $b: String!, $p: String!, $s: String!) {
             decoy: person(idNumber: $s, access: {caseNumber: $a}) { name }
             real: person(idNumber: $p, access: {caseNumber: $b}) { name } }""",
        {"a": first, "b": second, "p": city.BORROWER, "s": city.STRANGER}, token=api.tokens.counter,
    )
    assert "errors" not in body, body

    entry, records = await entry_and_records(city_database, body["extensions"]["auditSeq"])

    assert sorted((r["holder_id"], r["case_number"]) for r in records) == sorted(
        [(city.STRANGER, first), (city.BORROWER, second)]
    )
    assert entry["caseNumber"] is None
    assert [(i["subject"], i["state"], i["caseNumber"]) for i in entry["subjects"]] == [
        (f"PERSON:{city.STRANGER}", "REACHED", first), (f"PERSON:{city.BORROWER}", "REACHED", second),
    ]  # fmt: skip


async def test_a_counters_refused_attempt_lends_its_case_to_nothing(api: Api, city_database: str) -> None:
    body = await api.graphql(
        """query($p: String!, $s: String!, $case: String!) {
             decoy: person(idNumber: $s, access: {caseNumber: "%s"}) { name }
             real: person(idNumber: $p, access: {caseNumber: $case}) { name } }""" % ("D" * 65),
        {"p": city.BORROWER, "s": city.STRANGER, "case": "XH-REAL"}, token=api.tokens.counter,
    )
    assert codes_at(body, ["decoy"]) == ["BAD_USER_INPUT"] and body["data"]["real"] is not None

    entry, records = await entry_and_records(city_database, body["extensions"]["auditSeq"])

    assert [(r["holder_id"], r["case_number"]) for r in records] == [(city.BORROWER, "XH-REAL")]
    assert [(i["subject"], i["state"]) for i in entry["subjects"]] == [
        (f"PERSON:{city.STRANGER}", "REFUSED"), (f"PERSON:{city.BORROWER}", "REACHED"),
    ]  # fmt: skip


async def test_a_traversal_records_the_consent_it_needed(api: Api, city_database: str) -> None:
    body = await api.graphql(
        """query($c: String!, $a: AccessInput) { enterprise(creditCode: $c, access: $a) {
             name legalRepresentative { name } } }""",
        {"c": city.FOOD, "a": {"purpose": "LOAN_APPROVAL", "consentId": city.CONSENT_FOOD}}, token=api.tokens.bank,
    )
    assert "errors" not in body, body

    entry, records = await entry_and_records(city_database, body["extensions"]["auditSeq"])

    # The representative was reached under their own consent, not the enterprise's.
    assert sorted((r["holder_id"], r["consent_id"]) for r in records) == sorted(
        [(city.FOOD, city.CONSENT_FOOD), (city.BORROWER, city.CONSENT_OK)]
    )
    assert entry["subjects"] == [
        item(f"ENTERPRISE:{city.FOOD}", "REACHED", "LOAN_APPROVAL", city.CONSENT_FOOD),
        item(f"PERSON:{city.BORROWER}", "REACHED", "LOAN_APPROVAL", city.CONSENT_OK),
    ]
    assert (entry["purpose"], entry["consentId"]) == (None, None)


async def test_a_refused_traversal_is_recorded_refused_and_is_no_access(api: Api, city_database: str) -> None:
    body = await api.graphql(
        """query($c: String!, $a: AccessInput) { enterprise(creditCode: $c, access: $a) {
             name legalRepresentative { name } } }""",
        {"c": city.TEA, "a": {"purpose": "LOAN_APPROVAL", "consentId": city.CONSENT_TEA}}, token=api.tokens.bank,
    )
    assert codes_at(body, ["enterprise", "legalRepresentative"]) == ["CONSENT_REQUIRED"]

    entry, records = await entry_and_records(city_database, body["extensions"]["auditSeq"])

    assert [(r["holder_id"], r["consent_id"]) for r in records] == [(city.TEA, city.CONSENT_TEA)]
    assert entry["subjects"] == [
        item(f"ENTERPRISE:{city.TEA}", "REACHED", "LOAN_APPROVAL", city.CONSENT_TEA),
        item(f"PERSON:{city.CITIZEN}", "REFUSED", "LOAN_APPROVAL"),
    ]
    # The representative was attempted under the purpose alone (the enterprise's consent is not
    # theirs): two contexts, so the entry names neither at the top.
    assert (entry["purpose"], entry["consentId"]) == (None, None)


async def test_a_consent_nobody_checked_is_never_recorded_as_given(api: Api, city_database: str) -> None:
    body = await api.graphql(
        'query($p: String!) { person(idNumber: $p, access: {purpose: SUPERVISION, consentId: "NO-SUCH-CONSENT"}) { name } }',
        {"p": city.BORROWER}, token=api.tokens.admin,
    )
    assert "errors" not in body, body

    entry, records = await entry_and_records(city_database, body["extensions"]["auditSeq"])

    assert [(r["purpose"], r["consent_id"]) for r in records] == [("SUPERVISION", None)]
    assert entry["subjects"] == [item(f"PERSON:{city.BORROWER}", "REACHED", "SUPERVISION")]


async def test_a_refused_attempt_alone_makes_no_access_record(api: Api, city_database: str) -> None:
    body = await api.graphql(
        'query($p: String!) { person(idNumber: $p, access: {purpose: LOAN_APPROVAL, consentId: "consent-borrower-revoked"}) { name } }',
        {"p": city.BORROWER}, token=api.tokens.bank,
    )
    assert codes_at(body, ["person"]) == ["CONSENT_REQUIRED"]

    entry, records = await entry_and_records(city_database, body["extensions"]["auditSeq"])

    assert records == []
    assert entry["subjects"] == [item(f"PERSON:{city.BORROWER}", "REFUSED", "LOAN_APPROVAL", city.CONSENT_REVOKED)]
    assert (entry["purpose"], entry["consentId"], entry["outcome"]) == ("LOAN_APPROVAL", city.CONSENT_REVOKED, "DENIED")


async def test_a_subjects_recorded_context_cannot_be_changed_unnoticed(empty_database_url: str, tmp_path: Path) -> None:
    """Someone with the database, triggers dropped, swaps the consent a subject was reached under
    for the decoy's: `xinzheng audit verify` names that entry."""
    url = empty_database_url
    assert run_cli("import", str(city.write(tmp_path / "city.jsonl")), database_url=url).returncode == 0
    settings = settings_for(url)
    app = create_app(settings)
    async with app.router.lifespan_context(app), httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://xinzheng.test"
    ) as client:
        variables = {"someone": city.STRANGER, "borrower": city.BORROWER, "ok": city.CONSENT_OK}
        response = await client.post("/graphql", json={"query": DECOY, "variables": variables},
                                     headers={"authorization": f"Bearer {Tokens(settings).bank}"})  # fmt: skip
        seq = response.json()["extensions"]["auditSeq"]
        for _ in range(3):
            await client.post("/graphql", json={"query": "{ me { role } }"})
    assert xinzheng("audit", "verify", database_url=url).returncode == 0
    entry, _ = await entry_and_records(url, seq)
    forged = [dict(i, consentId="NO-SUCH-CONSENT") if i["state"] == "REACHED" else i for i in entry["subjects"]]

    await drop_append_only_trigger(url)
    cast = "CAST(:s AS JSON)" if backend(url) == "postgresql" else ":s"
    await sql(url, f"UPDATE audit_log SET subjects = {cast} WHERE seq = :seq", params={"s": json.dumps(forged), "seq": seq})

    assert first_bad_seq(xinzheng("audit", "verify", database_url=url)) == seq
