"""Running a plan (app/execution/plan.py) with graphql-core's semantics.

An object's fields and a list's items are settled as graphql-core's executor settles them:
each is started in the query's order, what does not wait is done at once, and what waits
(the database, a loader) is awaited concurrently with its siblings, with graphql-core's own
`gather_with_cancel`. So errors, disclosures and audit records are made in the order
graphql-core makes them. Errors are located at their paths, a null in a non-null position
propagates to the nearest nullable parent, and errors under a nulled position are dropped,
as graphql-core's executor does. Every field that is not a plain attribute is resolved by
the resolver strawberry built for it (`GraphQLField.resolve`: argument conversion, field
extensions and all), with graphql-core's own resolve info, and its policy guard around it.
"""

from __future__ import annotations

from collections.abc import Callable
from types import CoroutineType
from typing import TYPE_CHECKING, Any

from graphql import FieldNode, GraphQLError, GraphQLObjectType, Undefined, located_error
from graphql.pyutils import Path, gather_with_cancel, inspect, is_awaitable, is_iterable

from app.execution.awaiting import Unstarted, discard, is_unstarted

if TYPE_CHECKING:
    from graphql import Executor

    from app.execution.plan import FieldPlan

Complete = Callable[["Run", Any, Path], Any]


class Run:
    """One execution of a plan: the executor's state (context, variables...) and the errors."""

    __slots__ = ("_error_positions", "context", "errors", "executor", "variable_values")

    def __init__(self, executor: Executor) -> None:
        self.executor = executor
        self.context = executor.context_value
        self.variable_values = executor.variable_values
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


def execute_fields(run: Run, fields: list[FieldPlan], source: Any, path: Path | None) -> Any:
    """A dict of the fields' values; a coroutine giving it when some of them are awaited."""
    data: dict[str, Any] = {}
    try:
        _execute_into(data, run, fields, source, path)
    except BaseException:
        # A non-null field failed at once and nulls this object: its siblings not yet run never will.
        for value in data.values():
            discard(value)
        raise
    pending = [key for key, value in data.items() if type(value) is CoroutineType]
    if not pending:
        return data
    return _settle(data, pending)


def _execute_into(data: dict[str, Any], run: Run, fields: list[FieldPlan], source: Any, path: Path | None) -> None:
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
            except Exception:
                pass
        data[plan.key] = plan.execute(run, source, path)


async def _settle(container: Any, keys: list[Any]) -> Any:
    """Await the coroutines at `keys` of `container` (an object's fields, a list's items) as
    graphql-core's executor does: one as it is, several together (`gather_with_cancel`: when
    one fails, the others are cancelled and settled before the failure propagates, so no work
    is left running behind the answer). Together, they reach their loads in the same turn of
    the event loop, and the loaders batch across them.

    A coroutine cancelled before it started (a sibling failed first, or this object was
    cancelled from above) is closed here with what it holds (app/execution/awaiting.py):
    each is handed over as `Unstarted`, so the cancellation ends the task's own wrapper, and
    the coroutine is still whole for `discard`."""
    if len(keys) == 1:
        container[keys[0]] = await container[keys[0]]
        return container
    try:
        results = await gather_with_cancel(*(Unstarted(container[k]) for k in keys))
    except BaseException:
        for k in keys:
            if is_unstarted(container[k]):
                discard(container[k])
        raise
    for k, result in zip(keys, results, strict=True):
        container[k] = result
    return container


# --- completion: one function per position of a field's type, made when the query is planned --


def identity(run: Run, value: Any, path: Path) -> Any:
    return value


def non_null(inner: Complete, parent: str, field_name: str) -> Complete:
    message = f"Cannot return null for non-nullable field {parent}.{field_name}."

    def complete(run: Run, value: Any, path: Path) -> Any:
        completed = inner(run, value, path)  # raises for an Exception value, as graphql-core does
        if completed is None:
            raise TypeError(message)
        return completed

    return complete


def leaf(gql_type: Any) -> Complete:
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


def object_(gql_type: GraphQLObjectType, fields: list[FieldPlan], nodes: list[FieldNode]) -> Complete:
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


def list_(inner: Complete, item_non_null: bool, nodes: list[FieldNode], parent: str, field_name: str) -> Complete:
    not_iterable = f"Expected Iterable, but did not find one for field '{parent}.{field_name}'."

    def complete(run: Run, value: Any, path: Path) -> Any:
        if value is None:
            return None
        if isinstance(value, Exception):
            raise value
        if not is_iterable(value):
            raise GraphQLError(not_iterable)
        out: list[Any] = []
        try:
            _complete_items(run, inner, value, path, nodes, item_non_null, out)
        except BaseException:
            for completed in out:  # a non-null item failed at once: the list is null, its other items unsettled
                discard(completed)
            raise
        pending = [index for index, completed in enumerate(out) if type(completed) is CoroutineType]
        if not pending:
            return out
        return _settle(out, pending)

    return complete


def _complete_items(
    run: Run, inner: Complete, value: Any, path: Path, nodes: list[FieldNode], item_non_null: bool, out: list[Any]
) -> None:
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
            run.field_error(raw, nodes, item_non_null, item_path)
            completed = None
        out.append(completed)


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
