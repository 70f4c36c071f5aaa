"""The policy must cover the schema: a field without a rule stops the service at start-up."""

from __future__ import annotations

import pytest
import strawberry

from app.auth.enforce import PolicyError, check_coverage, guard_schema
from app.auth.policy import FIELD_POLICY
from app.config import Settings
from app.schema import build_schema

SETTINGS = Settings.from_env({"XINZHENG_JWT_SECRET": "x" * 40})


def test_the_service_schema_is_covered() -> None:
    check_coverage(build_schema(SETTINGS))


def test_a_field_without_a_rule_stops_start_up_naming_it() -> None:
    @strawberry.type
    class Query:
        me: str
        salary: int

    with pytest.raises(PolicyError, match="Query.salary"):
        guard_schema(strawberry.Schema(query=Query))


def test_a_rule_for_a_field_that_does_not_exist_stops_start_up(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(FIELD_POLICY, "Person.salary", FIELD_POLICY["Person.name"])
    with pytest.raises(PolicyError, match="Person.salary"):
        build_schema(SETTINGS)



@strawberry.type
class _Records:
    @strawberry.field
    def penalties(self) -> list[str]:
        return []


@strawberry.type(name="P")
class _P(_Records):
    name: str


@strawberry.type(name="E")
class _E(_Records):
    name: str


@strawberry.type(name="Query")
class _SharedQuery:
    p: _P
    e: _E


def test_a_field_shared_by_two_types_stops_start_up(monkeypatch: pytest.MonkeyPatch) -> None:
    """Guards sit on field objects: an inherited field would carry one type's rule into another."""
    keys = ("Query.p", "Query.e", "P.name", "P.penalties", "E.name", "E.penalties")
    rule = FIELD_POLICY["Query.me"]
    for key in list(FIELD_POLICY):
        monkeypatch.delitem(FIELD_POLICY, key)
    for key in keys:
        monkeypatch.setitem(FIELD_POLICY, key, rule)
    with pytest.raises(PolicyError, match="one field object"):
        guard_schema(strawberry.Schema(query=_SharedQuery))
