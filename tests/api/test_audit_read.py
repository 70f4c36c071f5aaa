"""Reading the trail: auditors read the log, subjects read who accessed their data."""

from __future__ import annotations

import uuid

import pytest

from app.auth.roles import Role
from tests.api import city
from tests.api.conftest import Api, codes_at

BANK_PERSON = {"purpose": "LOAN_APPROVAL", "consentId": city.CONSENT_OK}
PERSON = "query($id: String!, $a: AccessInput) { person(idNumber: $id, access: $a) { name } }"
ACCESS = """query($id: String!, $after: String) { person(idNumber: $id) {
  accessRecords(first: 2, after: $after) {
    edges { cursor node { at organisationCode organisationName role purpose consentId caseNumber } }
    pageInfo { hasNextPage endCursor } } } }"""
LOG = """query($f: AuditFilter, $first: Int, $after: String) { auditLog(filter: $f, first: $first, after: $after) {
  edges { node { seq requestId actorSub actorRole actorOrg operationName operationType queryHash subjects
                 purpose consentId caseNumber outcome errorCodes fieldsMasked fieldsDenied durationMs prevHash hash } }
  pageInfo { hasNextPage endCursor } } }"""


async def test_a_subject_sees_which_organisation_read_them_and_why_but_not_who(api: Api) -> None:
    officer = api.tokens.make(Role.BANK, org=city.BANK, sub=f"officer-{uuid.uuid4().hex[:6]}")
    await api.graphql(PERSON, {"id": city.BORROWER, "a": BANK_PERSON}, token=officer)
    body = await api.graphql(ACCESS, {"id": city.BORROWER}, token=api.tokens.borrower)
    newest = body["data"]["person"]["accessRecords"]["edges"][0]["node"]
    assert newest == {
        "at": newest["at"], "organisationCode": city.BANK, "organisationName": "惠民银行", "role": "bank",
        "purpose": "LOAN_APPROVAL", "consentId": city.CONSENT_OK, "caseNumber": None,
    }


async def test_a_counters_access_names_its_case(api: Api) -> None:
    case = f"XH-{uuid.uuid4().hex[:8]}"
    await api.graphql(PERSON, {"id": city.BORROWER, "a": {"caseNumber": case}}, token=api.tokens.counter)
    body = await api.graphql(ACCESS, {"id": city.BORROWER}, token=api.tokens.borrower)
    newest = body["data"]["person"]["accessRecords"]["edges"][0]["node"]
    assert (newest["organisationName"], newest["role"], newest["caseNumber"]) == ("西湖区行政服务中心", "counter", case)


async def test_reading_oneself_leaves_no_access_record(api: Api) -> None:
    before = await api.graphql(ACCESS, {"id": city.CITIZEN}, token=api.tokens.citizen)
    await api.graphql(PERSON, {"id": city.CITIZEN}, token=api.tokens.citizen)
    after = await api.graphql(ACCESS, {"id": city.CITIZEN}, token=api.tokens.citizen)
    assert after["data"]["person"]["accessRecords"] == before["data"]["person"]["accessRecords"]


async def test_access_records_page_newest_first(api: Api) -> None:
    for _ in range(3):
        await api.graphql(PERSON, {"id": city.BORROWER, "a": BANK_PERSON}, token=api.tokens.bank)
    first = await api.graphql(ACCESS, {"id": city.BORROWER}, token=api.tokens.borrower)
    page = first["data"]["person"]["accessRecords"]
    assert page["pageInfo"]["hasNextPage"]
    second = await api.graphql(ACCESS, {"id": city.BORROWER, "after": page["pageInfo"]["endCursor"]}, token=api.tokens.borrower)
    times = [e["node"]["at"] for e in page["edges"] + second["data"]["person"]["accessRecords"]["edges"]]
    assert times == sorted(times, reverse=True)
    cursors = [e["cursor"] for e in page["edges"] + second["data"]["person"]["accessRecords"]["edges"]]
    assert len(set(cursors)) == 4


async def test_a_legal_representative_reads_their_enterprises_access_records(api: Api) -> None:
    await api.graphql(
        "query($c: String!, $a: AccessInput) { enterprise(creditCode: $c, access: $a) { creditScore { score } } }",
        {"c": city.FOOD, "a": {"purpose": "LOAN_APPROVAL", "consentId": city.CONSENT_FOOD}}, token=api.tokens.bank,
    )
    body = await api.graphql(
        "query($c: String!) { enterprise(creditCode: $c) { accessRecords(first: 1) { edges { node { organisationCode purpose } } } } }",
        {"c": city.FOOD}, token=api.tokens.borrower,
    )
    assert body["data"]["enterprise"]["accessRecords"]["edges"][0]["node"] == {
        "organisationCode": city.BANK, "purpose": "LOAN_APPROVAL",
    }


