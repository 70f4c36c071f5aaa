"""Compiled queries: a validated query is planned once, then run without re-interpreting it.

graphql-core interprets the document for every field of every request: it collects fields,
builds a resolve-info, looks up the resolver and walks the return type, each time. For a
credit query of about fifty fields that interpretation cost more than everything else the
request does (profiled: several times the hand-written reference's whole request, see
bench/README.md). Services that must be fast do what graphql-jit and PostGraphile do: plan
the query once. This module does that for the queries this service runs:

- `QueryPlanner.plan(query, operation_name)` parses and validates the text with strawberry's
  own rules, and turns the operation into a tree of `FieldPlan`s: for each field, how to
  get its value (an attribute, or strawberry's resolver with its field extensions, the
  policy guards among them) and how to complete it (leaf coercion, lists, objects,
  non-null), all fixed once. Plans are cached by query text, as parsed documents were.
- `Plan.execute(variables, context)` runs a plan with graphql-core's semantics: variables
  and arguments coerced by graphql-core itself, the items of a list resolved concurrently
  (so that the loaders batch across them; an object's own fields in turn), errors located
  at their path, a null in a non-null position propagated to the nearest nullable parent,
  errors under a nulled position dropped.

Anything a plan does not cover returns no plan, and the request runs through strawberry
unchanged: mutations (they run serially and write), introspection, syntax and validation
errors (strawberry words them), abstract types, and directives other than a literal
@skip/@include. tests/api/test_compiled_execution.py runs a corpus of queries both ways
and requires identical answers.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from types import CoroutineType
from typing import Any

import strawberry
from graphql import (
    BooleanValueNode,
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLField,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    Undefined,
    VariableDefinitionNode,
    is_abstract_type,
    is_leaf_type,
    is_non_null_type,
    located_error,
    parse,
    specified_rules,
)
from graphql.execution.get_variable_signature import GraphQLVariableSignature, get_variable_signature
from graphql.execution.values import (
    VariableValues,
    VariableValueSource,
    get_argument_values,
    get_variable_values,
    input_is_nested_too_deeply,
    maybe_use_default_value,
)
from graphql.utilities.coerce_input_value import coerce_input_value
from graphql.pyutils import Path, inspect, is_awaitable, is_iterable
from graphql.type.definition import GraphQLResolveInfo
from graphql.utilities import get_operation_ast, type_from_ast
from strawberry.extensions.field_extension import build_field_extension_resolvers
from strawberry.schema.schema import validate_document
from strawberry.schema.schema_converter import GraphQLCoreConverter, get_arguments
from strawberry.types import ExecutionResult, Info
from strawberry.types.field import StrawberryField

from app.auth.enforce import disclosure_extensions
from app.execution.arguments import Arguments, plan_arguments

# Distinct query texts kept planned; clients send a few (DOCUMENT_CACHE_SIZE in app/schema).
PLAN_CACHE_SIZE = 1024


class NotCompilable(Exception):
    """This operation uses something plans do not cover: strawberry runs it."""


# --- the plan -------------------------------------------------------------------------------

Complete = Callable[["Run", Any, Path], Any]


class FieldPlan:
    """One response key of one object type: how to get its value, and how to complete it."""

    __slots__ = (
        "key", "name", "parent", "nodes", "field_def", "return_type", "non_null", "complete",
        "python_name", "strawberry_field", "static_args", "extension_resolvers", "typename", "arguments",
        "leaf_attribute", "coerce",
    )  # fmt: skip

    def __init__(self, key: str, parent: GraphQLObjectType, nodes: list[FieldNode]) -> None:
        self.key = key
        self.name = nodes[0].name.value
        self.parent = parent
        self.nodes = nodes
        self.typename: str | None = None
        self.python_name: str | None = None  # a plain attribute (strawberry's "basic field")
        self.strawberry_field: StrawberryField | None = None  # a resolver, or field extensions
        self.static_args: dict[str, Any] | None = None
        self.arguments: Arguments | None = None  # None: strawberry's get_arguments converts them
        self.extension_resolvers: list[Callable[..., Any]] = []
        self.field_def: GraphQLField | None = None
        self.return_type: GraphQLOutputType | None = None
        self.non_null = False
        self.complete: Complete = _identity
        # A plain attribute of a leaf type: `execute_fields` takes it in one step when all is well.
        self.leaf_attribute: str | None = None
        self.coerce: Callable[[Any], Any] = _identity_value

    # The value of this field on `source`, completed: a value, or a coroutine that gives it.
    def execute(self, run: Run, source: Any, parent_path: Path | None) -> Any:
        if self.typename is not None:
            return self.typename
        path = Path(parent_path, self.key, self.parent.name)
        try:
            if self.python_name is not None:
                result = getattr(source, self.python_name)
            else:
                result = self._resolve(run, source, path)
                if is_awaitable(result):
                    return self._await_result(run, result, path)
            completed = self.complete(run, result, path)
            if type(completed) is CoroutineType:
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
        """As strawberry's resolver wrapper does: arguments converted, extensions chained."""
        sf = self.strawberry_field
        assert sf is not None and self.field_def is not None and self.return_type is not None
        raw_info = GraphQLResolveInfo(
            self.name, self.nodes, self.return_type, self.parent, path, run.schema, run.fragments,
            None, run.operation, run.variable_values, run.context, is_awaitable, None, None,  # type: ignore[arg-type]
        )  # fmt: skip
        info = run.info_class(_raw_info=raw_info, _field=sf)
        kwargs = self.static_args
        if kwargs is None:
            kwargs = get_argument_values(self.field_def, self.nodes[0], run.variable_values)
        if self.arguments is not None:
            field_args, field_kwargs = self.arguments(source, info, kwargs)
        else:
            field_args, field_kwargs = get_arguments(
                field=sf, source=source, info=info, kwargs=kwargs, config=run.config, scalar_registry=run.scalar_registry
            )
        if not self.extension_resolvers:
            return sf.get_result(source, info=info, args=field_args, kwargs=field_kwargs)
        wants_info = field_kwargs.pop("info", None) is not None

        def get_result(_source: Any, info: Info, **kwargs: Any) -> Any:
            if wants_info:
                kwargs["info"] = info
            return sf.get_result(_source, info=info, args=field_args, kwargs=kwargs)

        resolver: Callable[..., Any] = get_result
        for extension_resolver in self.extension_resolvers:
            resolver = partial(extension_resolver, resolver)
        return resolver(source, info, **field_kwargs)


