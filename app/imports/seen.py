"""The natural keys of the good lines an import has read, kept small enough for millions of lines.

Persons, enterprises and authorities are kept exactly, as sets of their identifiers: other
lines refer to them, and their scores are recomputed at the end. Every other kind needs its
keys only to find a key given twice, so it keeps a 64-bit hash of each in compact arrays
(8 bytes a key, where a dict of keys and line numbers took about 250). A hash seen twice is
only a candidate: at the end, and only if there is one, the input is read again to find the
lines that really give the same key (a collision of two different keys is not a duplicate).
"""

from __future__ import annotations

import itertools
from array import array
from collections import defaultdict
from collections.abc import Iterable, Iterator
from typing import Any

from app.domain.enums import HolderKind
from app.imports.record import Holder, Record

Loc = tuple[int, int]  # (source index, line number)
EXACT = ("person", "enterprise", "authority")
BUCKETS = 64  # hashes are sorted per bucket at the end: a 64th of them at a time


class Seen:
    """Keys of good lines; `repeated` finds the lines that give a key already given."""

    def __init__(self) -> None:
        self.exact: dict[str, set[str]] = {kind: set() for kind in EXACT}
        self._hashes: dict[str, list[array[int]]] = defaultdict(lambda: [array("q") for _ in range(BUCKETS)])
        self._repeated_exact: dict[str, set[Any]] = defaultdict(set)

    def add(self, record: Record) -> bool:
        """Note a good line's key; False when it is a key this import has given before (exact kinds)."""
        keys = self.exact.get(record.kind)
        if keys is not None:
            key = record.key[0]
            if key in keys:
                self._repeated_exact[record.kind].add(key)
                return False
            keys.add(key)
            return True
        h = hash(record.key)
        self._hashes[record.kind][h % BUCKETS].append(h)
        return True

    def given(self, holder: Holder) -> bool:
        """Whether this subject is on a good line read so far."""
        return holder[1] in self.exact["person" if holder[0] is HolderKind.PERSON else "enterprise"]

    def authority_given(self, code: str) -> bool:
        return code in self.exact["authority"]

    def candidates(self) -> dict[str, set[Any]]:
        """Per kind, the keys (exact kinds) or key hashes (others) seen more than once."""
        found: dict[str, set[Any]] = {kind: set(keys) for kind, keys in self._repeated_exact.items()}
        for kind, buckets in self._hashes.items():
            for bucket in buckets:
                ordered = sorted(bucket)
                twice = {a for a, b in itertools.pairwise(ordered) if a == b}
                if twice:
                    found.setdefault(kind, set()).update(twice)
        return found

    def repeated(
        self, candidates: dict[str, set[Any]], lines: Iterable[tuple[Loc, Record | Exception]]
    ) -> Iterator[tuple[Loc, str, tuple[Any, ...], Loc]]:
        """From a second read of the input: (line, kind, key, where it was first given) for each
        good line that gives a key an earlier good line gave."""
        first: dict[tuple[str, tuple[Any, ...]], Loc] = {}
        for loc, record in lines:
            if isinstance(record, Exception):
                continue
            wanted = candidates.get(record.kind)
            if not wanted:
                continue
            probe = record.key[0] if record.kind in EXACT else hash(record.key)
            if probe not in wanted:
                continue
            at = first.setdefault((record.kind, record.key), loc)
            if at != loc:
                yield loc, record.kind, record.key, at
