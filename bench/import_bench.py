"""How fast `xinzheng import` loads a city: N synthetic persons and their records, from one file.

    python bench/import_bench.py [--persons 100000] [--database-url URL] [--again] [--keep]

It writes the demo city and a synthetic city of N persons (the same as `xinzheng seed
--persons N`) to a JSONL file in a temp directory, imports it into a fresh, migrated
database and prints lines/s, seconds and rows written. The database is a temp SQLite file
by default; with `--database-url postgresql+asyncpg://user@host:port/db` a throwaway
database is created on that server (the user needs CREATEDB), migrated, and dropped at the
end. `--again` imports the same file a second time (nothing changes: the idempotent path).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import resource
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))  # run from a checkout, as `python bench/import_bench.py`

from sqlalchemy import func, select  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from sqlalchemy.ext.asyncio import AsyncEngine  # noqa: E402

from throwaway import DatabaseError, throwaway_database  # noqa: E402  (bench/, on sys.path)

from app.cli.migrate import upgrade  # noqa: E402
from app.config import Settings  # noqa: E402
from app.db.models import CreditScore, SigningKey  # noqa: E402
from app.db.session import create_engine  # noqa: E402
from app.imports import ImportReport, import_files, synthetic  # noqa: E402
from app.imports.seed import DEMO_FILE  # noqa: E402


class BenchError(Exception):
    """A one-line reason the bench cannot run."""


def write_city(path: Path, persons: int) -> int:
    """The demo city and N synthetic persons as one JSONL file; returns its lines."""
    lines = 0
    with path.open("w", encoding="utf-8") as f:
        for line in DEMO_FILE.read_text(encoding="utf-8").splitlines():
            f.write(line + "\n")
            lines += 1
        for record in synthetic.records(persons):
            f.write(json.dumps(record, ensure_ascii=False) + "\n")
            lines += 1
    return lines


@contextlib.contextmanager
def fresh_database(database_url: str | None, workdir: Path, keep: bool) -> Iterator[str]:
    """A new database at the latest schema: a temp SQLite file, or one made on a PostgreSQL server."""
    try:
        with throwaway_database(database_url, workdir, prefix="xz_import_bench", keep=keep) as url:
            upgrade(url)
            yield url
    except DatabaseError as e:
        raise BenchError(str(e)) from None


async def run_import(url: str, path: Path, label: str) -> tuple[ImportReport, int]:
    settings = Settings.from_env({"XINZHENG_DATABASE_URL": url})
    engine = create_engine(settings)
    try:
        started = time.perf_counter()
        phase = [started]

        def progress(message: str) -> None:
            if "100%" in message or message.startswith("scoring"):
                now = time.perf_counter()
                print(f"  {label}: {message}  (+{now - phase[0]:.1f} s)", flush=True)
                phase[0] = now

        report = await import_files(engine, [path], progress=progress)
        if not report.ok:
            raise BenchError(f"the generated file has bad lines, e.g. {report.bad_lines[0]}")
        extra = await _count(engine)
        now = time.perf_counter()
        print(f"  {label}: committed  (+{now - phase[0]:.1f} s)")
        return report, extra
    finally:
        await engine.dispose()


async def _count(engine: AsyncEngine) -> int:
    """Rows the import writes beside the records: signing keys and scores."""
    async with engine.connect() as conn:
        keys = (await conn.execute(select(func.count()).select_from(SigningKey))).scalar_one()
        scores = (await conn.execute(select(func.count()).select_from(CreditScore))).scalar_one()
    return int(keys) + int(scores)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--persons", type=int, default=100_000, help="synthetic persons (default 100000)")
    parser.add_argument("--database-url", help="a postgresql+asyncpg:// server URL (default: a temp SQLite file)")
    parser.add_argument("--again", action="store_true", help="import the same file a second time")
    parser.add_argument("--keep", action="store_true", help="keep the PostgreSQL database")
    args = parser.parse_args(argv)
    try:
        with tempfile.TemporaryDirectory(prefix="xz-import-bench-") as tmp:
            workdir = Path(tmp)
            path = workdir / "city.jsonl"
            started = time.perf_counter()
            lines = write_city(path, args.persons)
            size = path.stat().st_size
            print(f"wrote {lines:,} lines ({size / 2**20:.1f} MiB) in {time.perf_counter() - started:.1f} s")
            with fresh_database(args.database_url, workdir, args.keep) as url:
                backend = make_url(url).get_backend_name()
                print(f"importing into a fresh {backend} database")
                runs = ["first import"] + (["second import (no changes)"] if args.again else [])
                for label in runs:
                    report, extra = asyncio.run(run_import(url, path, label))
                    rows = sum(report.written.values()) + extra
                    print(
                        f"{label}: {report.lines:,} lines in {report.seconds:.1f} s = "
                        f"{report.lines / report.seconds:,.0f} lines/s; {rows:,} rows upserted "
                        f"({sum(report.written.values()):,} records, {extra:,} keys and scores)"
                    )
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"peak memory {peak:.0f} MiB")
    except BenchError as e:
        print(f"import_bench: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
