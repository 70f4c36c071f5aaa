"""The hot reads: the SELECTs that run on the drivers themselves, compiled once (app/db/read.py).

A statement runs that way only if it is registered here, by name, where it is defined:

    PERSONS = hot("persons", select(persons).where(persons.c.id_number.in_(KEYS)))

Every other statement runs through SQLAlchemy's own execution. The registry is the one list of
them: `RequestDatabase` and the audit writer look statements up in it, and
tests/integration/test_compiled_reads.py compares every one of them, on both databases, with
SQLAlchemy's execution. A registered statement that the fast path cannot run (a column type
app/db/convert.py does not know, a parameter rendered at execution) fails when it is first
compiled, not silently elsewhere.
"""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import Select

S = TypeVar("S", bound=Select[Any])

HOT_READS: dict[str, Select[Any]] = {}
_names: dict[int, str] = {}  # id of a registered statement -> its name (they live as long as the registry)


def hot(name: str, statement: S) -> S:
    """Register a module-level SELECT to run on the driver; returns it unchanged."""
    if not isinstance(statement, Select):
        raise TypeError(f"{name}: only SELECTs run on the driver")
    if HOT_READS.get(name, statement) is not statement:
        raise ValueError(f"another statement is registered as {name!r}")
    HOT_READS[name] = statement
    _names[id(statement)] = name
    return statement


def name_of(statement: Any) -> str | None:
    """The name a statement is registered under, or None."""
    name = _names.get(id(statement))
    if name is None or HOT_READS[name] is not statement:
        return None
    return name
