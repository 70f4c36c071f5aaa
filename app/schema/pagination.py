"""Relay-style connections for the lists that grow without bound (SPEC section 5)."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import strawberry

from app.errors import BadUserInput

T = TypeVar("T")
MAX_PAGE_SIZE = 100


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type
class Edge(Generic[T]):
    node: T
    cursor: str


@strawberry.type
class Connection(Generic[T]):
    edges: list[Edge[T]]
    page_info: PageInfo


def page_size(first: int | None) -> int:
    if first is None:
        raise BadUserInput("first is required")
    if not 1 <= first <= MAX_PAGE_SIZE:
        raise BadUserInput(f"first must be between 1 and {MAX_PAGE_SIZE}")
    return first


def encode_cursor(key: list[Any]) -> str:
    """An opaque cursor: the sort key of the last row seen."""
    return base64.urlsafe_b64encode(json.dumps(key, separators=(",", ":")).encode()).decode()


def decode_cursor(cursor: str, arity: int) -> list[Any]:
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise BadUserInput("after is not a cursor this service gave out") from None
    if not isinstance(key, list) or len(key) != arity or not all(isinstance(k, (str, int)) for k in key):
        raise BadUserInput("after is not a cursor this service gave out")
    return key


@dataclass(frozen=True)
class Page(Generic[T]):
    """Rows fetched with one extra to learn whether another page follows."""

    nodes: list[T]
    cursors: list[str]
    has_next_page: bool

    def connection(self) -> Connection[T]:
        edges = [Edge(node=n, cursor=c) for n, c in zip(self.nodes, self.cursors, strict=True)]
        return Connection(
            edges=edges,
            page_info=PageInfo(has_next_page=self.has_next_page, end_cursor=self.cursors[-1] if self.cursors else None),
        )
