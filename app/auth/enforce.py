"""The one place that applies FIELD_POLICY (app/auth/policy.py) to the GraphQL schema.

At start-up, `guard_schema` checks that every field of every type has a rule, works out
from the policy itself which columns can reach each type, and puts a `PolicyGuard` on
exactly the fields where some column that reaches them gets less than everything: a denied
field, a masked one, a scoped list. Everything else keeps strawberry's fast path (a guard on
every leaf would cost several times the query on large lists).

The column a guard applies is the `view` of the object it reads (set by the gate when the
subject was reached), or the caller's role at the root. A type that carries no view must
grant the same to every column that reaches it, so that it never needs one.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import strawberry
from graphql import GraphQLObjectType, get_named_type
from strawberry.extensions import FieldExtension, SchemaExtension
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.types import Info
from strawberry.types.field import StrawberryField

from app.auth.policy import FIELD_POLICY, VIEW_AS, FieldRule, Grant, Scope
from app.auth.roles import Role
from app.domain import rules
from app.domain.enums import LicenceStatus
from app.errors import Forbidden

ROOT_TYPES = ("Query", "Mutation")


class PolicyError(Exception):
    """The policy does not cover the schema: the service must not start."""


@dataclass(frozen=True)
class View:
    """The column of the policy that applies to a subject, and the access that reached it."""

    role: Role
    access: Any = None  # the AccessInput given at the root, for traversals to reuse


@dataclass
class Disclosure:
    """What this response held back: paths masked and denied, for the response's extensions."""

    masked: list[list[str | int]] = field(default_factory=list)
    denied: list[list[str | int]] = field(default_factory=list)


# Which rows of a list each scope keeps.
SCOPES: dict[Scope, Callable[[Any, dt.date], bool]] = {
    Scope.IN_FORCE: lambda lic, today: lic.status is LicenceStatus.VALID and lic.valid_from <= today,
    Scope.PUBLISHED: lambda p, today: rules.is_published(p.severity, p.status, p.decided_on, today),
    Scope.RETAINED: lambda p, today: rules.within_bank_retention(p.decided_on, today),
}


class PolicyGuard(FieldExtension):
    """Applies one field's rule: refuse, mask, or keep the rows in scope."""

    def __init__(self, key: str, rule: FieldRule) -> None:
        self.key = key
        self.rule = rule

    def _column(self, source: Any, info: Info) -> Role:
        view = getattr(source, "view", None)
        return view.role if view is not None else info.context.principal.role

    def _admit(self, source: Any, info: Info) -> tuple[Role, Grant]:
        column = self._column(source, info)
        grant = self.rule.grants[column]
        if grant is Grant.DENIED:
            info.context.disclosure.denied.append(info.path.as_list())
            raise Forbidden(f"{self.key} is not disclosed to the {column} role")
        return column, grant

    def _shape(self, value: Any, column: Role, grant: Grant, source: Any, info: Info) -> Any:
        if grant is Grant.MASKED and value is not None:
            assert self.rule.mask is not None
            value = self.rule.mask(value, source)
            info.context.disclosure.masked.append(info.path.as_list())
        scope = self.rule.scopes.get(column)
        if scope is not None and value is not None:
            keep, today = SCOPES[scope], info.context.today
            value = [v for v in value if keep(v, today)]
        return value

    def resolve(self, next_: Callable[..., Any], source: Any, info: Info, **kwargs: Any) -> Any:
        column, grant = self._admit(source, info)
        return self._shape(next_(source, info, **kwargs), column, grant, source, info)

    async def resolve_async(
        self, next_: Callable[..., Awaitable[Any]], source: Any, info: Info, **kwargs: Any
    ) -> Any:
        column, grant = self._admit(source, info)
        return self._shape(await next_(source, info, **kwargs), column, grant, source, info)


class DisclosureReport(SchemaExtension):
    """Lists the masked and denied paths in the response's top-level extensions."""

    def get_results(self) -> dict[str, Any]:
        return disclosure_extensions(getattr(self.execution_context.context, "disclosure", None))


