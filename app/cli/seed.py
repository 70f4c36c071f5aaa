"""`xinzheng seed [--persons N]`: the demo city, and a synthetic city of N people beside it."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import TYPE_CHECKING

from app.config import Settings

if TYPE_CHECKING:  # loaded only when the command runs
    from app.imports import ImportReport


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("seed", help="load the demo city (idempotent), and a synthetic one with --persons N")
    p.add_argument(
        "--persons", type=int, default=0, metavar="N", help="also a synthetic city of N people (deterministic for N)"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from app.cli import CliError
    from app.imports.synthetic import MAX_PERSONS

    if not 0 <= args.persons <= MAX_PERSONS:
        raise CliError(f"--persons must be 0 to {MAX_PERSONS:,}")
    report = asyncio.run(_seed(Settings.from_env(), args.persons))
    city = f"the demo city and {args.persons} synthetic persons" if args.persons else "the demo city"
    print(f"seeded {city}: {report.summary()}")
    return 0


async def _seed(settings: Settings, persons: int) -> ImportReport:
    from sqlalchemy.exc import DBAPIError

    from app.cli import CliError
    from app.cli._database import migrated_engine, reason
    from app.imports.seed import seed

    async with migrated_engine(settings) as engine:
        try:
            return await seed(engine, persons=persons, progress=_progress)
        except DBAPIError as e:
            raise CliError(f"the database refused the seed data, nothing was written: {reason(e)}") from None


def _progress(message: str) -> None:
    print(f"xinzheng seed: {message}", file=sys.stderr, flush=True)
