"""What an import says back: every bad line and why, or what it wrote."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

# The order the summary lists kinds in: the order they are written.
KINDS = ("authority", "person", "enterprise", "licence", "penalty", "certificate", "consent", "credit_flag")


@dataclass(frozen=True)
class BadLine:
    source: str  # the file as given, or the name of a record source
    line: int  # 1-based
    reasons: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.source}:{self.line}: {'; '.join(self.reasons)}"


@dataclass
class ImportReport:
    """The outcome of one import: bad lines (and nothing written), or the counts written."""

    lines: int = 0  # records read (blank lines aside)
    bad_lines: list[BadLine] = field(default_factory=list)
    written: Counter[str] = field(default_factory=Counter)  # records upserted, by kind
    scored: int = 0  # subjects whose scores were recomputed
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.bad_lines

    def summary(self) -> str:
        """One line for an operator."""
        if not self.ok:
            return f"{len(self.bad_lines)} bad line(s) of {self.lines}; nothing was written"
        kinds = ", ".join(f"{self.written[k]} {k}" for k in KINDS if self.written[k])
        return (
            f"imported {self.lines} record(s) in {self.seconds:.1f}s ({kinds or 'nothing'}); "
            f"scores recomputed for {self.scored} subject(s)"
        )
