"""The good rows of an import's check, kept on disk until the write: the input is read and parsed once.

The check reads every line, parses it and keeps only keys in memory; the rows it will write
go here, to a temporary file, in pickled batches. The write reads them back in input order.
Parsing (and, for seed, making) a line costs far more than pickling its row, and a file read
once cannot change between a check and a write. The file is the importer's own, never shared,
and is removed when the spool is closed, whatever the outcome.
"""

from __future__ import annotations

import pickle
import tempfile
from collections.abc import Iterator
from types import TracebackType
from typing import IO, Any, Self

# Rows per pickled batch: large enough that pickle's per-call cost and its memo of repeated
# strings (column names, enum classes) pay off, small enough to hold a batch in memory.
BATCH = 5_000

# One spooled row: (source index, line number, kind, row).
Spooled = tuple[int, int, str, dict[str, Any]]


class Spool:
    """An append-then-read store of rows, on disk, for one import."""

    def __init__(self) -> None:
        self._file: IO[bytes] = tempfile.TemporaryFile(prefix="xinzheng-import-")
        self._batch: list[Spooled] = []
        self._batches = 0
        self.count = 0  # rows added

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    @property
    def size(self) -> int:
        return self.count

    @property
    def lines(self) -> int:
        return max(1, self.count)

    def add(self, loc: tuple[int, int], kind: str, row: dict[str, Any]) -> None:
        self._batch.append((loc[0], loc[1], kind, row))
        self.count += 1
        if len(self._batch) >= BATCH:
            self._dump()

    def read(self) -> Iterator[Spooled]:
        """Every row added, in the order added. Call once, after the last `add`."""
        self._dump()
        self._file.seek(0)
        for _ in range(self._batches):
            yield from pickle.load(self._file)

    def close(self) -> None:
        self._file.close()

    def _dump(self) -> None:
        if self._batch:
            pickle.dump(self._batch, self._file, protocol=pickle.HIGHEST_PROTOCOL)
            self._batches += 1
            self._batch = []
