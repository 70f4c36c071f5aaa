"""A driver's error raised as SQLAlchemy's exception of the same kind, through its public classes.

Statements run on the drivers (app/db/read.py, app/db/write.py) fail with the exception classes
callers know from SQLAlchemy's execution: a `sqlalchemy.exc.DBAPIError` subclass chosen by the
kind of error (IntegrityError, ProgrammingError, OperationalError, ...), whose `orig` is the
driver's own exception (sqlite3's, as through SQLAlchemy; asyncpg's own, where SQLAlchemy's
would be its adapter's wrapper of it), and a value its column type refuses as a StatementError.
Whether the connection is to be thrown away is the caller's to decide (app/db/request.py,
app/db/write.py); `connection_invalidated` says what it decided.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

import asyncpg
from sqlalchemy import exc

# Most specific first: the first class in the error's MRO found here gives the kind.
SQLITE: dict[type[BaseException], type[exc.DBAPIError]] = {
    sqlite3.IntegrityError: exc.IntegrityError,
    sqlite3.OperationalError: exc.OperationalError,
    sqlite3.ProgrammingError: exc.ProgrammingError,
    sqlite3.DataError: exc.DataError,
    sqlite3.InternalError: exc.InternalError,
    sqlite3.NotSupportedError: exc.NotSupportedError,
    sqlite3.InterfaceError: exc.InterfaceError,
    sqlite3.DatabaseError: exc.DatabaseError,
    sqlite3.Error: exc.DBAPIError,
}
# As SQLAlchemy's asyncpg adapter sorts asyncpg's exceptions.
ASYNCPG: dict[type[BaseException], type[exc.DBAPIError]] = {
    asyncpg.IntegrityConstraintViolationError: exc.IntegrityError,
    asyncpg.SyntaxOrAccessError: exc.ProgrammingError,
    asyncpg.InterfaceError: exc.InterfaceError,
    asyncpg.InternalServerError: exc.InternalError,
    asyncpg.PostgresError: exc.DBAPIError,
}


def driver_error(
    error: BaseException, sql: str, args: Sequence[Any] | Any, *, invalidated: bool = False
) -> exc.DBAPIError:
    """The SQLAlchemy exception for a driver's error. An error that is not the driver's (the
    socket closed under asyncpg, say) is an OperationalError: the database could not be used."""
    kinds = SQLITE if isinstance(error, sqlite3.Error) else ASYNCPG
    kind = next((kinds[c] for c in type(error).__mro__ if c in kinds), exc.OperationalError)
    return kind(sql, _params(args), error, connection_invalidated=invalidated)


def refused_value(error: Exception, sql: str, args: Sequence[Any] | Any) -> exc.StatementError:
    """A parameter its column type refused (a naive timestamp, an unknown enum value)."""
    return exc.StatementError(f"({type(error).__name__}) {error}", sql, _params(args), error)


def _params(args: Sequence[Any] | Any) -> Any:
    return tuple(args) if isinstance(args, list) else args
