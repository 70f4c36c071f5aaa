"""A nested query costs one read per list level however long its lists, counted by the request's
own database (`RequestDatabase.statements`), not by a listener on the engine: reads on the driver
fire no SQLAlchemy events, whoever listens.

This is tests/api/test_http.py's `test_a_nested_query_costs_the_same_statements_however_long_its_lists`
counted the new way; that one counts with a listener, which sees only reads through SQLAlchemy.
"""

from __future__ import annotations

from typing import Any

import pytest

import app.view
from app.db.request import RequestDatabase
from tests.api import city
from tests.api.conftest import Api, api, city_database  # noqa: F401  (fixtures)

QUERY = """query($id: String!) { person(idNumber: $id) {
    name penalties { decisionNumber } licences { decisionNumber } certificates { identifier }
    creditScore { score } consents { id }
    enterprises { name licences { title } penalties { reason } creditScore { score }
                  certificates { identifier } legalRepresentative { name } }
} }"""


async def reads(api: Api, monkeypatch: pytest.MonkeyPatch, id_number: str) -> int:
    made: list[RequestDatabase] = []

    class Counted(RequestDatabase):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            made.append(self)

    with monkeypatch.context() as patch:
        patch.setattr(app.view, "RequestDatabase", Counted)
        body = await api.graphql(QUERY, {"id": id_number}, token=api.tokens.admin)
    assert "errors" not in body, body
    (db,) = made
    assert db.seconds > 0
    return db.statements


async def test_a_nested_query_costs_the_same_reads_however_long_its_lists(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    borrower = await reads(api, monkeypatch, city.BORROWER)
    stranger = await reads(api, monkeypatch, city.STRANGER)  # represents 25 enterprises
    assert stranger == borrower
    assert 8 <= borrower <= 12, borrower  # one per list level
