"""The service's Prometheus metrics, served at `/metrics`.

Requests are counted by operation name, role and outcome, and timed (app/observability/request.py
feeds them from the request's audit entry, so every request is counted whatever its fate). The
audit writer times its transactions and counts the entries each carries; the database pools
report their connections in use as they are lent and given back; the age of the newest signed
checkpoint is read from the database when `/metrics` is scraped.

With several worker processes (`xinzheng serve --workers N`) every metric lives in
prometheus-client's multiprocess mode: each process writes its values to files under
PROMETHEUS_MULTIPROC_DIR (which `serve` makes, app/observability/workers.py), and a scrape, in
whichever worker answers it, adds up every process's. Without it, the process's own registry.

No label carries personal data: roles and outcomes are fixed sets, and operation names are
kept only when they are short plain names that cannot spell an identifier (request.py).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections.abc import Iterable

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from sqlalchemy import Engine, event, func, select
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import QueuePool
from starlette.requests import Request
from starlette.responses import Response

from app import clock
from app.db.models import AuditCheckpoint
from app.observability.workers import MULTIPROC_DIR

log = logging.getLogger("xinzheng.metrics")
disable_created_metrics()  # no `_created` series beside each counter: half the lines, nothing an alert uses

# A request is stopped after XINZHENG_REQUEST_TIMEOUT (10 s by default); the answers of an
# indexed read take a few milliseconds.
REQUEST_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
APPEND_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 200)  # app/audit/store.py writes at most 200 at once

REQUESTS = Counter(
    "xinzheng_requests", "GraphQL requests answered, by operation name, role and outcome", ["operation", "role", "outcome"]
)
REQUEST_SECONDS = Histogram(
    "xinzheng_request_duration_seconds",
    "Time from a GraphQL request's arrival to its answer, its audit entry written, by operation name and role",
    ["operation", "role"],
    buckets=REQUEST_BUCKETS,
)
RATE_LIMITED = Counter("xinzheng_rate_limited", "Requests refused RATE_LIMITED, by role", ["role"])
AUDIT_APPEND_SECONDS = Histogram(
    "xinzheng_audit_append_duration_seconds",
    "Time to write one audit transaction (a batch of entries, or a mutation's entry with its writes)",
    buckets=APPEND_BUCKETS,
)
AUDIT_BATCH_ENTRIES = Histogram(
    "xinzheng_audit_batch_entries", "Audit entries written in one transaction", buckets=BATCH_BUCKETS
)
# Added up over the live worker processes; a worker that exits takes its values with it.
POOL_IN_USE = Gauge(
    "xinzheng_db_pool_connections_in_use", "Database connections lent out by the pool, by pool", ["pool"],
    multiprocess_mode="livesum",
)  # fmt: skip
POOL_SIZE = Gauge(
    "xinzheng_db_pool_size", "Connections each pool keeps (it lends as many again past it, then makes callers wait)",
    ["pool"], multiprocess_mode="livesum",
)  # fmt: skip


def audit_appended(entries: int, seconds: float) -> None:
    """One audit transaction committed (app/audit/store.py)."""
    AUDIT_APPEND_SECONDS.observe(seconds)
    AUDIT_BATCH_ENTRIES.observe(entries)


def watch_pool(name: str, engine: Engine | AsyncEngine) -> None:
    """Report the connections this engine's pool lends, as it lends and takes them back."""
    sync = engine.sync_engine if isinstance(engine, AsyncEngine) else engine
    pool = sync.pool
    if not isinstance(pool, QueuePool):  # a pool that keeps no count (NullPool, StaticPool)
        return
    in_use = POOL_IN_USE.labels(pool=name)
    POOL_SIZE.labels(pool=name).set(pool.size())
    in_use.set(pool.checkedout())

    def changed(*_: object) -> None:
        in_use.set(pool.checkedout())

    event.listen(sync, "checkout", changed)
    event.listen(sync, "checkin", changed)


async def last_checkpoint_at(engine: AsyncEngine) -> dt.datetime | None:
    """When the newest signed checkpoint of the audit log was made, or None before the first."""
    async with engine.connect() as conn:
        at: dt.datetime | None = (await conn.execute(select(func.max(AuditCheckpoint.at)))).scalar_one_or_none()
    return at


class _Now(Collector):
    """What is read from the database at the scrape, by the worker that answers it."""

    def __init__(self, checkpoint_at: dt.datetime | None) -> None:
        self.checkpoint_at = checkpoint_at

    def collect(self) -> Iterable[Metric]:
        if self.checkpoint_at is not None:
            age = max(0.0, (clock.now() - self.checkpoint_at).total_seconds())
            yield GaugeMetricFamily(
                "xinzheng_audit_checkpoint_age_seconds", "Seconds since the newest signed checkpoint of the audit log", age
            )


class _Process(Collector):
    """This process's own registry (metrics defined above, and the process's CPU and memory)."""

    def collect(self) -> Iterable[Metric]:
        return REGISTRY.collect()


async def metrics_endpoint(engine: AsyncEngine, request: Request) -> Response:
    registry = CollectorRegistry()
    if os.environ.get(MULTIPROC_DIR):
        MultiProcessCollector(registry)  # every worker's files, the dead ones' counters included
    else:
        registry.register(_Process())
    try:
        checkpoint_at = await last_checkpoint_at(engine)
    except Exception as e:  # the database is down: the rest of the metrics still answer (and /readyz says why)
        log.warning("metrics: the newest checkpoint could not be read (%s)", type(e).__name__)
        checkpoint_at = None
    registry.register(_Now(checkpoint_at))
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