def _identity(run: Run, value: Any, path: Path) -> Any:
    return value


def _identity_value(value: Any) -> Any:
    return value


def execute_fields(run: Run, fields: list[FieldPlan], source: Any, path: Path | None) -> Any:
    """A dict of the fields' values; a coroutine giving it when some of them are awaited."""
    data: dict[str, Any] = {}
    pending: list[str] | None = None
    for plan in fields:
        if plan.leaf_attribute is not None:
            # Most fields are an attribute and a scalar: no path, no error handling, unless the
            # value is missing, null where it may not be, or does not coerce; then `execute`
            # goes the whole way and words the error.
            try:
                value = getattr(source, plan.leaf_attribute)
                if value is None:
                    if not plan.non_null:
                        data[plan.key] = None
                        continue
                elif not isinstance(value, Exception):
                    coerced = plan.coerce(value)
                    if coerced is not None and coerced is not Undefined:
                        data[plan.key] = coerced
                        continue
            except Exception:  # noqa: S110 (the whole way below raises it again, at its path)
                pass
        value = plan.execute(run, source, path)
        data[plan.key] = value
        if type(value) is CoroutineType:
            if pending is None:
                pending = []
            pending.append(plan.key)
    if pending is None:
        return data
    return _settle_in_turn(data, pending)


async def _settle_in_turn(data: dict[str, Any], keys: list[str]) -> dict[str, Any]:
    """Await one object's pending fields one after the other, in the query's order.

    Not all at once: a task per field cost more than most fields (bench/run.py on SQLite:
    0.45 -> 0.50 of the reference). Loads still batch, because the items of a list are
    settled together (`_settle`) and each of them reaches its next load in the same turn of
    the loop. After a failure that nulls this object (a null for a non-null field) the
    fields not yet run are not run: the object is null whatever they would give.
    """
    for index, key in enumerate(keys):
        try:
            data[key] = await data[key]
        except BaseException:
            for later in keys[index + 1 :]:
                data[later].close()
            raise
    return data


