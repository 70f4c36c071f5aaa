"""Where import records come from: JSONL files, or records built in process (seed).

An import reads each source once, line by line, so that no input of any size is held in
memory: the check keeps keys, and the rows wait on disk for the write (`spool.py`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

# A line as read: JSON text (from a file) or an already-built object (from seed).
Payload = str | Mapping[str, Any]

BOM = b"\xef\xbb\xbf"
BYTES_PER_LINE = 250  # a typical import line, to weigh files against built records in progress
LARGE = 25_000  # lines, about 6 MB: below this, an import is quick and shows no progress


class Extent(Protocol):
    """What progress needs to know of something read from start to end."""

    @property
    def size(self) -> int:
        """How far `read` goes, in the units of its positions (bytes, records)."""

    @property
    def lines(self) -> int:
        """About how many lines it has (exactly, or estimated from its size)."""


class Source(Extent, Protocol):
    name: str

    def read(self) -> Iterator[tuple[int, Payload | None, int]]:
        """(line number, payload or None when it is not text, position) for each non-blank line."""


@dataclass
class FileSource:
    """A JSONL file, read in binary so that a bad byte is a bad line, not a crash."""

    path: Path
    name: str = ""
    _size: int = 0

    def __post_init__(self) -> None:
        self.name = self.name or str(self.path)
        self._size = self.path.stat().st_size  # fails here, before any work, if it is missing

    @property
    def size(self) -> int:
        return self._size

    @property
    def lines(self) -> int:
        return max(1, self.size // BYTES_PER_LINE)

    def read(self) -> Iterator[tuple[int, Payload | None, int]]:
        position = 0
        with self.path.open("rb") as f:
            for number, raw in enumerate(f, 1):
                position += len(raw)
                if number == 1 and raw.startswith(BOM):
                    raw = raw[len(BOM) :]  # some exporters write one; it is not part of the JSON
                if raw.isspace() or not raw:
                    continue
                try:
                    yield number, raw.decode("utf-8"), position
                except UnicodeDecodeError:
                    yield number, None, position


@dataclass
class RecordSource:
    """Records built in process. `records` is called for each read: once, and again only when a
    key may be given twice (to name the lines), so it must give the same records each time."""

    name: str
    records: Callable[[], Iterable[Mapping[str, Any]]]
    count: int  # how many it gives (for progress)

    @property
    def size(self) -> int:
        return self.count

    @property
    def lines(self) -> int:
        return max(1, self.count)

    def read(self) -> Iterator[tuple[int, Payload | None, int]]:
        for number, record in enumerate(self.records(), 1):
            yield number, record, number


def is_large(sources: Sequence[Extent]) -> bool:
    """Whether an import of these is long enough to be worth showing progress for."""
    return sum(s.lines for s in sources) >= LARGE


class Progress:
    """Progress of one phase over all sources, reported every tenth, for large inputs only.

    Each source counts for its (estimated) number of lines, so a small file beside a large
    one does not take a tenth of the bar.
    """

    def __init__(self, report: Callable[[str], None] | None, phase: str, sources: Sequence[Extent]) -> None:
        self.report = report if report and is_large(sources) else None
        self.phase = phase
        self.total = sum(s.lines for s in sources)
        self.done = 0  # lines of the sources already read
        self.next_tenth = 1

    def at(self, source: Extent, position: int, lines: int) -> None:
        if self.report is not None and not lines % 1000:  # often enough, and cheap
            self._tell(self.done + source.lines * min(1.0, position / max(1, source.size)), lines)

    def source_done(self, source: Extent, lines: int) -> None:
        self.done += source.lines
        if self.report is not None:
            self._tell(self.done, lines)

    def _tell(self, done: float, lines: int) -> None:
        share = done / self.total
        if self.report is not None and share * 10 >= self.next_tenth:
            self.next_tenth = int(share * 10) + 1
            self.report(f"{self.phase}: {min(share, 1.0):.0%} ({lines:,} lines)")
