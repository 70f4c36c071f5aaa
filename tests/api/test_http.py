"""The HTTP surface: bodies, errors, and the cost of a nested query."""

from __future__ import annotations

from typing import Any

import pytest

import app.view
from app.db.request import RequestDatabase
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


async def reads(api: Api, monkeypatch: pytest.MonkeyPatch, query: str, id_number: str) -> int:
    """The reads one request made, counted by its own database object (app/db/request.py)."""
    made: list[RequestDatabase] = []

    class Counted(RequestDatabase):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            made.append(self)

    with monkeypatch.context() as patch:
        patch.setattr(app.view, "RequestDatabase", Counted)
        body = await api.graphql(query, {"id": id_number}, token=api.tokens.admin)
    assert "errors" not in body, body
    (db,) = made
    assert db.seconds > 0
    return db.statements


async def test_a_nested_query_costs_the_same_reads_however_long_its_lists(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    """Person, its lists, and each enterprise's lists: one read per list level, not per row."""
    query = """query($id: String!) { person(idNumber: $id) {
        name penalties { decisionNumber } licences { decisionNumber } certificates { identifier }
        creditScore { score } consents { id }
        enterprises { name licences { title } penalties { reason } creditScore { score }
                      certificates { identifier } legalRepresentative { name } }
    } }"""
    borrower = await reads(api, monkeypatch, query, city.BORROWER)
    stranger = await reads(api, monkeypatch, query, city.STRANGER)  # represents 25 enterprises
    assert stranger == borrower
    assert 8 <= borrower <= 12, borrower  # one per list level (and it did count them)


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
