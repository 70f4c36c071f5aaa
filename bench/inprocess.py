"""CPU time per request, with the apps called in-process: no sockets, no client, no uvicorn.

    python bench/inprocess.py [--database-url URL] [--persons N] [--requests R] [--concurrency C]
                              [--apps graphql,reference,no-audit,no-policy,unplanned] [--repeat K] [--profile FILE]

The load figures of bench/run.py drift 20-30% between windows on a small shared machine; CPU
time spent per request by one process is steadier, and it is what a CPU-bound server's
throughput follows. This script makes a throwaway database as bench/run.py does, builds each
app in this process, and sends it R requests of the bank credit query through the ASGI
interface, C at a time, then prints the process CPU time per request (ms) for each app,
alternating the apps K times. With --profile it writes a cProfile of the first app's last
repeat to FILE (read it with `python -m pstats FILE`, or snakeviz).

What it leaves out, and bench/run.py does not: HTTP parsing in uvicorn (the same for both),
and the PostgreSQL server's own CPU (another process).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import datetime as dt
import json
import os
import secrets
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import jwt
import check  # bench/check.py: the same subjects and query
import run  # bench/run.py: the same database
from throwaway import throwaway_database

App = Callable[[dict[str, Any], Callable[[], Awaitable[dict[str, Any]]], Callable[[dict[str, Any]], Awaitable[None]]], Awaitable[None]]


async def call(app: App, body: bytes, token: str) -> tuple[int, bytes]:
    """One POST /graphql through the ASGI interface; its status and body."""
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
        "path": "/graphql", "raw_path": b"/graphql", "query_string": b"", "root_path": "",
        "headers": [(b"host", b"bench"), (b"content-type", b"application/json"),
                    (b"authorization", f"Bearer {token}".encode()), (b"content-length", str(len(body)).encode())],
        "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 80),
    }  # fmt: skip
    sent = False
    status, chunks = 0, []

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            await asyncio.Event().wait()  # never: the app does not wait for a disconnect here
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    return status, b"".join(chunks)


async def drive(app: App, bodies: list[bytes], token: str, requests: int, concurrency: int) -> float:
    """Send `requests` requests, `concurrency` at a time; the CPU seconds this process spent."""
    queue = iter(range(requests))

    async def worker() -> None:
        for n in queue:
            status, answer = await call(app, bodies[n % len(bodies)], token)
            if status != 200 or b'"errors"' in answer:
                raise RuntimeError(f"HTTP {status}: {answer[:300]!r}")

    started = time.process_time()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.process_time() - started


def build(name: str) -> App:
    sys.path.insert(0, str(run.BENCH_DIR))
    import reference
    import variants

    from app.main import create_app

    return {"graphql": create_app, "reference": reference.create_app, "no-audit": variants.audit_off,
            "no-policy": variants.policy_off, "unplanned": variants.unplanned}[name]()  # fmt: skip


async def measure(args: argparse.Namespace, token: str, subjects: list[check.Subject]) -> dict[str, list[float]]:
    bodies = [json.dumps(s.body()).encode() for s in subjects]
    apps: dict[str, Any] = {}
    stacks = contextlib.AsyncExitStack()
    async with stacks:
        for name in args.apps:
            apps[name] = build(name)
            await stacks.enter_async_context(apps[name].router.lifespan_context(apps[name]))
            await drive(apps[name], bodies, token, min(500, args.requests), args.concurrency)  # warm-up
        figures: dict[str, list[float]] = {name: [] for name in apps}
        for repeat in range(args.repeat):
            for name, app in apps.items():
                profile = args.profile and name == args.apps[0] and repeat == args.repeat - 1
                profiler = cProfile.Profile() if profile else None
                if profiler:
                    profiler.enable()
                cpu = await drive(app, bodies, token, args.requests, args.concurrency)
                if profiler:
                    profiler.disable()
                    profiler.dump_stats(args.profile)
                figures[name].append(cpu / args.requests * 1000)
                print(f"  {name:<10} {figures[name][-1]:.3f} ms CPU per request", flush=True)
    return figures


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="CPU time per request, apps called in-process.")
    p.add_argument("--database-url")
    p.add_argument("--persons", type=int, default=2000)
    p.add_argument("--requests", type=int, default=2000)
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--apps", default="graphql,reference", type=lambda s: s.split(","))
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--profile", type=Path)
    p.add_argument("--keep", help="keep the database here (SQLite) and reuse it when it exists", type=Path)
    args = p.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="xz-inproc-") as tmp, contextlib.ExitStack() as stack:
        if args.keep and args.database_url is None:
            database_url = f"sqlite+aiosqlite:///{args.keep}"
            fresh = not args.keep.exists()
        else:
            database_url = stack.enter_context(throwaway_database(args.database_url, Path(tmp), prefix="xz_inproc"))
            fresh = True
        if fresh:
            run.xinzheng("migrate", database_url=database_url, timeout=300)
            run.xinzheng("seed", "--persons", str(args.persons), database_url=database_url, timeout=3600)
        subjects = asyncio.run(run.read_subjects(database_url))
        secret = f"bench-only-jwt-secret-{secrets.token_urlsafe(32)}"
        now = dt.datetime.now(dt.UTC)
        token = jwt.encode(
            {"sub": "bench", "role": "bank", "org": check.BANK, "iss": run.JWT_ISSUER, "aud": run.JWT_AUDIENCE,
             "iat": now, "exp": now + dt.timedelta(hours=2)}, secret, algorithm="HS256",
        )  # fmt: skip
        os.environ.update({"XINZHENG_DATABASE_URL": database_url, "XINZHENG_JWT_SECRET": secret,
                           "XINZHENG_ENV": "dev", "XINZHENG_JWT_ISSUER": run.JWT_ISSUER,
                           "XINZHENG_JWT_AUDIENCE": run.JWT_AUDIENCE,
                           "XINZHENG_RATE_LIMITS": "off"})  # fmt: skip  # as bench/run.py's servers
        figures = asyncio.run(measure(args, token, subjects))
    print(f"\n{'app':<10} {'best ms':>8} {'median ms':>10}")
    for name, values in figures.items():
        print(f"{name:<10} {min(values):>8.3f} {sorted(values)[len(values) // 2]:>10.3f}")
    if "graphql" in figures and "reference" in figures:
        print(f"reference / graphql CPU per request: {min(figures['reference']) / min(figures['graphql']):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
