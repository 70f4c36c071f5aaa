"""The benchmark: the GraphQL service against a hand-written reference and PostGraphile, same data.

    python bench/run.py [--database-url URL] [--persons N] [--seconds S] [--concurrency C]
                        [--rounds R] [--rate RPS] [--json FILE] [--variants] [--two-workers] [--rate-limits]
                        [--no-postgraphile]

It makes a throwaway database (a temp SQLite file, or a fresh database on the PostgreSQL server
of --database-url), migrates and seeds it with the `xinzheng` CLI, starts the service and
bench/reference.py (one uvicorn worker each, bench/servers.py), checks that both give the same
`data` for up to 200 subjects, then loads each in turn from a separate process
(bench/loadgen.py) and prints requests/s, p50, p99 and failures. On PostgreSQL it also runs
PostGraphile v4 (one Node process, bench/pgraphile.py) on the same database, checks that it
gives the same penalties, licences and scores for those subjects, and loads it in the same
rounds. --variants also loads the service with the audit log off, with the field policy off
and unplanned (bench/variants.py); --two-workers, the service and the reference with two
worker processes each; --rate-limits, the service counting every request against a limit it
never reaches (the others run with rate limits off: the default 600/minute for a bank would
refuse most of the load). Everything it started or made is stopped and removed at the end, on
failure and on Ctrl-C too. See bench/README.md for how to read the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pgraphile  # bench/pgraphile.py
from check import BANK, PURPOSE, BenchError, Subject, verify
from figures import WARMUP_SECONDS, combine, report
import reference  # bench/reference.py: this script's directory is on sys.path
from throwaway import DatabaseError, throwaway_database
from servers import (
    Server, ServerError, backend_cpu_seconds, busy_between, cpu_ticks, machine_busy, start_server, wait_ready,
)
from sqlalchemy.engine import make_url

BENCH_DIR = Path(__file__).resolve().parent
PROJECT_ROOT = BENCH_DIR.parent
JWT_ISSUER = "xinzheng-bench"
JWT_AUDIENCE = "xinzheng-bench"
# For --rate-limits: a bank limit no load here reaches, in a window short enough that the moving
# window holds about as many entries as the default 600/minute does.
RATE_LIMITED = "bank=1000000/second"


# --- the database -------------------------------------------------------------------------


def xinzheng(*args: str, database_url: str, timeout: float) -> None:
    """Run the project's CLI as an operator would; fail with its own one-line reason."""
    exe = shutil.which("xinzheng") or str(Path(sys.executable).with_name("xinzheng"))
    env = {**os.environ, "XINZHENG_DATABASE_URL": database_url}
    started = time.perf_counter()
    done = subprocess.run(
        [exe, *args], env=env, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=timeout, check=False
    )
    if done.returncode != 0:
        raise BenchError(f"xinzheng {' '.join(args)} failed: {(done.stderr or done.stdout).strip()}")
    print(f"  xinzheng {' '.join(args)}: {time.perf_counter() - started:.1f} s")


async def settle(database_url: str) -> None:
    """A checkpoint and fresh statistics after the seed: its hundreds of megabytes of dirty pages
    are written out now, not while the servers are measured. A server that commits, as the
    service does for its audit entries, waits on the disk behind them: at 100 requests/s and
    200,000 persons the service's p50 was 12.4 ms without this and 8.1 ms with it (p99 103 and
    59 ms); the reference, which writes nothing, did not move."""
    db = await reference.open_database(database_url)
    try:
        async with db.connection() as conn:
            await conn.execute("ANALYZE")
            await conn.execute("CHECKPOINT")
    finally:
        await db.close()


