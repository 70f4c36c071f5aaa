"""Declarative base, naming convention and the column types the models share."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from enum import StrEnum
from typing import ClassVar

from sqlalchemy import BigInteger, DateTime, Enum, MetaData, String, Table
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator

# Stable constraint names, so that alembic migrations are the same on SQLite and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    # Every model maps one table: `Model.__table__` is a Table (inserts, updates), not any FromClause.
    __table__: ClassVar[Table]


class UTCDateTime(TypeDecorator[dt.datetime]):
    """An aware UTC timestamp on every database (SQLite keeps no zone of its own)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("timestamps must be timezone-aware")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


class Money(TypeDecorator[Decimal]):
    """Yuan as an exact Decimal, stored as integer fen: no floats, and SQLite has no decimal."""

    impl = BigInteger
    cache_ok = True

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> int | None:
        if value is None:
            return None
        fen = Decimal(value) * 100
        if fen != fen.to_integral_value():
            raise ValueError(f"{value} has more than two decimal places")
        return int(fen)

    def process_result_value(self, value: int | None, dialect: Dialect) -> Decimal | None:
        return None if value is None else (Decimal(value) / 100).quantize(Decimal("0.01"))


def enum_column(enum: type[StrEnum], *, stored: frozenset[StrEnum] | None = None) -> Enum:
    """Enums are stored by value as plain strings, checked by the database.

    `stored` narrows what may be written: a derived value such as EXPIRED never is, and the
    database refuses it. Such a column reads back as plain strings (equal to the StrEnum).
    """
    common = dict(native_enum=False, create_constraint=True, length=24, name=enum.__name__.lower())
    if stored is not None:
        return Enum(*[m.value for m in enum if m in stored], **common)
    return Enum(
        enum,
        values_callable=lambda e: [m.value for m in e],
        validate_strings=True,
        **common,
    )


ID18 = String(18)  # citizen ID numbers and credit codes
