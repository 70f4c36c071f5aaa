"""How much an import's memory grows per record, measured in a process of its own.

    python -m tests.integration.import_memory DATABASE_URL

Prints the growth of tracemalloc's peak per record between a synthetic city of 100 and one of
3,100 persons, each imported into the emptied database (the URL's, migrated). In a process of
its own, so that what other tests left in the process (caches filled, garbage not yet
collected) does not move the figure: in the test process it moved by 10 to 30 bytes a record
with the tests run before.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tracemalloc

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from app.certificates import entries
from app.imports import check, fields, spool, write
from app.imports.pipeline import import_sources
from app.imports.seed import seed_sources
from tests.cli.lines import TODAY

TABLES = ("credit_scores", "consents", "credit_flags", "certificate_status_changes", "certificates", "penalties",
          "licences", "enterprises", "persons")  # fmt: skip


def bound_what_is_bounded() -> None:
    """Batches (of rows on their way to the disk or the database) are bounded, but large: small
    ones here, so that both sizes fill them and only what grows with the input differs."""
    spool.BATCH = write.BATCH = check.SCORED_TOGETHER = 50
    # A small import's certificate identifiers, kept for their status history, are at most
    # write.FEW_CERTIFICATES (about 3 MB): left out, as a large import does.
    write.FEW_CERTIFICATES = 0
    # Both sizes read the issuers' open lists whole (a bitmap of 16 KB a list, whatever the
    # input's size), as a large import does; the smaller would look each entry up instead.
    entries.READ_WHOLE_FROM = 0
    # The cache of checked identifiers (at most 2**17 of them, about 40 MB): left out.
    fields.checked_identifier = fields.checked_identifier.__wrapped__  # type: ignore[assignment]


async def peak(engine: AsyncEngine, persons: int) -> tuple[int, int]:
    """tracemalloc's peak over an import of the synthetic city of `persons` into the emptied database, and its lines."""
    async with engine.begin() as conn:
        for table in TABLES:
            await conn.execute(text(f"DELETE FROM {table}"))
    tracemalloc.start()
    try:
        report = await import_sources(engine, seed_sources(persons), today=TODAY)
        found = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert report.ok, report.bad_lines
    return found, report.lines


async def per_record(url: str) -> float:
    bound_what_is_bounded()
    engine = create_async_engine(url)
    try:
        # The first import fills caches once (compiled statements, lookup tables): one of the
        # larger size fills them all, so that the two measured differ only by their input.
        await peak(engine, 3_100)
        small, small_lines = await peak(engine, 100)
        large, large_lines = await peak(engine, 3_100)
    finally:
        await engine.dispose()
    return (large - small) / (large_lines - small_lines)


if __name__ == "__main__":
    print(json.dumps({"per_record": asyncio.run(per_record(sys.argv[1]))}))
