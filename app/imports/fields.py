"""Reading the fields of one import line, collecting every problem rather than stopping at the first.

Each reader method returns the parsed value, or None after noting why it could not; the kind's
parser raises `BadRecord` with all the notes at the end. Lengths come from the table columns,
so a value the database would refuse is a bad line here, never a failure half-way through.

A reason is a text of the catalogue (app/i18n), made only for a bad line: the import report
writes it in English (`str()`), and an issuer's mutation, whose input this parser checks too
(app/decisions.py), in the language of its request.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import time
from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any, TypeVar

from sqlalchemy import Column

from app import clock
from app.clock import CHINA_STANDARD_TIME
from app.domain.enums import HolderKind
from app.i18n import Text
from app.identifiers import InvalidIdentifier, is_text, parse_holder_id

E = TypeVar("E", bound=StrEnum)
R = TypeVar("R")

# Up to 2**63 fen (the column is a BIGINT of fen), with margin: more than any real amount.
MAX_YUAN = Decimal(10) ** 15
PHONE = re.compile(r"^\+?[0-9][0-9 ()-]{4,30}$")
# The days a date may name: wider than any real decision, record or certificate, and narrow
# enough that the rules' date arithmetic (months of publication, years of recency) stays inside
# the calendar: a penalty decided on 9999-12-31 was written, and every read of its holder failed.
# An end date (`end=True`) may also be 9999-12-31 (dt.date.max), which registers write for "no
# end" (长期).
FIRST_DAY = dt.date(1900, 1, 1)
LAST_DAY = dt.date(2999, 12, 31)
# How deep a JSON object field (a certificate's `data`) may nest: far more than a certificate's
# fields need, and far from Python's recursion limit, which a deeper one would reach here.
MAX_DEPTH = 32


class BadRecord(ValueError):
    """A line that cannot be imported; `reasons` says every why.

    `subject` is the person or enterprise the line would have given, when its identifier was
    good: lines that refer to it are then not blamed for a missing holder as well.
    """

    def __init__(self, reasons: list[Text], subject: tuple[HolderKind, str] | None = None) -> None:
        super().__init__(reasons)
        self.reasons = reasons
        self.subject = subject

    def __str__(self) -> str:
        return "; ".join(map(str, self.reasons))


class FieldReader:
    """The fields of one line of one kind."""

    def __init__(self, obj: Mapping[str, Any], fields: frozenset[str]) -> None:
        self.obj = obj
        self.errors: list[Text] = []
        if not fields.issuperset(obj):
            unknown = sorted(set(obj) - fields - {"kind"})
            if unknown:
                self.fail("import.unknown_fields", fields=", ".join(unknown))

    def fail(self, key: str, /, **params: object) -> None:
        """Note why the line is bad: a text of the catalogue's [import], and its parameters."""
        self.errors.append(Text(key, params))

    def _value(self, name: str, *, optional: bool, nullable: bool = False) -> Any:
        if name not in self.obj:
            if not optional:
                self.fail("import.missing", name=name)
            return None
        value = self.obj[name]
        if value is None and not (optional or nullable):
            self.fail("import.required", name=name)
        return value

    def text(self, name: str, column: Column[Any], *, optional: bool = False) -> str | None:
        value = self._value(name, optional=optional)
        if value is None:
            return None
        if not isinstance(value, str):
            self.fail("import.not_string", name=name)
            return None
        value = value.strip()
        if not value:
            if not optional:
                self.fail("import.blank", name=name)
            return None
        limit = getattr(column.type, "length", None)
        if limit is not None and len(value) > limit:
            self.fail("import.too_long", name=name, limit=limit)
            return None
        if not is_text(value):  # PostgreSQL refuses NUL in text, and every database a lone surrogate
            self.fail("import.not_text", name=name)
            return None
        return value

    def phone(self, name: str, column: Column[Any]) -> str | None:
        value = self.text(name, column, optional=True)
        if value is not None and not PHONE.match(value):
            self.fail("import.phone", name=name, value=value)
            return None
        return value

    def date(self, name: str, *, optional: bool = False, end: bool = False) -> dt.date | None:
        """A day from FIRST_DAY to LAST_DAY; with `end` (a validity's last day), to dt.date.max."""
        value = self._value(name, optional=optional)
        if value is None:
            return None
        try:
            if not isinstance(value, str):
                raise ValueError
            day = dt.date.fromisoformat(value)
        except ValueError:
            self.fail("import.date", name=name, value=value)
            return None
        last = dt.date.max if end else LAST_DAY
        if not FIRST_DAY <= day <= last:
            self.fail("import.date_range", name=name, first=FIRST_DAY.isoformat(), last=last.isoformat(), value=value)
            return None
        return day

    def timestamp(self, name: str, *, optional: bool = False, end_of_day: bool = False) -> dt.datetime | None:
        """An ISO 8601 date-time; without an offset it is China Standard Time (the city's own).

        A bare date means the start of that day, or with `end_of_day` its last second: a
        consent "valid until 2027-12-31" holds through that day.
        """
        value = self._value(name, optional=optional)
        if value is None:
            return None
        if not isinstance(value, str):
            self.fail("import.timestamp_not_string", name=name)
            return None
        try:
            if len(value) == 10:
                day = dt.date.fromisoformat(value)
                moment = dt.datetime.combine(day, dt.time.max if end_of_day else dt.time.min).replace(microsecond=0)
            else:
                moment = dt.datetime.fromisoformat(value)
        except ValueError:
            self.fail("import.timestamp", name=name, value=value)
            return None
        return moment.replace(tzinfo=CHINA_STANDARD_TIME) if moment.tzinfo is None else moment

    def enum(
        self,
        name: str,
        enum: type[E],
        *,
        allowed: frozenset[E] | None = None,
        why_not: Text | None = None,
        terms: Mapping[str, E] | None = None,
    ) -> E | None:
        """A member by its name, or (`terms`) by another word for it."""
        value = self._value(name, optional=False)
        if value is None:
            return None
        member = _member(enum, value)
        if member is None and terms is not None and isinstance(value, str):
            member = terms.get(value)
        if member is not None and (allowed is None or member in allowed):
            return member
        if member is None:
            choices = [m.value for m in enum if allowed is None or m in allowed] + list(terms or ())
            self.fail("import.enum_choice", name=name, choices=", ".join(choices), value=value)
        elif why_not is not None:
            self.fail("import.enum_not_allowed_why", name=name, value=member.value, why=why_not)
        else:
            self.fail("import.enum_not_allowed", name=name, value=member.value)
        return None

    def enums(self, name: str, enum: type[E]) -> list[E] | None:
        """A non-empty list of enum values, duplicates dropped, in the enum's own order."""
        value = self._value(name, optional=False)
        if value is None:
            return None
        if not isinstance(value, list) or not value:
            self.fail("import.not_list", name=name)
            return None
        bad = [v for v in value if _member(enum, v) is None]
        if bad:
            self.fail("import.list_values", name=name, allowed=", ".join(enum), bad=", ".join(map(repr, bad)))
            return None
        return [m for m in enum if m.value in value]

    def money(self, name: str) -> Decimal | None:
        """Yuan, exact, at most two decimals; present but may be null (no amount)."""
        value = self._value(name, optional=False, nullable=True)
        if value is None:
            return None
        try:
            # Floats are binary fractions: 0.1 is not 0.1. JSON numbers reach here as Decimal.
            if isinstance(value, (bool, float)) or not isinstance(value, (int, str, Decimal)):
                raise InvalidOperation
            amount = Decimal(value.strip() if isinstance(value, str) else value)
            if not amount.is_finite():
                raise InvalidOperation
        except InvalidOperation:
            self.fail("import.money_format", name=name)
            return None
        if amount < 0 or amount >= MAX_YUAN or amount != amount.quantize(Decimal("0.01")):
            self.fail("import.money_range", name=name, value=value)
            return None
        return amount

    def json_object(self, name: str) -> dict[str, Any]:
        value = self._value(name, optional=True)
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.fail("import.not_object", name=name)
            return {}
        if _depth(value) > MAX_DEPTH:
            self.fail("import.too_deep", name=name, limit=MAX_DEPTH)
            return {}
        if not _all_text(value):
            self.fail("import.not_text", name=name)
            return {}
        plain: dict[str, Any] = _plain(value)
        return plain

    def id_number(self, name: str) -> str | None:
        return self._identifier(name, HolderKind.PERSON, self._value(name, optional=False))

    def credit_code(self, name: str) -> str | None:
        return self._identifier(name, HolderKind.ENTERPRISE, self._value(name, optional=False))

    def _identifier(self, name: str, kind: HolderKind, value: Any) -> str | None:
        if value is None:
            return None
        if not isinstance(value, str):
            self.fail("import.not_string", name=name)
            return None
        canonical, why = checked_identifier(kind, value, _today())
        if why:
            self.fail("import.identifier", name=name, why=why)
        return canonical

    def holder(self) -> tuple[HolderKind, str] | None:
        """The (holder_kind, holder_id) pair: the kind says which standard the id follows."""
        kind = self.enum("holder_kind", HolderKind)
        value = self._value("holder_id", optional=False)
        if kind is None or value is None:
            return None
        holder_id = self._identifier("holder_id", kind, value)
        return (kind, holder_id) if holder_id else None