async def _settle(container: Any, keys: list[Any]) -> Any:
    """Await the coroutines at `keys` of `container` (a list's items) together: the loaders
    batch across them.

    Every one is settled before an error propagates, so no work is left running behind the
    answer and no error is recorded after it.
    """
    if len(keys) == 1:
        container[keys[0]] = await container[keys[0]]
        return container
    results = await asyncio.gather(*(container[k] for k in keys), return_exceptions=True)
    failure: BaseException | None = None
    for k, result in zip(keys, results):
        if isinstance(result, BaseException):
            failure = failure or result
        else:
            container[k] = result
    if failure is not None:
        raise failure
    return container


# --- completion -------------------------------------------------------------------------------


def _non_null(inner: Complete, parent: str, field_name: str) -> Complete:
    message = f"Cannot return null for non-nullable field {parent}.{field_name}."

    def complete(run: Run, value: Any, path: Path) -> Any:
        completed = inner(run, value, path)  # raises for an Exception value, as graphql-core does
        if completed is None:
            raise TypeError(message)
        return completed

    return complete


def _leaf(gql_type: Any) -> Complete:
    coerce = gql_type.coerce_output_value

    def complete(run: Run, value: Any, path: Path) -> Any:
        if value is None:
            return None
        if isinstance(value, Exception):
            raise value
        coerced = coerce(value)
        if coerced is None or coerced is Undefined:
            raise TypeError(
                f"Expected `{inspect(gql_type)}.coerce_output_value({inspect(value)})` to return"
                f" non-nullable value, returned: {inspect(coerced)}"
            )
        return coerced

    return complete


def _object(gql_type: GraphQLObjectType, fields: list[FieldPlan], nodes: list[FieldNode]) -> Complete:
    is_type_of = gql_type.is_type_of

    def complete(run: Run, value: Any, path: Path) -> Any:
        if value is None:
            return None
        if isinstance(value, Exception):
            raise value
        if is_type_of is not None and not is_type_of(value, None):  # type: ignore[arg-type]
            raise GraphQLError(f"Expected value of type '{gql_type.name}' but got: {inspect(value)}.", nodes)
        return execute_fields(run, fields, value, path)

    return complete


def _list(inner: Complete, item_non_null: bool, nodes: list[FieldNode], parent: str, field_name: str) -> Complete:
    not_iterable = f"Expected Iterable, but did not find one for field '{parent}.{field_name}'."

    def complete(run: Run, value: Any, path: Path) -> Any:
        if value is None:
            return None
        if isinstance(value, Exception):
            raise value
        if not is_iterable(value):
            raise GraphQLError(not_iterable)
        out: list[Any] = []
        pending: list[int] | None = None
        for index, item in enumerate(value):
            item_path = Path(path, index, None)
            try:
                if is_awaitable(item):
                    completed: Any = _await_item(run, inner, item, item_path, nodes, item_non_null)
                else:
                    completed = inner(run, item, item_path)
                    if type(completed) is CoroutineType:
                        completed = _settle_item(run, completed, item_path, nodes, item_non_null)
            except Exception as raw:
                completed = run.field_error(raw, nodes, item_non_null, item_path)
            if type(completed) is CoroutineType:
                if pending is None:
                    pending = []
                pending.append(index)
            out.append(completed)
        if pending is None:
            return out
        return _settle(out, pending)

    return complete


async def _await_item(run: Run, inner: Complete, item: Any, path: Path, nodes: list[FieldNode], non_null: bool) -> Any:
    try:
        completed = inner(run, await item, path)
        if type(completed) is CoroutineType:
            completed = await completed
        return completed
    except Exception as raw:
        return run.field_error(raw, nodes, non_null, path)


