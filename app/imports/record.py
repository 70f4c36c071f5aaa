"""What a parsed import line is: its row, its natural key, and what it refers to."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table
from sqlalchemy.orm import DeclarativeBase

from app.domain.enums import HolderKind

Holder = tuple[HolderKind, str]


@dataclass(frozen=True)
class CatalogueEntry:
    national_code: str
    holder_kind: HolderKind


@dataclass(frozen=True)
class ParseContext:
    catalogue: Mapping[str, CatalogueEntry]  # certificate type code -> entry


@dataclass(slots=True)
class Record:
    """One good line: its table row and what it refers to."""

    kind: str
    key: tuple[Any, ...]  # its natural key within its kind
    row: dict[str, Any]  # every column of its table but the surrogate id
    holder: Holder | None  # the subject it is about (a person or enterprise: itself)
    authorities: tuple[str, ...] = ()  # the authorities it names
    legal_rep: str | None = None  # an enterprise's legal representative
    document: str | None = None  # a certificate's document, when the line gives one


@dataclass(frozen=True)
class Kind:
    table: Table
    conflict: tuple[str, ...]  # the natural key: the unique columns an upsert is keyed on
    label: str  # how the report names its key
    parse: Callable[[Mapping[str, Any], ParseContext], Record]


def table_of(model: type[DeclarativeBase]) -> Table:
    """A model's table, typed as one."""
    table = model.__table__
    assert isinstance(table, Table)
    return table
