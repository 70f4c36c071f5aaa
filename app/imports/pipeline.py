"""An import from start to end: check everything, then write everything, in one transaction.

1. Check: every line of every source is read once, parsed and checked, and every reference
   resolved (`check.py`). One bad line and nothing is written: the report names every bad line.
   The rows of good lines wait on disk (`spool.py`), not in memory, until the check is over.
2. Write, in the batch writers' turn (app/db/turns.py: on PostgreSQL a second import waits
   for the first to commit): the spooled rows are upserted in batches (`write.py`);
   certificates without a document are signed with their issuer's key on the way, and every
   certificate gets its status-list entry (app/certificates/entries.py); then each
   certificate new or whose status changed gets a status-history entry.
3. Score: the credit scores of every subject touched are recomputed, in the same transaction.

A failure anywhere, a database error included, rolls it all back.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from app import clock
from app.certificates.keys import DEV_KEYS, KeyStore
from app.certificates.status import record_imported_statuses
from app.i18n import Text
from app.imports.check import Checker, Loc, load_on_file
from app.imports.fields import BadRecord
from app.imports.kinds import parse_line, parse_record
from app.imports.record import ParseContext, Record
from app.imports.report import ImportReport
from app.imports.source import FileSource, Payload, Progress, Source, is_large
from app.imports.spool import Spool
from app.imports.write import Writer
from app.scoring.recompute import recompute_scores

ProgressReport = Callable[[str], None]


async def import_files(
    engine: AsyncEngine,
    paths: Sequence[str | Path],
    *,
    today: dt.date | None = None,
    progress: ProgressReport | None = None,
    keys: KeyStore = DEV_KEYS,
) -> ImportReport:
    """Import JSONL files (SPEC section 8) all together, or nothing if any line is bad."""
    sources = [FileSource(Path(p), str(p)) for p in paths]
    return await import_sources(engine, sources, today=today, progress=progress, keys=keys)


async def import_sources(
    engine: AsyncEngine,
    sources: Sequence[Source],
    *,
    today: dt.date | None = None,
    progress: ProgressReport | None = None,
    keys: KeyStore = DEV_KEYS,
) -> ImportReport:
    """Import records from files or built in process, all together, or nothing if any is bad.

    `keys`: where the issuers' private keys are (the database in dev; prod's directory)."""
    today = today or clock.today()
    started = time.perf_counter()
    sources = list(sources)
    with _fewer_collections(), Spool() as spool:
        report = await _import(engine, sources, spool, today, progress, keys)
    report.seconds = time.perf_counter() - started
    return report


async def _import(
    engine: AsyncEngine,
    sources: list[Source],
    spool: Spool,
    today: dt.date,
    progress: ProgressReport | None,
    keys: KeyStore,
) -> ImportReport:
    names = [s.name for s in sources]
    async with engine.begin() as conn:
        checker = Checker(await load_on_file(conn, keys), names)
        lines = 0
        for loc, parsed in _read(sources, checker.ctx, Progress(progress, "checking", sources)):
            lines += 1
            if isinstance(parsed, BadRecord):
                checker.bad(loc, parsed.reasons, parsed.subject)
                continue
            checker.add(loc, parsed)
            if not checker.any_bad():  # after a bad line nothing will be written: keep only keys
                spool.add(loc, parsed.kind, parsed.row)
        checked = await checker.resolve(conn, lambda: _read(sources, checker.ctx, Progress(None, "", sources)))
        report = ImportReport(lines=lines)
        if checked.bad:
            report.bad_lines = checked.bad_lines(names)
            return report  # nothing was written: the transaction ends empty

        writer = Writer(conn, checked, keys)
        try:
            await writer.start(waiting=lambda: _tell(progress, "waiting for another import or score recompute to finish"))
            writing = Progress(progress, "writing", [spool])
            for number, (index, line, kind, row) in enumerate(spool.read(), 1):
                await writer.add((index, line), kind, row)
                writing.at(spool, number, number)
            writing.source_done(spool, spool.count)
            await writer.finish()
        finally:
            await writer.close()  # a failure leaves no statement in flight under the rollback
        await record_imported_statuses(conn, clock.now(), writer.certificate_identifiers)
        if progress and is_large(sources):
            progress(f"scoring: {checked.touched_count(writer.moved):,} subjects")
        for subjects, written in checked.touched_batches(writer.moved):
            report.scored += await recompute_scores(conn, subjects, today=today, on_file=written)
        report.written = checked.counts
    return report


def _tell(progress: ProgressReport | None, message: str) -> None:
    if progress is not None:
        progress(message)


@contextlib.contextmanager
def _fewer_collections() -> Iterator[None]:
    """Run the cyclic garbage collector rarely while importing.

    An import keeps millions of small objects (keys, rows in flight) that live to its end, and
    makes no reference cycles of note. At the default thresholds the collector walks them
    over and over, a noticeable share of the time of parsing a line (bench/README.md,
    "Figures behind the code's choices").
    """
    before = gc.get_threshold()
    gc.set_threshold(100_000, 50, 100)
    try:
        yield
    finally:
        gc.set_threshold(*before)


def _read(sources: list[Source], ctx: ParseContext, progress: Progress) -> Iterator[tuple[Loc, Record | BadRecord]]:
    """Every line of every source, parsed: a Record, or the BadRecord that says why not."""
    lines = 0
    for index, source in enumerate(sources):
        for number, payload, position in source.read():
            lines += 1
            yield (index, number), _parse(payload, ctx)
            progress.at(source, position, lines)
        progress.source_done(source, lines)


def _parse(payload: Payload | None, ctx: ParseContext) -> Record | BadRecord:
    try:
        if payload is None:
            raise BadRecord([Text("import.not_utf8")])
        return parse_record(parse_line(payload) if isinstance(payload, str) else payload, ctx)
    except BadRecord as e:
        return e
