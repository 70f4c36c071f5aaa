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
