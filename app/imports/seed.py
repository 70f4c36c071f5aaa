"""`xinzheng seed`: the demo city (seeds/demo.jsonl), and a synthetic one of any size beside it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from sqlalchemy.ext.asyncio import AsyncEngine

from app.config import PROJECT_ROOT
from app.imports import synthetic
from app.imports.pipeline import import_sources
from app.imports.report import ImportReport
from app.imports.source import FileSource, RecordSource, Source

DEMO_FILE = PROJECT_ROOT / "seeds" / "demo.jsonl"


class SeedDataError(RuntimeError):
    """The seed data itself is bad: a defect in the project, not in the database."""


def seed_sources(persons: int = 0) -> list[Source]:
    """The demo city, and a synthetic city of `persons` people when asked for one."""
    sources: list[Source] = [FileSource(DEMO_FILE, "seeds/demo.jsonl")]
    if persons > 0:
        sources.append(
            RecordSource(
                f"synthetic city of {persons}", lambda: synthetic.records(persons), synthetic.expected_records(persons)
            )
        )
    return sources


async def seed(
    engine: AsyncEngine,
    *,
    persons: int = 0,
    today: dt.date | None = None,
    progress: Callable[[str], None] | None = None,
) -> ImportReport:
    """Load the demo city (and `persons` synthetic people); loading it again changes nothing."""
    report = await import_sources(engine, seed_sources(persons), today=today, progress=progress)
    if not report.ok:
        raise SeedDataError("the seed data has bad lines: " + "; ".join(str(b) for b in report.bad_lines[:5]))
    return report
