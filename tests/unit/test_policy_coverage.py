"""The policy must cover the schema: a field without a rule stops the service at start-up."""

from __future__ import annotations

import pytest
import strawberry

from app.auth.enforce import PolicyError, check_coverage, field_guards
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

    with pytest.raises(PolicyError, match=r"Query\.salary"):
        field_guards(strawberry.Schema(query=Query))


def test_a_rule_for_a_field_that_does_not_exist_stops_start_up() -> None:
    policy = {**FIELD_POLICY, "Person.salary": FIELD_POLICY["Person.name"]}
    with pytest.raises(PolicyError, match=r"Person\.salary"):
        build_schema(SETTINGS, policy=policy)


def test_the_policy_tables_are_read_only() -> None:
    """Installed once: nothing at run time can add, change or drop a rule."""
    from app.auth.policy import ACTION_POLICY, Action

    with pytest.raises(TypeError):
        FIELD_POLICY["Person.phone"] = FIELD_POLICY["Person.name"]  # type: ignore[index]
    with pytest.raises(TypeError):
        ACTION_POLICY[Action.CONSENT_GRANT] = {}  # type: ignore[index]
    with pytest.raises(TypeError):
        build_schema(SETTINGS).execution_context_class.guards["Person.phone"] = None  # type: ignore[index,union-attr]


@strawberry.type
class _Records:
    @strawberry.field
    def penalties(self) -> list[str]:
        return []


@strawberry.type(name="P")
class _P(_Records):
    name: str
    view: strawberry.Private[object] = None


@strawberry.type(name="E")
class _E(_Records):
    name: str
    view: strawberry.Private[object] = None


@strawberry.type(name="Query")
class _SharedQuery:
    p: _P
    e: _E


def test_a_field_shared_by_two_types_gets_each_types_own_rule() -> None:
    """Guards are keyed by "Type.field", not by strawberry's field objects: an inherited field
    (one object in two types) still gets each type's own rule."""
    rule = FIELD_POLICY["Query.me"]
    policy = {key: rule for key in ("Query.p", "Query.e", "P.name", "E.name", "E.penalties")}
    policy["P.penalties"] = FIELD_POLICY["Person.phone"]
    guards = field_guards(strawberry.Schema(query=_SharedQuery), policy)
    assert set(guards) == {"P.penalties"}