async def _settle_item(run: Run, completed: Any, path: Path, nodes: list[FieldNode], non_null: bool) -> Any:
    try:
        return await completed
    except Exception as raw:
        return run.field_error(raw, nodes, non_null, path)


# --- running a plan ------------------------------------------------------------------------------


class Run:
    """One execution of a plan: the request's context, variables and errors."""

    __slots__ = (
        "schema", "fragments", "operation", "variable_values", "context", "config", "scalar_registry",
        "info_class", "errors", "_error_positions",
    )  # fmt: skip

    def __init__(self, plan: Plan, variable_values: Any, context: Any) -> None:
        self.schema = plan.schema._schema
        self.fragments = plan.fragments
        self.operation = plan.operation
        self.variable_values = variable_values
        self.context = context
        self.config = plan.schema.config
        self.scalar_registry = plan.schema.schema_converter.scalar_registry
        self.info_class = plan.schema.config.info_class
        self.errors: list[GraphQLError] = []
        self._error_positions: set[Path | None] = set()

    def field_error(self, raw: Exception, nodes: list[FieldNode], non_null: bool, path: Path) -> None:
        """Locate the error; raise it on to the parent if this position is non-null, else record it."""
        error = located_error(raw, nodes, path.as_list())
        if non_null:
            raise error
        # As graphql-core: not recorded if this position or a parent was already nulled.
        position: Path | None = path
        while position is not None:
            if position in self._error_positions:
                return None
            position = position.prev
        self._error_positions.add(path)
        self.errors.append(error)
        return None


@dataclass
class Plan:
    schema: strawberry.Schema
    operation: OperationDefinitionNode
    fragments: dict[str, FragmentDefinitionNode]
    fields: list[FieldPlan]
    variables: list[tuple[VariableDefinitionNode, GraphQLVariableSignature]]

    @property
    def operation_name(self) -> str | None:
        return self.operation.name.value if self.operation.name else None

    async def execute(self, variables: dict[str, Any] | None, context: Any) -> ExecutionResult:
        coerced = self._coerce_variables(variables or {})
        if isinstance(coerced, list):
            return ExecutionResult(data=None, errors=coerced)
        run = Run(self, coerced, context)
        data: dict[str, Any] | None
        try:
            data = execute_fields(run, self.fields, None, None)
            if type(data) is CoroutineType:
                data = await data
        except GraphQLError as error:  # a non-null root field was null
            run.errors.append(error)
            data = None
        extensions = disclosure_extensions(getattr(context, "disclosure", None))
        return ExecutionResult(data=data, errors=run.errors or None, extensions=extensions or None)

    def _coerce_variables(self, inputs: dict[str, Any]) -> VariableValues | list[GraphQLError]:
        """graphql-core's get_variable_values, with each variable's signature worked out once.

        A value that does not coerce is handed to get_variable_values itself, which words the
        errors; a valid one is coerced by graphql-core's own functions, as it would be there.
        """
        sources: dict[str, VariableValueSource] = {}
        coerced: dict[str, Any] = {}
        for node, signature in self.variables:
            name = signature.name
            value = inputs.get(name, Undefined)
            if value is Undefined:
                sources[name] = VariableValueSource(signature)
                if node.default_value:
                    failed: list[GraphQLError] = []
                    maybe_use_default_value(coerced, name, signature, lambda error, path: failed.append(error))
                    if failed:
                        break
                    continue
                if is_non_null_type(signature.type):
                    break  # a required variable missing
                continue
            sources[name] = VariableValueSource(signature, value)
            if input_is_nested_too_deeply(value, signature.type):
                break
            value = coerce_input_value(value, signature.type)
            if value is Undefined:
                break
            coerced[name] = value
        else:
            return VariableValues(sources, coerced)
        return get_variable_values(self.schema._schema, self.operation.variable_definitions or (), inputs)


# --- planning ----------------------------------------------------------------------------------


@dataclass
class _Document:
    document: DocumentNode | None
    plans: dict[str | None, Plan | None] = field(default_factory=dict)


