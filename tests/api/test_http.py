"""The HTTP surface: bodies, errors, and the cost of a nested query."""

from __future__ import annotations

import pytest

from tests.api import city
from tests.api.conftest import Api, all_codes


async def test_a_malformed_body_is_a_400_with_a_graphql_error(api: Api) -> None:
    response = await api.post(content=b'{"query": ', headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert all_codes(response.json()) == ["BAD_USER_INPUT"]


async def test_a_body_without_query_is_a_400(api: Api) -> None:
    response = await api.post({"variables": {}})
    assert response.status_code == 400
    assert all_codes(response.json()) == ["BAD_USER_INPUT"]


async def test_array_batching_is_refused(api: Api) -> None:
    response = await api.post([{"query": "{ me { role } }"}, {"query": "{ me { role } }"}])
    assert response.status_code == 400
    assert all_codes(response.json()) == ["BAD_USER_INPUT"]


async def test_a_syntax_error_is_bad_user_input(api: Api) -> None:
    body = await api.graphql("{ me { role }")
    assert all_codes(body) == ["BAD_USER_INPUT"]


async def test_an_unknown_field_is_bad_user_input(api: Api) -> None:
    body = await api.graphql("{ person(idNumber: \"x\") { salary } }")
    assert all_codes(body) == ["BAD_USER_INPUT"]


async def test_queries_are_not_served_over_get(api: Api) -> None:
    response = await api.client.get("/graphql", params={"query": "{ me { role } }"})
    assert response.status_code != 200 or "data" not in response.text


async def test_a_nested_query_costs_the_same_statements_however_long_its_lists(api: Api) -> None:
    """Person, its lists, and each enterprise's lists: one statement per list level, not per row."""
    query = """query($id: String!) { person(idNumber: $id) {
        name penalties { decisionNumber } licences { decisionNumber } certificates { identifier }
        creditScore { score } consents { id }
        enterprises { name licences { title } penalties { reason } creditScore { score }
                      certificates { identifier } legalRepresentative { name } }
    } }"""
    def reads(statements: list[str]) -> list[str]:  # the audit entry's own statements are a constant few
        return [s for s in statements if not any(t in s for t in ("audit_log", "access_records", "audit_checkpoints"))]

    with api.counting_statements() as statements:
        body = await api.graphql(query, {"id": city.BORROWER}, token=api.tokens.admin)
    assert "errors" not in body
    borrower = reads(statements)
    with api.counting_statements() as statements:
        await api.graphql(query, {"id": city.STRANGER}, token=api.tokens.admin)  # represents 25 enterprises
    stranger = reads(statements)
    assert len(stranger) == len(borrower), stranger
    assert 8 <= len(borrower) <= 12, borrower  # one per list level (and it did count them)


async def test_health_and_readiness(api: Api) -> None:
    assert (await api.client.get("/healthz")).json() == {"status": "ok"}
    assert (await api.client.get("/readyz")).status_code == 200


async def test_certificate_documents_verify_offline_against_the_published_keys(api: Api) -> None:
    """A relying party fetches /.well-known/jwks.json once and checks documents with no further call."""
    import jwt

    keys = (await api.client.get("/.well-known/jwks.json")).json()["keys"]
    assert keys and all(k["kty"] == "OKP" and k["crv"] == "Ed25519" and "d" not in k for k in keys)
    body = await api.graphql(
        "query($id: String!) { person(idNumber: $id) { certificates { identifier document } } }",
        {"id": city.CITIZEN}, token=api.tokens.citizen,
    )
    for cert in body["data"]["person"]["certificates"]:
        kid = jwt.get_unverified_header(cert["document"])["kid"]
        key = jwt.PyJWK(next(k for k in keys if k["kid"] == kid))
        payload = jwt.decode(cert["document"], key, algorithms=["EdDSA"])
        assert payload["identifier"] == cert["identifier"]


async def test_a_body_nested_thousands_deep_is_a_400_with_its_audit_entry(api: Api) -> None:
    """Valid JSON that Python's parser cannot descend: refused like any bad body, and logged."""
    depth = 100_000
    body = b'{"query": "{ me { role } }", "variables": {"a": ' + b"[" * depth + b"]" * depth + b"}}"
    response = await api.post(content=body, headers={"content-type": "application/json"})
    assert response.status_code == 400
    answer = response.json()
    assert all_codes(answer) == ["BAD_USER_INPUT"]
    assert isinstance(answer["extensions"]["auditSeq"], int)


async def test_a_fault_outside_execution_is_a_500_without_detail_and_with_its_audit_entry(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken() -> None:
        raise RuntimeError("the clock is broken: /srv/secret/path")

    monkeypatch.setattr("app.view.clock.today", broken)  # fails while the request is set up
    response = await api.post({"query": "{ me { role } }"})
    assert response.status_code == 500
    answer = response.json()
    assert all_codes(answer) == ["INTERNAL_SERVER_ERROR"]
    assert "secret" not in response.text and "clock" not in response.text
    assert isinstance(answer["extensions"]["auditSeq"], int)
