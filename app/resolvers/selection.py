"""The fields a query selects on a field's object, worked out once per operation.

A root resolver asks the gate for its subject; the gate asks for the rows the selected fields
will read at the same time as the subject's consent (app/auth/gate.py `reads`), so that on
PostgreSQL they all go in one round trip. Which fields are selected comes from strawberry's
`Info.selected_fields`, fragments flattened; `@skip` and `@include` are not applied, so the
answer may name a field the request will not resolve (its rows are then read for nothing),
never leave one out that it will. `selected_fields` walks the whole selection below the field
each time it is asked, so the names are kept per parsed operation (strawberry's parser cache
gives the same document for the same query text) and response path, as the executor keeps its
plans (app/execution/executor.py).
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable, Iterator
from functools import partial
from typing import Any

from strawberry.types import Info
from strawberry.types.nodes import FragmentSpread, InlineFragment, SelectedField, Selection

MAX_OPERATIONS = 1024  # operations whose selections are kept (one per distinct query text in use)

# id(operation) -> (a weak reference to the operation, names by response path)
_kept: dict[int, tuple[weakref.ref[Any], dict[tuple[str | int, ...], frozenset[str]]]] = {}


def selected_fields(info: Info[Any, Any]) -> frozenset[str]:
    """The names of the fields selected on the object this field returns."""
    operation = info.operation
    key = id(operation)
    entry = _kept.get(key)
    if entry is None or entry[0]() is not operation:
        if len(_kept) >= MAX_OPERATIONS:
            del _kept[next(iter(_kept))]
        entry = _kept[key] = (weakref.ref(operation, partial(_forget, key)), {})
    path = tuple(info.path.as_list())
    names = entry[1].get(path)
    if names is None:
        names = entry[1][path] = frozenset(name for field in info.selected_fields for name in _names(field.selections))
    return names


def _names(selections: Iterable[Selection]) -> Iterator[str]:
    for selection in selections:
        if isinstance(selection, SelectedField):
            yield selection.name
        elif isinstance(selection, (FragmentSpread, InlineFragment)):
            yield from _names(selection.selections)


def _forget(key: int, gone: weakref.ref[Any]) -> None:
    entry = _kept.get(key)
    if entry is not None and entry[0] is gone:
        del _kept[key]