_DAY: list[Any] = [-1.0, None]  # [monotonic second when asked, the city's date then]


def _today() -> dt.date:
    """The city's date (app/clock.py), asked at most once a second: every identifier needs it."""
    second = time.monotonic() // 1
    if second != _DAY[0]:
        _DAY[:] = [second, clock.today()]
    today: dt.date = _DAY[1]
    return today


@functools.lru_cache(maxsize=1 << 17)
def checked_identifier(kind: HolderKind, value: str, today: dt.date) -> tuple[str | None, Text | None]:
    """(canonical, None) or (None, why). Cached: a holder's id recurs on each of its lines,
    an authority's on thousands, and checking is the costliest part of reading a line.
    `today` is in the key because it is in the check (no birth dates after it)."""
    try:
        return parse_holder_id(kind, value), None
    except InvalidIdentifier as e:
        return None, e.text


@functools.cache
def _members(enum: type[E]) -> dict[str, E]:
    return {m.value: m for m in enum}


def _member(enum: type[E], value: Any) -> E | None:
    return _members(enum).get(value) if isinstance(value, str) else None


def _depth(value: Any) -> int:
    """How many containers deep a JSON value nests ({}: 1, {"a": []}: 2), counted level by level
    without recursion, and no further than MAX_DEPTH + 1."""
    depth, level = 0, [value]
    while depth <= MAX_DEPTH:
        containers = [c for c in level if isinstance(c, dict | list)]
        if not containers:
            break
        depth += 1
        level = [v for c in containers for v in (c.values() if isinstance(c, dict) else c)]
    return depth


def _all_text(value: Any) -> bool:
    """Whether every string of a JSON value (keys too) is text (`is_text`); it nests MAX_DEPTH at most."""
    if isinstance(value, str):
        return is_text(value)
    if isinstance(value, dict):
        return all(is_text(str(k)) and _all_text(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_all_text(v) for v in value)
    return True


def _plain(value: Any) -> Any:
    """JSON values as JSON types: exact decimals (how lines are parsed) back to numbers."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() and "." not in str(value) else float(value)
    return value


def done(r: FieldReader, record: Callable[[], R], subject: tuple[HolderKind, str] | None = None) -> R:
    """The record, or BadRecord with every reason; `subject`: the person or enterprise the line gives."""
    if r.errors:
        raise BadRecord(r.errors, subject)
    return record()


def in_order(r: FieldReader, row: Mapping[str, Any], first: str, then: str) -> None:
    """Note it when `then` comes before `first` (both given and valid)."""
    a, b = row[first], row[then]
    if isinstance(a, (dt.date, dt.datetime)) and isinstance(b, type(a)) and b < a:
        r.fail("import.order", then=then, later=b.isoformat(), first=first, earlier=a.isoformat())
