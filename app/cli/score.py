"""`xinzheng score recompute [--due]`: recompute stored credit scores from the facts on file.

`--due` recomputes only the scores whose facts the date has moved on since (each stored score
knows the last day it holds): the daily job. Reads never show a score past that day even when
the job did not run (app/scoring/current.py); the job keeps them from computing it each time.

The run is one transaction, and on PostgreSQL it holds each subject it reaches to its end
(app/scoring/recompute.py: the subjects' turn): a decision about one of them waits for it. It
runs in the batch writers' turn (app/db/turns.py): it waits for an import writing, and an
import waits for it, rather than each holding subjects the other waits for."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time

from app.config import Settings


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("score", help="credit scores")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    recompute = actions.add_parser("recompute", help="recompute every person's and enterprise's score")
    recompute.add_argument(
        "--due", action="store_true", help="only the scores that no longer hold today (run daily)"
    )
    recompute.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from app.scoring.rules import MODEL_VERSION

    started = time.perf_counter()
    count = asyncio.run(_recompute(Settings.from_env(), due_only=args.due))
    which = "due " if args.due else ""
    print(f"recomputed {count} {which}score(s) with model {MODEL_VERSION} in {time.perf_counter() - started:.1f}s")
    return 0


async def _recompute(settings: Settings, *, due_only: bool) -> int:
    from sqlalchemy.exc import DBAPIError

    from app import clock
    from app.cli import CliError
    from app.cli._database import migrated_engine, reason
    from app.db.turns import take_batch_turn
    from app.scoring.recompute import recompute_scores

    async with migrated_engine(settings) as engine:
        try:
            # One transaction: a run that fails half-way leaves the old scores, not a mixture.
            async with engine.begin() as conn:
                await take_batch_turn(conn, waiting=_waiting)
                return await recompute_scores(conn, None, today=clock.today(), due_only=due_only)
        except DBAPIError as e:
            raise CliError(f"the database refused the new scores: {reason(e)}") from None


def _waiting() -> None:
    print("xinzheng score: waiting for an import or another score recompute to finish", file=sys.stderr, flush=True)
