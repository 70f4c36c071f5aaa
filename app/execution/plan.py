"""Planning a query: the operation turned once into a tree of `FieldPlan`s.

graphql-core interprets the document for every field of every request: it collects fields,
builds a resolve info, looks up the resolver and walks the return type, each time. For a
credit query of about fifty fields that interpretation cost more than everything else the
request does (bench/README.md). So, as graphql-jit does, a validated operation is planned
once: for each response key, how to get its value (a plain attribute, or the field's own
resolver with its policy guard around it) and how to complete it (leaf coercion, lists,
objects, non-null), all fixed. app/execution/run.py runs a plan; app/execution/executor.py
keeps plans per parsed operation and runs them inside strawberry's pipeline.

Anything a plan does not cover raises NotCompilable, and graphql-core's own executor runs the
operation (with the same guards, as a middleware): mutations (they run serially and write),
introspection, abstract types, directives other than a literal @skip/@include, fragment
arguments, operation directives.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import CoroutineType
from typing import Any

import strawberry
from graphql import (
    BooleanValueNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLField,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    get_argument_values,
    is_abstract_type,
    is_leaf_type,
)
from graphql.pyutils import Path
from graphql.utilities import type_from_ast

from app.auth.enforce import PolicyGuard
from app.execution import run as running
from app.execution.run import Complete, Run


class NotCompilable(Exception):
    """This operation uses something plans do not cover: graphql-core's executor runs it."""


class FieldPlan:
    """One response key of one object type: how to get its value, and how to complete it."""

    __slots__ = (
        "coerce",
        "complete",
        "field_def",
        "guard",
        "key",
        "leaf_attribute",
        "name",
        "nodes",
        "non_null",
        "parent",
        "python_name",
        "resolve",
        "return_type",
        "static_args",
        "typename",
    )  # fmt: skip

    def __init__(self, key: str, parent: GraphQLObjectType, nodes: list[FieldNode]) -> None:
        self.key = key
        self.name = nodes[0].name.value
        self.parent = parent
        self.nodes = nodes
        self.typename: str | None = None
        self.python_name: str | None = None  # a plain attribute (strawberry's "basic field"), unguarded
        self.resolve: Callable[..., Any] | None = None  # the field's own resolver
        self.guard: PolicyGuard | None = None
        self.static_args: dict[str, Any] | None = None  # None: the arguments use variables
        self.field_def: GraphQLField | None = None
        self.return_type: GraphQLOutputType | None = None
        self.non_null = False
        self.complete: Complete = running.identity
        # A plain attribute of a leaf type: run.execute_fields takes it in one step when all is well.
        self.leaf_attribute: str | None = None
        self.coerce: Callable[[Any], Any] = _identity_value

    def execute(self, run: Run, source: Any, parent_path: Path | None) -> Any:
        """The value of this field on `source`, completed: a value, or a coroutine that gives it."""
        if self.typename is not None:
            return self.typename
        path = Path(parent_path, self.key, self.parent.name)
        try:
            if self.python_name is not None:
                result = getattr(source, self.python_name)
            else:
                result = self._resolve(run, source, path)
                if run.executor.is_awaitable(result):
                    return self._await_result(run, result, path)
            completed = self.complete(run, result, path)
            if type(completed) is CoroutineType:  # completers make coroutines only
                return self._await_completed(run, completed, path)
            return completed
        except Exception as raw:
            return run.field_error(raw, self.nodes, self.non_null, path)

    async def _await_result(self, run: Run, result: Any, path: Path) -> Any:
        try:
            completed = self.complete(run, await result, path)
            if type(completed) is CoroutineType:
                completed = await completed
            return completed
        except Exception as raw:
            return run.field_error(raw, self.nodes, self.non_null, path)

    async def _await_completed(self, run: Run, completed: Any, path: Path) -> Any:
        try:
            return await completed
        except Exception as raw:
            return run.field_error(raw, self.nodes, self.non_null, path)

    def _resolve(self, run: Run, source: Any, path: Path) -> Any:
        """As the executor calls a resolver: the resolve info it builds, the arguments coerced."""
        assert self.resolve is not None and self.field_def is not None
        info = run.executor.build_resolve_info(self.field_def, self.nodes, self.parent, path)
        kwargs = self.static_args
        if kwargs is None:
            kwargs = get_argument_values(self.field_def, self.nodes[0], run.variable_values)
        if self.guard is not None:
            return self.guard(self.resolve, source, info, **kwargs)
        return self.resolve(source, info, **kwargs)


def _identity_value(value: Any) -> Any:
    return value


def plan_operation(
    schema: GraphQLSchema,
    strawberry_schema: strawberry.Schema,
    guards: Mapping[str, PolicyGuard],
    operation: OperationDefinitionNode,
    fragments: dict[str, FragmentDefinitionNode],
) -> list[FieldPlan]:
    """The root fields' plans of a validated query; NotCompilable where graphql-core must run it."""
    if operation.operation is not OperationType.QUERY:
        raise NotCompilable("only queries are planned")
    if operation.directives:
        raise NotCompilable("operation directives")
    for node in operation.variable_definitions or ():
        if node.directives:
            raise NotCompilable("variable directives")
    root = schema.query_type
    assert root is not None
    return _Planner(schema, strawberry_schema, guards, fragments).fields(root, [operation.selection_set])