async def read_subjects(database_url: str) -> list[Subject]:
    """Each person with a consent to the demo bank for LOAN_APPROVAL in force now, with one such consent."""
    db = await reference.open_database(database_url)
    try:
        async with db.connection() as conn:
            rows = await conn.fetch(
                "SELECT c.id, c.holder_kind, c.holder_id, c.grantee_code, c.purposes, c.granted_at,"
                " c.valid_until, c.revoked_at FROM consents c JOIN persons p ON p.id_number = c.holder_id"
                " WHERE c.holder_kind = 'PERSON' AND c.grantee_code = $1 ORDER BY c.holder_id, c.id",
                BANK,
            )
    finally:
        await db.close()
    now = dt.datetime.now(dt.UTC)
    subjects: dict[str, Subject] = {}
    for row in rows:
        if row["holder_id"] not in subjects and reference.consent_in_force(row, row["holder_id"], BANK, PURPOSE, now):
            subjects[row["holder_id"]] = Subject(row["holder_id"], row["id"])
    return list(subjects.values())


# --- the load ---------------------------------------------------------------------------------


def load(
    server: Server, token: str, bodies: list[dict[str, Any]], seconds: float, concurrency: int,
    database: str | None = None, rate: float | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Drive one server from bench/loadgen.py, a separate process, with `bodies` in rotation; its
    figures, plus the server's CPU time and time waiting for a core, the whole machine's CPU
    time and, on PostgreSQL (`database` named), that of the backends serving it."""
    job = {
        "url": server.url, "token": token, "bodies": bodies,
        "warmup": WARMUP_SECONDS, "seconds": seconds, "concurrency": concurrency, "rate": rate,
    }  # fmt: skip
    db_before = backend_cpu_seconds(database) if database else None
    machine_before = cpu_ticks()
    cpu_before, waited_before, started = server.cpu_seconds(), server.waited_seconds(), time.perf_counter()
    done = subprocess.run(
        [sys.executable, str(BENCH_DIR / "loadgen.py")], input=json.dumps(job).encode(), capture_output=True,
        timeout=WARMUP_SECONDS + seconds + 120, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise BenchError(f"the load generator failed: {done.stderr.decode(errors='replace')[-2000:]}")
    figures: dict[str, Any] = json.loads(done.stdout)
    cpu_after = server.cpu_seconds()
    # Server CPU over the warm-up and the run, as a share of one core.
    wall = time.perf_counter() - started
    figures["server_cpu"] = None if cpu_before is None or cpu_after is None else (cpu_after - cpu_before) / wall
    # How long the server was ready to run but waited for a core: on a small machine the
    # database and the load generator take turns with it.
    waited_after = server.waited_seconds()
    figures["server_wait"] = None if waited_before is None or waited_after is None else (waited_after - waited_before) / wall
    db_after = backend_cpu_seconds(database) if database else None
    figures["db_cpu"] = None if db_before is None or db_after is None else (db_after - db_before) / wall
    figures["client_cpu"] = figures["cpu_seconds"] / figures["elapsed"]
    # Every core of the machine: the server, the database, the load generator and the kernel.
    # Near 100%, the machine, not the server, is what limits the throughput.
    figures["machine_cpu"] = busy_between(machine_before, cpu_ticks())
    if server.process.poll() is not None:
        raise ServerError(f"{server.name} died under load:\n{server.log.read_text(errors='replace')[-3000:]}")
    return figures


# --- the whole run --------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Benchmark the GraphQL service against a hand-written reference.")
    p.add_argument(
        "--database-url",
        help="postgresql+asyncpg://user@host:port/db of a server to make a throwaway database on (default: a temp SQLite file)",
    )
    p.add_argument("--persons", type=int, default=2000, help="size of the seeded city (default 2000)")
    p.add_argument("--seconds", type=float, default=10.0, help="measured seconds per server (default 10)")
    p.add_argument("--concurrency", type=int, default=16, help="concurrent keep-alive connections (default 16)")
    p.add_argument("--json", type=Path, help="also write the figures to this file")
    p.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="load the servers in turn this many times, each for its share of --seconds, and add up: "
        "drift of the machine then falls on every server alike (default 1)",
    )
    flags = {
        "--no-postgraphile": "on PostgreSQL, leave PostGraphile out (by default it is loaded too: bench/pgraphile.py)",
        "--postgraphile-no-auth": "on PostgreSQL, also load PostGraphile checking no token (its fastest)",
        "--two-workers": "also load the service and the reference, each with two worker processes (uvicorn --workers 2)",
        "--rate-limits": f"also load the service with rate limits on ({RATE_LIMITED}: counted, never reached), for their cost",
        "--variants": "also load the service with the audit log off, with the field policy off, and with queries"
        " unplanned (bench/variants.py)",
    }
    for flag, text in flags.items():
        p.add_argument(flag, action="store_true", help=text)
    p.add_argument(
        "--rate", type=float,
        help="send this many requests/s on a fixed schedule instead of as fast as answered (latency at a given load)",
    )  # fmt: skip
    args = p.parse_args(argv)
    if args.persons < 1 or args.seconds <= 0 or args.concurrency < 1 or args.rounds < 1:
        p.error("--persons, --seconds, --concurrency and --rounds must be positive")
    return args


def bench(args: argparse.Namespace, stack: contextlib.ExitStack) -> int:
    tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="xz-bench-")))
    try:
        database_url = stack.enter_context(throwaway_database(args.database_url, tmp, prefix="xz_bench"))
    except DatabaseError as e:
        raise BenchError(str(e)) from None
    kind = "SQLite" if database_url.startswith("sqlite") else "PostgreSQL"
    backend_name = None if kind == "SQLite" else make_url(database_url).database
    with_postgraphile = kind == "PostgreSQL" and not args.no_postgraphile
    if kind == "SQLite" and not args.no_postgraphile:
        print("PostGraphile serves PostgreSQL only: left out of a SQLite run (pass --database-url to include it)")
    if with_postgraphile:
        pgraphile.ensure_installed()  # before the minutes of seeding, so that a missing npm fails early
    print(f"preparing a throwaway {kind} database")
    xinzheng("migrate", database_url=database_url, timeout=300)
    xinzheng("seed", "--persons", str(args.persons), database_url=database_url, timeout=3600)
    if with_postgraphile:
        pgraphile.apply_functions(database_url)
        print("  applied bench/postgraphile/functions.sql")
    if kind == "PostgreSQL":
        asyncio.run(settle(database_url))
    subjects = asyncio.run(read_subjects(database_url))
    if not subjects:
        raise BenchError(f"the seeded city has no person with a {PURPOSE} consent to {BANK} in force")

    secret = f"bench-only-jwt-secret-{secrets.token_urlsafe(32)}"  # made per run, never stored
    now = dt.datetime.now(dt.UTC)
    token = jwt.encode(
        {"sub": "bench-loan-officer", "role": "bank", "org": BANK, "iss": JWT_ISSUER, "aud": JWT_AUDIENCE,
         "iat": now, "exp": now + dt.timedelta(hours=2)},
        secret, algorithm="HS256",
    )  # fmt: skip
    env = {**os.environ, "XINZHENG_DATABASE_URL": database_url, "XINZHENG_JWT_SECRET": secret, "XINZHENG_ENV": "dev",
           "XINZHENG_JWT_ISSUER": JWT_ISSUER, "XINZHENG_JWT_AUDIENCE": JWT_AUDIENCE,
           "XINZHENG_RATE_LIMITS": "off"}  # fmt: skip
    servers = [
        start_server(stack, "graphql", ["--factory", "app.main:create_app"], env, tmp),
        start_server(stack, "reference", ["--factory", "reference:create_app", "--app-dir", str(BENCH_DIR)], env, tmp),
    ]
    variants = []
    if args.two_workers:
        # The service with two worker processes: how it scales on two cores. The reference with
        # two workers too shows what the machine itself allows (the database and the load
        # generator share the two cores). More two-worker servers at once would exhaust
        # PostgreSQL's 100 connections (each keeps its pool open between rounds).
        variants += [
            start_server(stack, "graphql-2w", ["--factory", "app.main:create_app"], env, tmp, workers=2),
            start_server(
                stack, "reference-2w", ["--factory", "reference:create_app", "--app-dir", str(BENCH_DIR)], env, tmp,
                workers=2,
            ),
        ]
    if args.rate_limits:  # what counting every request costs (in Redis when XINZHENG_REDIS_URL is set)
        limited = {**env, "XINZHENG_RATE_LIMITS": RATE_LIMITED}
        variants.append(start_server(stack, "rate-limited", ["--factory", "app.main:create_app"], limited, tmp))
    if args.variants:  # what the audit log and the policy cost; not compared: the policy changes answers
        variants += [
            start_server(stack, "no-audit", ["--factory", "variants:audit_off", "--app-dir", str(BENCH_DIR)], env, tmp),
            start_server(
                stack, "no-policy", ["--factory", "variants:policy_off", "--app-dir", str(BENCH_DIR)], env, tmp
            ),
            start_server(
                stack, "unplanned", ["--factory", "variants:unplanned", "--app-dir", str(BENCH_DIR)], env, tmp
            ),
        ]
    postgraphile = None
    others = []
    if with_postgraphile:
        postgraphile = pgraphile.start(stack, database_url, secret, JWT_ISSUER, JWT_AUDIENCE, tmp)
        others.append(postgraphile)
        if args.postgraphile_no_auth:  # checked as the one with a token is, but never asked for one
            others.append(pgraphile.start(stack, database_url, secret, JWT_ISSUER, JWT_AUDIENCE, tmp, auth=False))
    for server in servers + variants + others:
        wait_ready(server, timeout=60 if server in others else 30)  # Node reads the schema first
    verify(servers, token, subjects, postgraphile)

    busy = machine_busy()
    if busy is not None and busy > 0.2:
        print(
            f"  warning: {busy:.0%} of the machine's CPU is busy with other work before the load; the figures will be noisy"
        )
    rounds: dict[str, list[dict[str, Any]]] = {}
    share = args.seconds / args.rounds
    bodies = [s.body() for s in subjects]
    postgraphile_bodies = [pgraphile.body(s.id_number) for s in subjects]
    for number in range(args.rounds):
        for server in servers + others + variants:
            print(f"  loading {server.name} for {WARMUP_SECONDS:g} + {share:g} s (round {number + 1} of {args.rounds})")
            rounds.setdefault(server.name, []).append(
                load(
                    server, token, postgraphile_bodies if server in others else bodies, share,
                    args.concurrency, database=backend_name, rate=args.rate,
                )
            )  # fmt: skip
    results = {name: combine(figures) for name, figures in rounds.items()}
    report(results, kind, args, len(subjects))
    if args.json:
        figures = {"database": kind, "persons": args.persons, "subjects": len(subjects), "seconds": args.seconds,
                   "warmup": WARMUP_SECONDS, "concurrency": args.concurrency, "machine_busy_before": busy, "servers": results,
                   "ratio": results["graphql"]["rps"] / results["reference"]["rps"]}  # fmt: skip
        if "postgraphile" in results:
            figures["ratio_postgraphile"] = results["graphql"]["rps"] / results["postgraphile"]["rps"]
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 1 if any(r["failures"] for r in results.values()) else 0


@contextlib.contextmanager
def terminated_as_interrupt() -> Iterator[None]:
    """SIGTERM and SIGHUP unwind like Ctrl-C, so that the clean-up runs for them too."""

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = {s: signal.signal(s, interrupt) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        with terminated_as_interrupt(), contextlib.ExitStack() as stack:
            return bench(args, stack)
    except (BenchError, ServerError, pgraphile.SetupError) as e:
        print(f"bench: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("bench: interrupted; servers stopped, throwaway database and temp files removed", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
