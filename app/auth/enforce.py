"""The one place that applies FIELD_POLICY (app/auth/policy.py) to the GraphQL schema.

At start-up, `field_guards` checks that every field of every type has a rule, works out from
the policy itself which columns can reach each type, and makes a `PolicyGuard` for exactly
the fields where some column that reaches them gets less than everything: a denied field, a
masked one, a scoped list. The guards form one read-only table keyed by `"Type.field"`,
built once per schema and held by that schema's executor (app/execution/executor.py); no
library object is changed, so two schemas in one process each keep their own table.

The executor applies a field's guard around its resolver: on planned queries where the plan
reaches that field, and on everything else as a graphql-core middleware (`PolicyMiddleware`).
Fields without a guard keep their fast path.

The column a guard applies is the `view` of the object it reads (set by the gate when the
subject was reached), or the caller's role at the root. A type that carries no view must
grant the same to every column that reaches it, so that it never needs one.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from inspect import iscoroutinefunction
from types import MappingProxyType
from typing import Any

import strawberry
from graphql import GraphQLObjectType, GraphQLResolveInfo, NoSchemaIntrospectionCustomRule, get_named_type
from strawberry.extensions import SchemaExtension

from app.auth.policy import FIELD_POLICY, VIEW_AS, FieldRule, Grant, Scope
from app.auth.roles import Role
from app.domain import rules
from app.domain.enums import LicenceStatus
from app.errors import Forbidden
from app.execution.awaiting import Deferred

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


Resolve = Callable[..., Any]


class PolicyGuard:
    """Applies one field's rule around its resolver: refuse, mask, or keep the rows in scope.

    Called as a graphql-core middleware is, `guard(next_, source, info, **args)`, with
    graphql-core's own resolve info (its `context` is the request's app/context.py Context).
    """

    __slots__ = ("key", "rule")

    def __init__(self, key: str, rule: FieldRule) -> None:
        self.key = key
        self.rule = rule

    def __call__(self, next_: Resolve, source: Any, info: GraphQLResolveInfo, **kwargs: Any) -> Any:
        column, grant = self._grant(source, info)
        value = next_(source, info, **kwargs)
        if info.is_awaitable(value):
            return self._shape_later(value, column, grant, source, info)
        return self._shape(value, column, grant, source, info)

    def deferred(self, next_: Resolve, source: Any, info: GraphQLResolveInfo, kwargs: dict[str, Any]) -> Deferred:
        """As a call, for a resolver that is a coroutine function: refused now, or resolved and
        shaped when awaited (app/execution/awaiting.py)."""
        column, grant = self._grant(source, info)
        return Deferred(self._resolve_later, next_, source, info, kwargs, column, grant)

    def _grant(self, source: Any, info: GraphQLResolveInfo) -> tuple[Role, Grant]:
        view = getattr(source, "view", None)
        column: Role = view.role if view is not None else info.context.principal.role
        grant = self.rule.grants[column]
        if grant is Grant.DENIED:
            info.context.disclosure.denied.append(info.path.as_list())
            raise Forbidden("access.field_denied", field=self.key, role=column)
        return column, grant

    async def _shape_later(self, value: Awaitable[Any], column: Role, grant: Grant, source: Any, info: Any) -> Any:
        return self._shape(await value, column, grant, source, info)

    async def _resolve_later(
        self, next_: Resolve, source: Any, info: Any, kwargs: dict[str, Any], column: Role, grant: Grant
    ) -> Any:
        return self._shape(await next_(source, info, **kwargs), column, grant, source, info)

    def _shape(self, value: Any, column: Role, grant: Grant, source: Any, info: Any) -> Any:
        if grant is Grant.MASKED and value is not None:
            assert self.rule.mask is not None
            value = self.rule.mask(value, source)
            info.context.disclosure.masked.append(info.path.as_list())
        scope = self.rule.scopes.get(column)
        if scope is not None and value is not None:
            keep, today = SCOPES[scope], info.context.today
            value = [v for v in value if keep(v, today)]
        return value


class PolicyMiddleware:
    """The guards as a graphql-core middleware, for what the executor runs without a plan."""

    def __init__(self, guards: Mapping[str, PolicyGuard]) -> None:
        self.guards = guards

    def resolve(self, next_: Resolve, source: Any, info: GraphQLResolveInfo, **kwargs: Any) -> Any:
        guard = self.guards.get(f"{info.parent_type.name}.{info.field_name}")
        if iscoroutinefunction(next_):
            # graphql-core may cancel this field before it starts: its resolver's coroutine is
            # made when it is awaited, so none is left unawaited (app/execution/awaiting.py).
            return Deferred(next_, source, info, **kwargs) if guard is None else guard.deferred(next_, source, info, kwargs)
        if guard is None:
            return next_(source, info, **kwargs)
        return guard(next_, source, info, **kwargs)


class IntrospectionForAdmins(SchemaExtension):
    """In prod, only an admin may introspect the schema (SPEC section 8): for anyone else
    `__schema` and `__type` fail validation. Placed before the document cache, which validates
    with the rules in force (and keeps each set's result apart)."""

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        principal = getattr(context.context, "principal", None)
        if principal is None or principal.role is not Role.ADMIN:
            context.validation_rules = (*context.validation_rules, NoSchemaIntrospectionCustomRule)
        yield


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
    """The schema's own object types (no introspection types), by GraphQL name."""
    return {
        name: concrete.implementation
        for name, concrete in schema.schema_converter.type_map.items()
        if isinstance(concrete.implementation, GraphQLObjectType)
    }


def check_coverage(schema: strawberry.Schema, policy: Mapping[str, FieldRule] = FIELD_POLICY) -> None:
    """Every field has a rule and every rule a field; otherwise the service does not start."""
    keys = {f"{name}.{f}" for name, t in _object_types(schema).items() for f in t.fields}
    missing, stale = sorted(keys - policy.keys()), sorted(policy.keys() - keys)
    if missing:
        raise PolicyError(f"no access policy for {', '.join(missing)} (add them to app/auth/policy.py)")
    if stale:
        raise PolicyError(f"access policy names fields the schema does not have: {', '.join(stale)}")


def reaching_columns(schema: strawberry.Schema, policy: Mapping[str, FieldRule] = FIELD_POLICY) -> dict[str, set[Role]]:
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
                if policy[key].grants[column] is Grant.DENIED:
                    continue
                target = get_named_type(gql_field.type)
                if isinstance(target, GraphQLObjectType):
                    stack.append((target.name, VIEW_AS.get(key, column)))
    return reach


def field_guards(
    schema: strawberry.Schema, policy: Mapping[str, FieldRule] = FIELD_POLICY
) -> Mapping[str, PolicyGuard]:
    """The guards this schema needs, by `"Type.field"`, read-only.

    Raises PolicyError, naming the fields, when the policy does not cover the schema, or
    when a type that carries no view would need one to tell its columns apart.
    """
    check_coverage(schema, policy)
    reach = reaching_columns(schema, policy)
    guards: dict[str, PolicyGuard] = {}
    for name, gql_type in _object_types(schema).items():
        definition = schema.get_type_by_name(name)
        origin = getattr(definition, "origin", None)
        carries_view = name in ROOT_TYPES or "view" in getattr(origin, "__dataclass_fields__", {})
        columns = reach.get(name, set())
        for fname in gql_type.fields:
            key = f"{name}.{fname}"
            rule = policy[key]
            grants = {rule.grants[c] for c in columns}
            needed = bool(columns) and (grants != {Grant.FULL} or any(c in rule.scopes for c in columns))
            if needed and not carries_view and len({(rule.grants[c], rule.scopes.get(c)) for c in columns}) > 1:
                raise PolicyError(f"{key} differs between the columns that reach {name}, which carries no view")
            if needed:
                guards[key] = PolicyGuard(key, rule)
    return MappingProxyType(guards)
