"""The conversions between the models' column types and the drivers' values, written out.

Statements run on the drivers (app/db/read.py, app/db/write.py) convert their values with these
instead of SQLAlchemy's processors: one converter per column or parameter, chosen once per
statement from its SQLAlchemy type, by this table:

    type               SQLite (sqlite3) bind / result        PostgreSQL (asyncpg) bind / result
    String, Text       -                                     -
    Integer, BigInt    -                                     -
    Enum               member -> stored string, checked /    the same
                       stored string -> member (or the
                       string, for an Enum of strings)
    Date               "YYYY-MM-DD" / date.fromisoformat     - (asyncpg's own codec)
    DateTime           "YYYY-MM-DD HH:MM:SS.ffffff" / back   - (asyncpg's own codec)
    JSON               json.dumps (None is JSON null) /      json.dumps / - (the JSON codec
                       json.loads                            SQLAlchemy sets on its connections)
    TypeDecorator      its process_bind_param, then its impl's / its impl's, then process_result_value

These are what SQLAlchemy's own processors do for these types with the engines of
app/db/session.py (no custom JSON serializer); tests/integration/test_compiled_reads.py and
tests/audit/test_driver_appends.py compare both ways on both databases. A type not in the table
raises TypeError when a statement using it is compiled: add it here, with a test, first.
Every converter takes None and gives None back (a TypeDecorator decides for itself, as in
SQLAlchemy).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any

from sqlalchemy import JSON, Date, DateTime, Enum, Integer, String
from sqlalchemy.engine import Dialect
from sqlalchemy.types import NullType, TypeDecorator, TypeEngine

Converter = Callable[[Any], Any]

SQLITE_DATETIME = "%04d-%02d-%02d %02d:%02d:%02d.%06d"  # SQLAlchemy's storage format for SQLite


def bind_converter(type_: TypeEngine[Any], dialect: Dialect) -> Converter | None:
    """How a Python value of this type is given to the driver (None: as it is)."""
    if isinstance(type_, TypeDecorator):
        return _decorated_bind(type_, dialect)
    if isinstance(type_, Enum):
        return _enum_bind(type_)
    if isinstance(type_, JSON):
        return _json_bind
    if isinstance(type_, DateTime):
        return _sqlite_datetime_bind if _sqlite(dialect) else None
    if isinstance(type_, Date):
        return _sqlite_date_bind if _sqlite(dialect) else None
    if isinstance(type_, (String, Integer, NullType)):
        return None
    raise TypeError(f"no driver conversion for {type_!r}: add it to app/db/convert.py")


def result_converter(type_: TypeEngine[Any], dialect: Dialect) -> Converter | None:
    """How the driver's value of a column of this type becomes the Python value (None: as it is)."""
    if isinstance(type_, TypeDecorator):
        return _decorated_result(type_, dialect)
    if isinstance(type_, Enum):
        return _enum_result(type_)
    if isinstance(type_, JSON):
        return _json_result if _sqlite(dialect) else None
    if isinstance(type_, DateTime):
        return _sqlite_datetime_result if _sqlite(dialect) else None
    if isinstance(type_, Date):
        return _sqlite_date_result if _sqlite(dialect) else None
    if isinstance(type_, (String, Integer)):
        return None
    raise TypeError(f"no driver conversion for {type_!r}: add it to app/db/convert.py")


def _sqlite(dialect: Dialect) -> bool:
    return dialect.name == "sqlite"


def _decorated_bind(type_: TypeDecorator[Any], dialect: Dialect) -> Converter:
    inner = bind_converter(type_.impl_instance, dialect)
    process = type_.process_bind_param
    if inner is None:
        return lambda value: process(value, dialect)
    return lambda value: inner(process(value, dialect))


def _decorated_result(type_: TypeDecorator[Any], dialect: Dialect) -> Converter:
    inner = result_converter(type_.impl_instance, dialect)
    process = type_.process_result_value
    if inner is None:
        return lambda value: process(value, dialect)
    return lambda value: process(inner(value), dialect)


def _enum_members(type_: Enum) -> dict[str, Any]:
    """Stored string -> the Python value a row holds: the member, or the string itself."""
    if type_.enum_class is None:
        return {value: value for value in type_.enums}
    return dict(zip(type_.enums, type_.enum_class.__members__.values(), strict=True))


def _enum_bind(type_: Enum) -> Converter:
    stored = {member: value for value, member in _enum_members(type_).items()}
    stored.update({value: value for value in type_.enums})
    stored[None] = None  # type: ignore[assignment]
    loose = not type_.validate_strings

    def bind(value: Any) -> Any:
        try:
            return stored[value]
        except (KeyError, TypeError):
            if loose and isinstance(value, str):
                return value
            raise LookupError(
                f"'{value}' is not among the defined enum values. Enum name: {type_.name}. "
                f"Possible values: {', '.join(type_.enums)}"
            ) from None

    return bind


def _enum_result(type_: Enum) -> Converter | None:
    members = _enum_members(type_)
    if all(member is value for value, member in members.items()):
        return None  # an Enum of strings reads back its strings
    members[None] = None  # type: ignore[index]

    def result(value: Any) -> Any:
        try:
            return members[value]
        except KeyError:
            raise LookupError(f"'{value}' is not among the defined enum values. Enum name: {type_.name}.") from None

    return result


def _json_bind(value: Any) -> str:
    return json.dumps(value)  # None too: JSON null, as SQLAlchemy stores it (none_as_null is off)


def _json_result(value: Any) -> Any:
    return None if value is None else json.loads(value)


def _sqlite_date_bind(value: dt.date | None) -> str | None:
    return None if value is None else "%04d-%02d-%02d" % (value.year, value.month, value.day)


def _sqlite_date_result(value: str | None) -> dt.date | None:
    return None if value is None else dt.date.fromisoformat(value)


def _sqlite_datetime_bind(value: dt.datetime | None) -> str | None:
    if value is None:
        return None
    return SQLITE_DATETIME % (
        value.year, value.month, value.day, value.hour, value.minute, value.second, value.microsecond,
    )  # fmt: skip


def _sqlite_datetime_result(value: str | None) -> dt.datetime | None:
    return None if value is None else dt.datetime.fromisoformat(value)