def disclosure_extensions(disclosure: Disclosure | None) -> dict[str, Any]:
    """The response's `masked` and `denied` extensions; nothing when nothing was held back."""
    if disclosure is None or not (disclosure.masked or disclosure.denied):
        return {}
    return {"masked": disclosure.masked, "denied": disclosure.denied}


def _object_types(schema: strawberry.Schema) -> dict[str, GraphQLObjectType]:
    return {
        name: t
        for name, t in schema._schema.type_map.items()
        if isinstance(t, GraphQLObjectType) and not name.startswith("__")
    }


def check_coverage(schema: strawberry.Schema) -> None:
    """Every field has a rule and every rule a field; otherwise the service does not start."""
    keys = {f"{name}.{f}" for name, t in _object_types(schema).items() for f in t.fields}
    missing, stale = sorted(keys - FIELD_POLICY.keys()), sorted(FIELD_POLICY.keys() - keys)
    if missing:
        raise PolicyError(f"no access policy for {', '.join(missing)} (add them to app/auth/policy.py)")
    if stale:
        raise PolicyError(f"access policy names fields the schema does not have: {', '.join(stale)}")


def reaching_columns(schema: strawberry.Schema) -> dict[str, set[Role]]:
    """For each type, the policy columns under which some query can reach it."""
    types = _object_types(schema)
    reach: dict[str, set[Role]] = defaultdict(set)
    for role in Role:
        stack = [(root, role) for root in ROOT_TYPES if root in types]
        while stack:
            name, column = stack.pop()
            if column in reach[name]:
                continue
            reach[name].add(column)
            for fname, gql_field in types[name].fields.items():
                key = f"{name}.{fname}"
                if FIELD_POLICY[key].grants[column] is Grant.DENIED:
                    continue
                target = get_named_type(gql_field.type)
                if isinstance(target, GraphQLObjectType):
                    stack.append((target.name, VIEW_AS.get(key, column)))
    return reach


def guard_schema(schema: strawberry.Schema, *, enforce: bool = True) -> bool:
    """Check the policy against the schema and put guards where they are needed.

    Returns whether any field's extensions changed (the schema must then be built again).
    """
    check_coverage(schema)
    reach = reaching_columns(schema)
    changed = False
    # Guards live on strawberry's field objects. A field inherited by two types is one object,
    # so one type's guard would apply to the other's field too (Person.penalties' rule on
    # Enterprise.penalties): refuse that, and give each type its own fields.
    owners: dict[int, str] = {}
    for name, gql_type in _object_types(schema).items():
        for fname, gql_field in gql_type.fields.items():
            sf = gql_field.extensions[GraphQLCoreConverter.DEFINITION_BACKREF]
            other = owners.setdefault(id(sf), f"{name}.{fname}")
            if other != f"{name}.{fname}" and other.split(".")[0] != name:
                raise PolicyError(f"{name}.{fname} and {other} are one field object: define each in its own type")
    for name, gql_type in _object_types(schema).items():
        origin = gql_type.extensions[GraphQLCoreConverter.DEFINITION_BACKREF].origin
        carries_view = name in ROOT_TYPES or "view" in getattr(origin, "__dataclass_fields__", {})
        for fname, gql_field in gql_type.fields.items():
            key = f"{name}.{fname}"
            rule = FIELD_POLICY[key]
            sf: StrawberryField = gql_field.extensions[GraphQLCoreConverter.DEFINITION_BACKREF]
            columns = reach.get(name, set())
            grants = {rule.grants[c] for c in columns}
            needed = bool(columns) and (grants != {Grant.FULL} or any(c in rule.scopes for c in columns))
            if needed and not carries_view and len({(rule.grants[c], rule.scopes.get(c)) for c in columns}) > 1:
                raise PolicyError(f"{key} differs between the columns that reach {name}, which carries no view")
            has_guard = any(isinstance(e, PolicyGuard) for e in sf.extensions)
            want_guard = enforce and needed
            if want_guard and not has_guard:
                sf.extensions.append(PolicyGuard(key, rule))
                changed = True
            elif has_guard and not want_guard:
                sf.extensions[:] = [e for e in sf.extensions if not isinstance(e, PolicyGuard)]
                changed = True
    return changed