class _Planner:
    def __init__(
        self,
        schema: GraphQLSchema,
        strawberry_schema: strawberry.Schema,
        guards: Mapping[str, PolicyGuard],
        fragments: dict[str, FragmentDefinitionNode],
    ) -> None:
        self.schema = schema
        self.strawberry_schema = strawberry_schema
        self.plain_attributes = strawberry_schema.config.default_resolver is getattr
        self.guards = guards
        self.fragments = fragments

    def fields(self, parent: GraphQLObjectType, selection_sets: list[SelectionSetNode]) -> list[FieldPlan]:
        grouped: dict[str, list[FieldNode]] = {}
        for selection_set in selection_sets:
            self._collect(parent, selection_set, grouped, set())
        return [self._field(parent, key, nodes) for key, nodes in grouped.items()]

    def _collect(
        self, parent: GraphQLObjectType, selection_set: SelectionSetNode, grouped: dict[str, list[FieldNode]], seen: set[str]
    ) -> None:
        for selection in selection_set.selections:
            if not self._included(selection):
                continue
            if isinstance(selection, FieldNode):
                key = selection.alias.value if selection.alias else selection.name.value
                grouped.setdefault(key, []).append(selection)
            elif isinstance(selection, InlineFragmentNode):
                if selection.type_condition is None or self._applies(selection.type_condition, parent):
                    self._collect(parent, selection.selection_set, grouped, seen)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                if getattr(selection, "arguments", None):
                    raise NotCompilable("fragment arguments")
                if name in seen:
                    continue
                seen.add(name)
                fragment = self.fragments[name]
                if self._applies(fragment.type_condition, parent):
                    self._collect(parent, fragment.selection_set, grouped, seen)
            else:
                raise NotCompilable(f"selection {selection.kind}")

    def _applies(self, condition: Any, parent: GraphQLObjectType) -> bool:
        conditional = type_from_ast(self.schema, condition)
        if conditional is parent:
            return True
        if conditional is not None and is_abstract_type(conditional):
            return self.schema.is_sub_type(conditional, parent)
        return False

    @staticmethod
    def _included(selection: Any) -> bool:
        """Literal @skip/@include are decided now; anything else is not planned."""
        included = True
        for directive in selection.directives or ():
            name = directive.name.value
            if name not in ("skip", "include"):
                raise NotCompilable(f"directive @{name}")
            (argument,) = directive.arguments
            if not isinstance(argument.value, BooleanValueNode):
                raise NotCompilable(f"@{name} with a variable")
            if argument.value.value == (name == "skip"):
                included = False
        return included

    def _field(self, parent: GraphQLObjectType, key: str, nodes: list[FieldNode]) -> FieldPlan:
        plan = FieldPlan(key, parent, nodes)
        if plan.name == "__typename":
            plan.typename = parent.name
            return plan
        if plan.name.startswith("__"):
            raise NotCompilable("introspection")
        field_def = parent.fields[plan.name]
        if field_def.resolve is None:
            raise NotCompilable(f"{parent.name}.{plan.name} has no resolver of its own")
        plan.field_def = field_def
        plan.return_type = field_def.type
        plan.non_null = isinstance(field_def.type, GraphQLNonNull)
        plan.guard = self.guards.get(f"{parent.name}.{plan.name}")
        sf = self.strawberry_schema.get_field_for_type(plan.name, parent.name)
        if plan.guard is None and self.plain_attributes and sf is not None and sf.is_basic_field:
            plan.python_name = sf.python_name  # what strawberry's basic-field resolver reads
        else:
            plan.resolve = field_def.resolve
            if not _uses_variables(nodes[0]):
                plan.static_args = get_argument_values(field_def, nodes[0], None)
        plan.complete = self._completer(field_def.type, nodes, parent.name, plan.name)
        named = field_def.type.of_type if plan.non_null else field_def.type
        if plan.python_name is not None and is_leaf_type(named):
            plan.leaf_attribute = plan.python_name
            plan.coerce = named.coerce_output_value
        return plan

    def _completer(self, gql_type: GraphQLOutputType, nodes: list[FieldNode], parent: str, name: str) -> Complete:
        if isinstance(gql_type, GraphQLNonNull):
            return running.non_null(self._completer(gql_type.of_type, nodes, parent, name), parent, name)
        if isinstance(gql_type, GraphQLList):
            item = gql_type.of_type
            inner = self._completer(item, nodes, parent, name)
            return running.list_(inner, isinstance(item, GraphQLNonNull), nodes, parent, name)
        if is_leaf_type(gql_type):
            return running.leaf(gql_type)
        if isinstance(gql_type, GraphQLObjectType):
            sets = [n.selection_set for n in nodes if n.selection_set is not None]
            return running.object_(gql_type, self.fields(gql_type, sets), nodes)
        raise NotCompilable(f"abstract type {gql_type}")


def _uses_variables(node: FieldNode) -> bool:
    """Does any argument of this field mention a variable (anywhere inside its value)?"""
    stack: list[Any] = [a.value for a in node.arguments or ()]
    while stack:
        value = stack.pop()
        kind = value.kind
        if kind == "variable":
            return True
        if kind == "list_value":
            stack.extend(value.values)
        elif kind == "object_value":
            stack.extend(f.value for f in value.fields)
    return False
