"""`column IN (the values of one parameter)`, written the way each database takes it best."""

from __future__ import annotations

import functools
from typing import Any

from sqlalchemy import BindParameter, String, any_, bindparam
from sqlalchemy.dialects import postgresql
from sqlalchemy.sql import ColumnElement


def among(dialect_name: str, column: ColumnElement[str], name: str = "keys") -> ColumnElement[bool]:
    """`column` is one of the list given as parameter `name`.

    PostgreSQL: one array parameter, `column = ANY(:name)`, the same statement for every list
    (an expanded IN of 2,000 keys is rendered, sent and planned anew each time: seconds of a
    large seed, bench/README.md). Elsewhere an expanded IN: keep each list to a few hundred keys."""
    if dialect_name == "postgresql":
        return column == any_(_parameter(name, array=True))
    return column.in_(_parameter(name, array=False))


@functools.cache
def _parameter(name: str, *, array: bool) -> BindParameter[Any]:
    """One parameter object for every statement that uses it. Measured: with a new one for each
    statement made (a batch's look-up), an import's memory grew by 13 bytes a record more
    (`tests/integration/import_memory.py`, 3,100 persons on PostgreSQL: 65 against 52)."""
    if array:
        return bindparam(name, type_=postgresql.ARRAY(String))
    return bindparam(name, expanding=True)