class QueryPlanner:
    """Plans for query texts, cached; None where strawberry must run the request instead."""

    def __init__(self, schema: strawberry.Schema, cache_size: int = PLAN_CACHE_SIZE) -> None:
        self.schema = schema
        self.cache_size = cache_size
        self._documents: OrderedDict[str, _Document] = OrderedDict()

    def plan(self, query: str, operation_name: str | None) -> Plan | None:
        entry = self._documents.get(query)
        if entry is None:
            entry = self._documents[query] = _Document(self._valid_document(query))
            if len(self._documents) > self.cache_size:
                self._documents.popitem(last=False)
        else:
            self._documents.move_to_end(query)
        if entry.document is None:
            return None
        if operation_name not in entry.plans:
            try:
                entry.plans[operation_name] = self._plan(entry.document, operation_name)
            except NotCompilable:
                entry.plans[operation_name] = None
        return entry.plans[operation_name]

    def _valid_document(self, query: str) -> DocumentNode | None:
        """The parsed document if it is valid; else None, and strawberry reports the errors."""
        try:
            document = parse(query)
        except GraphQLError:
            return None
        if validate_document(self.schema._schema, document, tuple(specified_rules)):
            return None
        return document

    def _plan(self, document: DocumentNode, operation_name: str | None) -> Plan:
        operation = get_operation_ast(document, operation_name)
        if operation is None or operation.operation is not OperationType.QUERY:
            raise NotCompilable("only queries are planned")
        fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
        root = self.schema._schema.query_type
        assert root is not None
        planner = _OperationPlanner(self.schema, fragments)
        variables = []
        for node in operation.variable_definitions or ():
            signature = get_variable_signature(self.schema._schema, node)
            if isinstance(signature, GraphQLError):
                raise NotCompilable(signature.message)
            variables.append((node, signature))
        return Plan(self.schema, operation, fragments, planner.fields(root, [operation.selection_set]), variables)


class _OperationPlanner:
    def __init__(self, schema: strawberry.Schema, fragments: dict[str, FragmentDefinitionNode]) -> None:
        self.schema = schema
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
        conditional = type_from_ast(self.schema._schema, condition)
        if conditional is parent:
            return True
        if conditional is not None and is_abstract_type(conditional):
            return self.schema._schema.is_sub_type(conditional, parent)  # type: ignore[arg-type]
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
        sf: StrawberryField = field_def.extensions[GraphQLCoreConverter.DEFINITION_BACKREF]
        if self.schema.schema_converter._get_field_exception_handlers(sf):
            raise NotCompilable("field exception handlers")
        plan.field_def = field_def
        plan.return_type = field_def.type
        plan.non_null = isinstance(field_def.type, GraphQLNonNull)
        if sf.is_basic_field and sf.default_resolver is getattr:
            plan.python_name = sf.python_name
        else:
            plan.strawberry_field = sf
            plan.extension_resolvers = build_field_extension_resolvers(sf) if sf.extensions else []
            if not _uses_variables(nodes[0]):
                plan.static_args = get_argument_values(field_def, nodes[0], None)
            plan.arguments = plan_arguments(sf, self.schema.config, self.schema.schema_converter.scalar_registry)
        plan.complete = self._completer(field_def.type, nodes, parent.name, plan.name)
        named = field_def.type.of_type if plan.non_null else field_def.type
        if plan.python_name is not None and is_leaf_type(named):
            plan.leaf_attribute = plan.python_name
            plan.coerce = named.coerce_output_value
        return plan

    def _completer(self, gql_type: GraphQLOutputType, nodes: list[FieldNode], parent: str, name: str) -> Complete:
        if isinstance(gql_type, GraphQLNonNull):
            return _non_null(self._completer(gql_type.of_type, nodes, parent, name), parent, name)
        if isinstance(gql_type, GraphQLList):
            item = gql_type.of_type
            return _list(self._completer(item, nodes, parent, name), isinstance(item, GraphQLNonNull), nodes, parent, name)
        if is_leaf_type(gql_type):
            return _leaf(gql_type)
        if isinstance(gql_type, GraphQLObjectType):
            sets = [n.selection_set for n in nodes if n.selection_set is not None]
            return _object(gql_type, self.fields(gql_type, sets), nodes)
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