async def test_an_auditor_finds_a_banks_query_by_subject_and_organisation(api: Api) -> None:
    await api.graphql(PERSON, {"id": city.BORROWER, "a": BANK_PERSON}, token=api.tokens.bank)
    body = await api.graphql(
        LOG, {"f": {"subjectKind": "PERSON", "subjectId": city.BORROWER, "organisation": city.BANK}, "first": 1},
        token=api.tokens.auditor,
    )
    entry = body["data"]["auditLog"]["edges"][0]["node"]
    assert entry["actorRole"] == "bank" and entry["actorOrg"] == city.BANK
    assert f"PERSON:{city.BORROWER}" in entry["subjects"]
    assert (entry["purpose"], entry["consentId"], entry["outcome"]) == ("LOAN_APPROVAL", city.CONSENT_OK, "SERVED")
    assert entry["fieldsMasked"] == [] and entry["operationType"] == "QUERY"


async def test_a_denied_attempt_is_in_the_log(api: Api) -> None:
    denied = await api.graphql(PERSON, {"id": city.BORROWER, "a": {"purpose": "LOAN_APPROVAL", "consentId": "nope"}},
                               token=api.tokens.bank)
    seq = denied["extensions"]["auditSeq"]
    body = await api.graphql(LOG, {"f": {"outcome": "DENIED", "role": "bank"}, "first": 5}, token=api.tokens.auditor)
    entry = next(e["node"] for e in body["data"]["auditLog"]["edges"] if e["node"]["seq"] == seq)
    assert entry["errorCodes"] == ["CONSENT_REQUIRED"] and f"PERSON:{city.BORROWER}" in entry["subjects"]


async def test_the_log_pages_newest_first_without_gaps(api: Api) -> None:
    # Two pages of three need six entries before the first read, whichever tests ran before.
    for _ in range(6):
        await api.graphql("{ me { role } }")
    first = await api.graphql(LOG, {"first": 3}, token=api.tokens.auditor)
    page = first["data"]["auditLog"]
    seqs = [e["node"]["seq"] for e in page["edges"]]
    second = await api.graphql(LOG, {"first": 3, "after": page["pageInfo"]["endCursor"]}, token=api.tokens.auditor)
    seqs += [e["node"]["seq"] for e in second["data"]["auditLog"]["edges"]]
    assert seqs == list(range(seqs[0], seqs[0] - 6, -1))
    nodes = page["edges"]
    assert nodes[0]["node"]["prevHash"] == nodes[1]["node"]["hash"]


async def test_the_chain_is_intact(api: Api) -> None:
    # Enough entries for a signed checkpoint (one every 10, tests/api/conftest.py settings_for),
    # whichever tests ran before.
    for _ in range(10):
        await api.graphql("{ me { role } }")
    body = await api.graphql("{ auditIntegrity { ok entries headHash firstBadSeq reason checkpoints } }", token=api.tokens.auditor)
    integrity = body["data"]["auditIntegrity"]
    assert integrity["ok"] is True and integrity["firstBadSeq"] is None and integrity["entries"] > 0
    assert integrity["checkpoints"] >= 1


@pytest.mark.parametrize(
    "f",
    [{"subjectKind": "PERSON"}, {"subjectKind": "PERSON", "subjectId": "123"}, {"organisation": "nope"},
     {"outcome": "MAYBE"}, {"since": "2026-01-01T00:00:00"}],
)
async def test_bad_audit_filters_are_bad_user_input(api: Api, f: dict[str, str]) -> None:
    body = await api.graphql(LOG, {"f": f}, token=api.tokens.auditor)
    assert codes_at(body, ["auditLog"]) == ["BAD_USER_INPUT"]


async def test_nobody_but_oversight_reads_the_log(api: Api) -> None:
    for token in (None, api.tokens.citizen, api.tokens.bank, api.tokens.counter):
        body = await api.graphql("{ auditLog(first: 1) { edges { cursor } } }", token=token)
        assert body["data"] is None and codes_at(body, ["auditLog"]) == ["FORBIDDEN"]
