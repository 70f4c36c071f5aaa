"""What a hostile caller sends gets a clear 4xx or BAD_USER_INPUT and its audit entry, never an
internal fault (issue 9's findings, kept fixed)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from app.auth.roles import Role
from app.identifiers import credit_code_with_check
from tests.api import city
from tests.api.conftest import Api, all_codes, codes_at

SEARCH = "query($n: String!, $after: String) { searchEnterprises(name: $n, first: 2, after: $after) { edges { node { name } } } }"
PERSON = "query($id: String!, $a: AccessInput) { person(idNumber: $id, access: $a) { name } }"


def cursor(key: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(key).encode()).decode()


def refused_as_input(body: dict[str, Any]) -> None:
    assert "INTERNAL_SERVER_ERROR" not in all_codes(body), body
    assert all_codes(body) and set(all_codes(body)) <= {"BAD_USER_INPUT"}, body
    assert isinstance(body["extensions"]["auditSeq"], int)


@pytest.mark.parametrize("after", [cursor(["abc"]), cursor([2**70]), cursor(["a", 1]), cursor([True, "x"]), "%%%", cursor({"a": 1})])
async def test_forged_cursors_are_bad_user_input(api: Api, after: str) -> None:
    refused_as_input(await api.graphql(SEARCH, {"n": city.SEARCH_PREFIX, "after": after}))
    log = "query($a: String) { auditLog(first: 2, after: $a) { edges { node { seq } } } }"
    refused_as_input(await api.graphql(log, {"a": after}, token=api.tokens.auditor))


@pytest.mark.parametrize("name", ["\x00", "测试\x00商贸", "a\ud800b"])
async def test_text_a_database_cannot_store_is_refused_before_it(api: Api, name: str) -> None:
    body = (await api.post(content=json.dumps({"query": SEARCH, "variables": {"n": name}}).encode(),
                           headers={"content-type": "application/json"})).json()  # fmt: skip
    refused_as_input(body)
    # In the query text too, spelled as a GraphQL escape that the JSON check cannot see.
    literal = json.dumps(name)  # "\u0000" and the like
    refused_as_input(await api.graphql('{ searchEnterprises(name: %s) { edges { cursor } } }' % literal))


async def test_a_lone_surrogate_or_nul_anywhere_in_the_request_is_refused(api: Api) -> None:
    for body in (
        {"query": "{ me { role } }", "variables": {"x": "\ud83d"}},
        {"query": "{ me { role } } # \udc00"},
        {"query": "{ me { role } }", "operationName": "a\x00"},
    ):
        response = await api.post(content=json.dumps(body).encode(), headers={"content-type": "application/json"})
        assert response.status_code == 400, response.text
        refused_as_input(response.json())


async def test_variables_nested_hundreds_deep_are_refused(api: Api) -> None:
    deep: Any = "x"
    for _ in range(500):
        deep = {"a": deep}
    response = await api.post({"query": PERSON, "variables": {"id": city.BORROWER, "a": deep}}, token=api.tokens.bank)
    assert response.status_code == 400
    refused_as_input(response.json())


@pytest.mark.parametrize("until", ["9999-12-31T23:00:00-08:00", "0001-01-01T01:00:00+08:00", "10000-01-01T00:00:00Z"])
async def test_datetimes_outside_what_can_be_compared_are_bad_user_input(api: Api, until: str) -> None:
    grant = "mutation($in: GrantConsentInput!) { grantConsent(input: $in) { id } }"
    value = {"holderKind": "PERSON", "holderId": city.CITIZEN, "granteeCode": city.BANK,
             "purposes": ["LOAN_APPROVAL"], "validUntil": until}  # fmt: skip
    refused_as_input(await api.graphql(grant, {"in": value}, token=api.tokens.citizen))
    log = "query($f: AuditFilter) { auditLog(filter: $f, first: 1) { edges { node { seq } } } }"
    refused_as_input(await api.graphql(log, {"f": {"since": until}}, token=api.tokens.auditor))


@pytest.mark.parametrize("digits", ["３３０１０５１９９００７０８００１０", "٣٣٠١٠٥١٩٩٠٠٧٠٨٠٠١٠"])
async def test_identifiers_are_ascii_only(api: Api, digits: str) -> None:
    """Full-width and Arabic-Indic digits are digits to Python, but not a second spelling of a number."""
    body = await api.graphql(PERSON, {"id": digits}, token=api.tokens.admin)
    assert codes_at(body, ["person"]) == ["BAD_USER_INPUT"]
    assert "ASCII" in body["errors"][0]["message"]


async def test_a_token_for_an_organisation_of_another_kind_is_refused(api: Api) -> None:
    """A counter token carrying a bank's credit code was served, and named that bank in access records."""
    for role, org in ((Role.COUNTER, city.BANK), (Role.BANK, city.COUNTER), (Role.ISSUER, city.BANK),
                      (Role.BANK, credit_code_with_check("91330100MA2H0000X"))):  # fmt: skip
        token = api.tokens.make(role, org=org)
        body = await api.graphql(PERSON, {"id": city.BORROWER, "a": {"caseNumber": "X-1"}}, token=token, status=401)
        assert all_codes(body) == ["UNAUTHENTICATED"], (role, org)
        assert isinstance(body["extensions"]["auditSeq"], int)


async def test_two_authorization_headers_are_refused(api: Api) -> None:
    response = await api.client.post(
        "/graphql", json={"query": "{ me { role } }"},
        headers=[("authorization", f"Bearer {api.tokens.bank}"), ("authorization", f"Bearer {api.tokens.admin}")],
    )  # fmt: skip
    assert response.status_code == 401
    assert all_codes(response.json()) == ["UNAUTHENTICATED"]


async def test_several_operations_and_no_name_run_none_of_them(api: Api) -> None:
    response = await api.post({"query": "query A { me { role } } query B { certificateTypes { typeCode } }"})
    body = response.json()
    assert body.get("data") is None and all_codes(body) == ["BAD_USER_INPUT"], body


async def test_answers_are_never_cached(api: Api) -> None:
    response = await api.post({"query": "{ me { role } }"}, token=api.tokens.citizen)
    assert response.headers["cache-control"] == "no-store"
    response = await api.post({"query": "{"})
    assert response.headers["cache-control"] == "no-store"


@pytest.mark.parametrize("access", ['{caseNumber: "\\u0000"}', '{purpose: LOAN_APPROVAL, consentId: "a\\u0000b"}'])
async def test_a_nul_spelled_as_a_graphql_escape_still_leaves_its_entry(api: Api, access: str) -> None:
    """The body check cannot see "\\u0000" inside a GraphQL string; the audit entry records the
    access context it names, and must still be storable (the fuzzer found it on PostgreSQL)."""
    query = '{ person(idNumber: "%s", access: %s) { name } }' % (city.BORROWER, access)
    for token in (api.tokens.counter, api.tokens.bank):
        body = await api.graphql(query, token=token)
        assert isinstance(body["extensions"]["auditSeq"], int), body
        assert "AUDIT_UNAVAILABLE" not in all_codes(body) and "INTERNAL_SERVER_ERROR" not in all_codes(body)
