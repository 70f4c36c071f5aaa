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
        raise BadUserInput("pagination.first_required")
    if not 1 <= first <= MAX_PAGE_SIZE:
        raise BadUserInput("pagination.first_range", maximum=MAX_PAGE_SIZE)
    return first


def encode_cursor(key: list[Any]) -> str:
    """An opaque cursor: the sort key of the last row seen."""
    return base64.urlsafe_b64encode(json.dumps(key, separators=(",", ":")).encode()).decode()


# A cursor's integers are database keys: 64-bit, signed.
_INT_RANGE = range(-(2**63), 2**63)


def decode_cursor(cursor: str, kinds: tuple[type, ...]) -> list[Any]:
    """The sort key a cursor holds, each part of the kind given (`str` or `int`); a cursor this
    service did not give out is BAD_USER_INPUT, whatever it holds."""
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (ValueError, binascii.Error, UnicodeError, RecursionError):
        raise BadUserInput("pagination.bad_cursor") from None
    if not (
        isinstance(key, list)
        and len(key) == len(kinds)
        and all(type(k) is kind and (kind is not int or k in _INT_RANGE) for k, kind in zip(key, kinds, strict=True))
        and all("\x00" not in k for k in key if isinstance(k, str))
    ):
        raise BadUserInput("pagination.bad_cursor")
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
