"""The hash chain, as pure functions: no database, no clock.

Each entry's `hash` is SHA-256 over its canonical form (every field but `hash`, `prevHash`
included), so changing, removing or reordering an entry breaks every hash after it.
Canonical form: JSON with sorted keys, no spaces, UTF-8, timestamps as UTC ISO 8601 with
microseconds.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

GENESIS = "0" * 64  # the prevHash of the first entry

# The fields of an entry that its hash covers, in the names the API shows.
HASHED_FIELDS = (
    "seq", "at", "requestId", "actorSub", "actorRole", "actorOrg", "clientAddress", "operationName",
    "operationType", "queryHash", "queryText", "variables", "purpose", "consentId", "caseNumber",
    "subjects", "fieldsMasked", "fieldsDenied", "outcome", "errorCodes", "durationMs", "prevHash",
)


# json.dumps with these options makes this encoder on every call; made once, it writes the same.
_CANONICAL_JSON = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def timestamp(at: dt.datetime) -> str:
    utc = at.astimezone(dt.UTC)
    if utc.year < 1000:
        # strftime writes such a year with fewer than four digits (glibc), and hashes already
        # made depend on it; every other timestamp is written faster, the same to the byte.
        return utc.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ" % (
        utc.year, utc.month, utc.day, utc.hour, utc.minute, utc.second, utc.microsecond,
    )


def canonical(entry: Mapping[str, Any]) -> bytes:
    body = {k: entry[k] for k in HASHED_FIELDS}
    if isinstance(body["at"], dt.datetime):
        body["at"] = timestamp(body["at"])
    return _CANONICAL_JSON.encode(body).encode()


# canonical_parts: the keys before "prevHash", between it and "seq", and after "seq", as sorted.
_BEFORE_PREV = tuple(k for k in sorted(HASHED_FIELDS) if k < "prevHash")
_BETWEEN = tuple(k for k in sorted(HASHED_FIELDS) if "prevHash" < k < "seq")
_AFTER_SEQ = tuple(k for k in sorted(HASHED_FIELDS) if k > "seq")


def canonical_parts(entry: Mapping[str, Any]) -> tuple[bytes, bytes, bytes]:
    """The canonical form of an entry not yet given its place in the chain, in three parts: it is
    `first + prevHash + second + seq + third` (the hash as it is, hex; the seq in decimal), the
    same bytes as `canonical` of the entry with both. The database joins them where it gives the
    entry its place (migrations' xz_audit_chain); `prevHash` and `seq` are not read here."""

    def encoded(keys: tuple[str, ...]) -> str:
        body = {k: entry[k] for k in keys}
        if isinstance(body.get("at"), dt.datetime):
            body["at"] = timestamp(body["at"])
        return _CANONICAL_JSON.encode(body)

    first = encoded(_BEFORE_PREV)[:-1] + ',"prevHash":"'
    second = '",' + encoded(_BETWEEN)[1:-1] + ',"seq":'
    third = "," + encoded(_AFTER_SEQ)[1:]
    return first.encode(), second.encode(), third.encode()


def entry_hash(entry: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical(entry)).hexdigest()


def query_hash(query: str | None) -> str | None:
    return hashlib.sha256(query.encode()).hexdigest() if query is not None else None


@dataclass(frozen=True)
class Break:
    """Where the chain stops being valid, and why."""

    seq: int
    reason: str
