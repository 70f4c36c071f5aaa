"""Scalars whose input strawberry's defaults let through to a fault of ours."""

from __future__ import annotations

import datetime as dt
from operator import methodcaller
from typing import Any

import dateutil.parser
import strawberry
from strawberry.schema.types.base_scalars import wrap_parser


def _parse_datetime(value: str) -> dt.datetime:
    """ISO 8601, as strawberry's DateTime parses it, and within what Python can compare: an
    offset that pushes a time past year 9999 or before year 1 in UTC would fail every comparison
    with another aware time (an OverflowError, deep in a resolver) instead of at the input."""
    parsed = dateutil.parser.isoparse(value)
    if parsed.tzinfo is not None:
        try:
            parsed.astimezone(dt.UTC)
        except OverflowError:
            raise ValueError("it is outside the years 1 to 9999 in UTC") from None
    return parsed


DATETIME = strawberry.scalar(
    name="DateTime",
    description="Date with time (isoformat)",
    serialize=methodcaller("isoformat"),
    parse_value=wrap_parser(_parse_datetime, "DateTime", exceptions=(ValueError, OverflowError)),
)

# For StrawberryConfig(scalar_map=...): Python's datetime is this DateTime.
SCALAR_MAP: dict[object, Any] = {dt.datetime: DATETIME}
