"""GraphQL over HTTP as the GraphQL-over-HTTP draft specifies it: media types and the status each
gives, GET for queries, URL-encoded parameters, and every path audited with its receipt.

tests/http/test_graphql_http_audit.py runs the graphql-http server audit against a live service;
these pin what it cannot see: the field policy and the audit entry on every path, hostile input
in a URL, and a browser's Accept header.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.api import city
from tests.api.conftest import Api, all_codes, codes_at

GRAPHQL_RESPONSE = "application/graphql-response+json"
JSON = "application/json"
BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
CREDIT = """query Credit($id: String!, $a: AccessInput) { person(idNumber: $id, access: $a) {
  idNumber name phone creditScore { score grade } } }"""
BANK_ACCESS = {"id": city.BORROWER, "a": {"purpose": "LOAN_APPROVAL", "consentId": city.CONSENT_OK}}
ENTRY = """query { auditLog(first: 100) { edges { node {
  seq requestId actorRole actorOrg operationType operationName outcome errorCodes fieldsMasked fieldsDenied queryHash variables } } } }"""


async def get(api: Api, params: dict[str, str] | None = None, *, token: str | None = None, accept: str | None = None,
              url: str = "/graphql") -> httpx.Response:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    if accept is not None:
        headers["accept"] = accept
    return await api.client.get(url, params=params, headers=headers)


def params(query: str, variables: dict[str, Any] | None = None, **more: str) -> dict[str, str]:
    out = {"query": query, **more}
    if variables is not None:
        out["variables"] = json.dumps(variables)
    return out


async def entry(api: Api, response: httpx.Response) -> dict[str, Any]:
    """The audit entry a response cites (read back by an auditor), checked against its receipt."""
    extensions = response.json()["extensions"]
    assert isinstance(extensions["auditSeq"], int) and extensions["requestId"] == response.headers["x-request-id"]
    log = await api.graphql(ENTRY, token=api.tokens.auditor)
    found: dict[str, Any] = next(
        e["node"] for e in log["data"]["auditLog"]["edges"] if e["node"]["seq"] == extensions["auditSeq"]
    )
    assert found["requestId"] == extensions["requestId"]
    return found


# --- media types ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("accept", "media_type"),
    [
        (None, JSON),  # no Accept: as if application/json
        ("*/*", JSON),
        ("application/*", JSON),
        (BROWSER, JSON),
        (JSON, JSON),
        (GRAPHQL_RESPONSE, GRAPHQL_RESPONSE),
        (f"{GRAPHQL_RESPONSE}; charset=utf-8", GRAPHQL_RESPONSE),
        (f"{GRAPHQL_RESPONSE}, {JSON};q=0.9", GRAPHQL_RESPONSE),  # what the draft asks clients to send
        (f"{JSON}, {GRAPHQL_RESPONSE}", JSON),  # equal quality: the one named first
        (f"{GRAPHQL_RESPONSE};q=0.5, {JSON}", JSON),
        (f"*/*, {GRAPHQL_RESPONSE}", GRAPHQL_RESPONSE),  # a type named outright before a wildcard
        (f"*/*, {JSON};q=0", GRAPHQL_RESPONSE),
    ],
)
async def test_the_answer_is_written_in_the_media_type_the_accept_header_prefers(
    api: Api, accept: str | None, media_type: str
) -> None:
    headers = {} if accept is None else {"accept": accept}
    request = api.client.build_request("POST", "/graphql", json={"query": "{ me { role } }"}, headers=headers)
    if accept is None:
        del request.headers["accept"]  # httpx sends */* unless told not to
    response = await api.client.send(request)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == media_type
    assert response.json()["data"] == {"me": {"role": "public"}}


@pytest.mark.parametrize("accept", ["text/html", "application/xml", f"{JSON};q=0, {GRAPHQL_RESPONSE};q=0",
                                    f"{JSON}; charset=iso-8859-1", "nonsense"])
async def test_an_accept_header_that_takes_neither_type_is_a_406_with_its_audit_entry(api: Api, accept: str) -> None:
    response = await api.post({"query": "{ me { role } }"}, token=api.tokens.bank, headers={"accept": accept})
    assert response.status_code == 406
    assert response.headers["content-type"] == JSON and "data" not in response.json()
    found = await entry(api, response)
    assert (found["outcome"], found["actorRole"], found["actorOrg"]) == ("REJECTED", "bank", city.BANK)


@pytest.mark.parametrize(
    ("content_type", "status"),
    [
        ("application/json", 200),
        ("application/json; charset=utf-8", 200),
        ("Application/JSON; charset=\"UTF-8\"", 200),
        ("application/json; charset=iso-8859-1", 415),
        ("text/plain;charset=UTF-8", 415),  # what fetch() says of a string body
        ("application/graphql-response+json", 415),  # an answer's type, not a request's
        ("application/x-www-form-urlencoded", 415),
    ],
)
async def test_a_body_is_json_in_utf8(api: Api, content_type: str, status: int) -> None:
    response = await api.post(content=b'{"query": "{ me { role } }"}', headers={"content-type": content_type})
    assert response.status_code == status, response.text
    assert isinstance(response.json()["extensions"]["auditSeq"], int)


# --- status codes ----------------------------------------------------------------------------------

REQUEST_ERRORS = {
    "parse": ({"query": "{ me { role }"}, "BAD_USER_INPUT"),
    "validation": ({"query": "{ me { salary } }"}, "BAD_USER_INPUT"),
    "variable coercion": ({"query": "query($id: String!) { person(idNumber: $id) { name } }", "variables": {"id": None}},
                          "BAD_USER_INPUT"),
    "query limits": ({"query": "{ " + " ".join(f"a{i}: me {{ role }}" for i in range(16)) + " }"}, "QUERY_TOO_COMPLEX"),
}


@pytest.mark.parametrize("kind", list(REQUEST_ERRORS))
async def test_a_request_error_is_400_without_data_under_the_new_media_type_and_200_under_json(api: Api, kind: str) -> None:
    body, code = REQUEST_ERRORS[kind]
    new = await api.post(body, headers={"accept": GRAPHQL_RESPONSE})
    assert new.status_code == 400, new.text
    assert new.headers["content-type"] == GRAPHQL_RESPONSE
    assert "data" not in new.json() and all_codes(new.json()) == [code]
    legacy = await api.post(body, headers={"accept": JSON})
    assert legacy.status_code == 200, legacy.text  # the draft's rule for application/json
    assert "data" not in legacy.json() and all_codes(legacy.json()) == [code]
    assert (await entry(api, new))["outcome"] == (await entry(api, legacy))["outcome"] == "REJECTED"


@pytest.mark.parametrize("accept", [GRAPHQL_RESPONSE, JSON])
async def test_a_partial_result_is_200_with_its_data_under_either_media_type(api: Api, accept: str) -> None:
    response = await api.post({"query": CREDIT, "variables": BANK_ACCESS}, token=api.tokens.bank, headers={"accept": accept})
    assert response.status_code == 200
    body = response.json()
    assert body["data"]["person"]["name"] == "李明" and body["data"]["person"]["phone"] is None
    assert codes_at(body, ["person", "phone"]) == ["FORBIDDEN"]


@pytest.mark.parametrize("accept", [GRAPHQL_RESPONSE, JSON])
async def test_a_bad_token_is_401_and_a_bad_body_400_under_either_media_type(api: Api, accept: str) -> None:
    refused = await api.post({"query": "{ me { role } }"}, token="not-a-token", headers={"accept": accept})
    assert (refused.status_code, all_codes(refused.json())) == (401, ["UNAUTHENTICATED"])
    assert refused.headers["content-type"] == accept and "data" not in refused.json()
    bad = await api.post(content=b'{"query": ', headers={"content-type": JSON, "accept": accept})
    assert (bad.status_code, all_codes(bad.json())) == (400, ["BAD_USER_INPUT"])


@pytest.mark.parametrize("extensions", ["string", 0, False, ["array"]])
async def test_extensions_must_be_an_object(api: Api, extensions: Any) -> None:
    response = await api.post({"query": "{ me { role } }", "extensions": extensions})
    assert response.status_code == 400 and all_codes(response.json()) == ["BAD_USER_INPUT"]
    assert (await api.post({"query": "{ me { role } }", "extensions": {"some": "value"}})).status_code == 200


# --- GET -------------------------------------------------------------------------------------------


async def test_a_bank_credit_query_over_get_answers_and_is_audited_as_over_post(api: Api) -> None:
    """Same answer, same policy (masks, denials), same kind of audit entry: only the method differs."""
    over_get = await get(api, params(CREDIT, BANK_ACCESS), token=api.tokens.bank)
    over_post = await api.post({"query": CREDIT, "variables": BANK_ACCESS}, token=api.tokens.bank)
    assert over_get.status_code == over_post.status_code == 200
    answer, expected = over_get.json(), over_post.json()
    assert answer["data"] == expected["data"] and answer["data"]["person"]["idNumber"] == "330105********0010"
    assert answer["errors"] == expected["errors"] and codes_at(answer, ["person", "phone"]) == ["FORBIDDEN"]
    assert (answer["extensions"]["masked"], answer["extensions"]["denied"]) == ([["person", "idNumber"]], [["person", "phone"]])
    assert over_get.headers["cache-control"] == "no-store"
    assert answer["extensions"]["auditSeq"] != expected["extensions"]["auditSeq"]
    get_entry, post_entry = await entry(api, over_get), await entry(api, over_post)
    for fact in ("operationType", "operationName", "outcome", "errorCodes", "fieldsMasked", "fieldsDenied", "queryHash", "variables"):
        assert get_entry[fact] == post_entry[fact], fact
    assert (get_entry["operationType"], get_entry["outcome"]) == ("QUERY", "PARTIAL")


async def test_url_encoded_variables_operation_name_and_extensions_are_read(api: Api) -> None:
    query = "query A { me { role } } query B($n: String!) { __type(name: $n) { name } }"
    response = await get(api, params(query, {"n": "Person"}, operationName="B", extensions='{"some":"value"}'))
    assert response.status_code == 200, response.text
    assert response.json()["data"] == {"__type": {"name": "Person"}}
    empty = await get(api, {"query": "{ me { role } }", "variables": "", "extensions": ""})  # empty: none given
    assert empty.status_code == 200, empty.text


async def test_a_mutation_over_get_is_405_and_changes_nothing(api: Api) -> None:
    revoke = "mutation($id: ID!) { revokeConsent(id: $id) { id revokedAt } }"
    for accept in (GRAPHQL_RESPONSE, JSON):
        response = await get(api, params(revoke, {"id": city.CONSENT_OK}), token=api.tokens.borrower, accept=accept)
        assert response.status_code == 405
        assert response.headers["allow"] == "POST"
        assert "data" not in response.json() and all_codes(response.json()) == ["BAD_USER_INPUT"]
        found = await entry(api, response)
        assert (found["operationType"], found["outcome"]) == ("MUTATION", "REJECTED")
    mine = await api.graphql("query($id: String!) { person(idNumber: $id) { consents { id revokedAt } } }",
                             {"id": city.BORROWER}, token=api.tokens.borrower)
    (consent,) = [c for c in mine["data"]["person"]["consents"] if c["id"] == city.CONSENT_OK]
    assert consent["revokedAt"] is None


@pytest.mark.parametrize(
    ("query_string", "status"),
    [
        ("", 400),  # no query
        ("query=", 400),
        ("query=%7B+me+%7B+role+%7D+%7D&query=%7B+me+%7B+role+%7D+%7D", 400),  # given twice: which?
        ("query=%7B+me+%7B+role+%7D+%7D&variables=%7Bnot+json", 400),
        ("query=%7B+me+%7B+role+%7D+%7D&variables=%5B1%5D", 400),  # an array, not a map
        ("query=%7B+me+%7B+role+%7D+%7D&extensions=%22string%22", 400),
        ("query=%7B+me+%7B+role+%7D+%7D&extensions=0", 400),
        ("query=%7B+me+%7B+role+%7D+%7D&operationName=%00", 400),  # NUL
        ("query=%7B+me+%7B+role+%7D+%7D%00", 400),
        ("query=%7B+me+%7B+role+%7D+%7D&variables=%7B%22a%22%3A%22%5Cud800%22%7D", 400),  # a lone surrogate
        ("query=%7B+me+%7B+role+%7D+%7D&variables=%7B%22a%22%3A%22%ff%22%7D", 400),  # not UTF-8
        ("query=%7B+me+%7B+role+%7D+%7D&variables=%7B%22a%22%3ANaN%7D", 400),
        ("query=%7B+me+%7B+role+%7D+%7D&variables=%7B%22a%22%3A" + "%5B" * 40 + "%5D" * 40 + "%7D", 400),  # too deep
        ("query=" + "%7B+me+%7B+role+%7D+%7D" * 1000, 414),
    ],
)
async def test_get_parameters_meet_the_same_checks_as_a_body(api: Api, query_string: str, status: int) -> None:
    response = await get(api, url=f"/graphql?{query_string}")
    assert response.status_code == status, response.text
    assert "data" not in response.json() and all_codes(response.json()) == ["BAD_USER_INPUT"]
    assert (await entry(api, response))["outcome"] == "REJECTED"


async def test_other_methods_are_405(api: Api) -> None:
    response = await api.client.head("/graphql", params={"query": "{ me { role } }"})
    assert response.status_code == 405 and response.headers["allow"] == "GET, POST"


async def test_a_browser_gets_graphiql_in_dev_and_the_answer_when_it_sends_a_query(api: Api) -> None:
    page = await get(api, accept=BROWSER)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    answer = await get(api, params("{ me { role } }"), accept=BROWSER)
    assert answer.status_code == 200 and answer.headers["content-type"] == JSON
    assert answer.json()["data"] == {"me": {"role": "public"}}
