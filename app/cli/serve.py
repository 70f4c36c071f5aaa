"""`xinzheng serve`: run the service under uvicorn."""

from __future__ import annotations

import argparse
import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from app.config import Settings


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("serve", help="run the GraphQL service")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--workers", type=int, default=1)
    p.set_defaults(func=run)


MAX_WORKERS = 256  # more than the cores of any one machine: past it, a typo (each worker is a process)

# On SIGTERM a request in flight is given its own time limit and this much more to be answered
# and audited before it is cut off (uvicorn's graceful shutdown).
GRACE_SECONDS = 5


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from app.cli import CliError
    from app.config import Settings
    from app.observability.logs import logging_config
    from app.observability.workers import metrics_directory

    # uvicorn takes a port past 65535 (bound as another), and any number of workers (0: one).
    if not 1 <= args.port <= 65535:
        raise CliError("--port must be 1 to 65535")
    if not 1 <= args.workers <= MAX_WORKERS:
        raise CliError(f"--workers must be 1 to {MAX_WORKERS}")

    settings = Settings.from_env()  # fail here, with one line, rather than in every worker
    url = f"http://{args.host}:{args.port}/graphql"
    print(f"Xinzheng ({settings.env}) serving {url}")
    note = rate_limit_note(settings, args.workers)
    if note:
        print(note)
    if settings.is_dev:
        print("  a demo token:  xinzheng token --role citizen --id-number 330106198503120028")
        print("                 xinzheng token --role bank --org 91330100MA2H00001P")
        print("  send it as 'Authorization: Bearer <token>'; the README lists the demo subjects")
    # Metrics of several workers: a directory they share, made before they start (app/observability/workers.py).
    with metrics_directory(args.workers):
        uvicorn.run(
            "app.main:create_app",
            factory=True,
            host=args.host,
            port=args.port,
            workers=args.workers,
            # uvicorn's lines and the service's, as XINZHENG_LOG_FORMAT says, in every process;
            # each request has a line of its own (app/observability/request.py), so no access log.
            log_config=logging_config(settings.log_format),
            log_level="info",
            access_log=False,
            timeout_graceful_shutdown=math.ceil(settings.request_timeout) + GRACE_SECONDS,
            # uvicorn's httptools protocol with a bound on the request head's size and arrival time.
            http="app.protocol:BoundedHttpToolsProtocol",
        )
    return 0


def rate_limit_note(settings: Settings, workers: int) -> str | None:
    """One line when rate limits are counted per worker: without Redis, each keeps its own count."""
    if workers < 2 or settings.redis_url is not None or settings.rate_limits.off:
        return None
    return (
        f"  rate limits: no XINZHENG_REDIS_URL, so each of the {workers} workers keeps its own count"
        f" (a caller may get up to {workers} times each limit); set it to share one count"
    )
