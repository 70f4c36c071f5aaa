"""Rate limits (SPEC sections 8 and 9): per organisation, per citizen, per client address.

Each test builds its own service with small limits on the test city, and freezes the clock
(time-machine): the limiter and the `limits` library read `time.time()`, so a frozen clock makes
every count and every Retry-After exact, and moving it on frees slots without waiting.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import logging
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
import time_machine

from app.auth.roles import Role
from app.main import create_app
from tests.api import city
from tests.api.conftest import TEST_AUDIT_KEY, TEST_SECRET, Tokens, settings_for
from tests.api.test_generated_equivalence import city_copy
from tests.conftest import DatabaseFactory

# A fresh key prefix per test keeps concurrent runs on one Redis from sharing counts.
REDIS_URL = os.environ.get("XINZHENG_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
# CI runs Redis (.ci/run starts it if it is down): there, an unreachable Redis is a failure.
REQUIRE_REDIS = os.environ.get("CI") == "true" or os.environ.get("XINZHENG_REQUIRE_REDIS") == "1"

ME = {"query": "{ me { role } }"}
LOG = """query($f: AuditFilter) { auditLog(filter: $f, first: 20) {
  edges { node { seq actorSub actorRole actorOrg operationName queryHash outcome errorCodes } } } }"""


@dataclasses.dataclass
class RedisTarget:
    url: str
    prefix: str
    client: redis.Redis

    def keys(self) -> list[str]:
        return sorted(k.decode() for k in self.client.scan_iter(f"{self.prefix}:*"))


@pytest.fixture
def redis_target() -> Iterator[RedisTarget]:
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2, socket_timeout=2)
    try:
        client.ping()
    except redis.RedisError as e:
        client.close()
        problem = f"Redis unreachable at {REDIS_URL}: {e}"
        if REQUIRE_REDIS:
            pytest.fail(f"Redis is required (CI=true or XINZHENG_REQUIRE_REDIS=1) but {problem}")
        pytest.skip(problem)
    target = RedisTarget(REDIS_URL, f"xz-test-{uuid.uuid4().hex[:12]}", client)
    yield target
    for key in target.keys():
        client.delete(key)
    client.close()


@pytest.fixture
def unused_port() -> int:
    """A port on this machine that nothing listens on (the kernel's pick, released at once)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


@pytest.fixture
def clock() -> Iterator[time_machine.Coordinates]:
    with time_machine.travel(time.time(), tick=False) as traveller:
        yield traveller


class Service:
    def __init__(self, app: Any, tokens: Tokens) -> None:
        self.app = app
        self.tokens = tokens

    @contextlib.asynccontextmanager
    async def client(self, address: str = "127.0.0.1") -> AsyncIterator[httpx.AsyncClient]:
        transport = httpx.ASGITransport(app=self.app, client=(address, 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://xinzheng.test") as client:
            yield client

    async def post(self, token: str | None = None, *, address: str = "127.0.0.1") -> httpx.Response:
        async with self.client(address) as client:
            headers = {"authorization": f"Bearer {token}"} if token else {}
            return await client.post("/graphql", json=ME, headers=headers)

    async def statuses(self, n: int, token: str | None = None, *, address: str = "127.0.0.1") -> list[int]:
        return [(await self.post(token, address=address)).status_code for _ in range(n)]

    async def audit_entry(self, seq: int) -> dict[str, Any]:
        async with self.client() as client:
            response = await client.post(
                "/graphql", json={"query": LOG, "variables": {"f": {"role": "bank"}}},
                headers={"authorization": f"Bearer {self.tokens.auditor}"},
            )
        assert response.status_code == 200, response.text
        edges = response.json()["data"]["auditLog"]["edges"]
        entry: dict[str, Any] = next(e["node"] for e in edges if e["node"]["seq"] == seq)
        return entry


@contextlib.asynccontextmanager
async def service(database_url: str, rate_limits: str, **settings: Any) -> AsyncIterator[Service]:
    configured = dataclasses.replace(settings_for(database_url, rate_limits=rate_limits), **settings)
    app = create_app(configured)
    async with app.router.lifespan_context(app):
        yield Service(app, Tokens(configured))


async def test_a_bank_over_its_limit_gets_429_with_retry_after_and_is_audited(
    city_database: str, clock: time_machine.Coordinates
) -> None:
    async with service(city_database, "bank=3/minute") as svc:
        bank = svc.tokens.bank
        assert await svc.statuses(3, bank) == [200, 200, 200]
        refused = await svc.post(bank)
        assert refused.status_code == 429
        # Every accepted request is still in the window, which frees its oldest slot just after 60 s.
        assert refused.headers["retry-after"] == "61"
        body = refused.json()
        assert body["errors"][0]["extensions"] == {"code": "RATE_LIMITED"} and body["errors"][0]["message"]
        assert "data" not in body
        assert body["extensions"]["requestId"] == refused.headers["x-request-id"]
        seq = body["extensions"]["auditSeq"]
        assert isinstance(seq, int)

        entry = await svc.audit_entry(seq)
        assert entry == {
            "seq": seq, "actorSub": entry["actorSub"], "actorRole": "bank", "actorOrg": city.BANK,
            # Refused before the body was read: no query was parsed, let alone run.
            "operationName": None, "queryHash": None, "outcome": "REJECTED", "errorCodes": ["RATE_LIMITED"],
        }


async def test_a_slot_frees_when_retry_after_says(city_database: str, clock: time_machine.Coordinates) -> None:
    async with service(city_database, "bank=2/minute") as svc:
        assert await svc.statuses(2, svc.tokens.bank) == [200, 200]
        clock.shift(30)
        refused = await svc.post(svc.tokens.bank)
        assert refused.status_code == 429 and refused.headers["retry-after"] == "31"
        clock.shift(30)
        assert (await svc.post(svc.tokens.bank)).headers["retry-after"] == "1"
        clock.shift(1)
        assert await svc.statuses(3, svc.tokens.bank) == [200, 200, 429]


async def test_another_bank_is_not_affected(city_database: str, clock: time_machine.Coordinates) -> None:
    async with service(city_database, "bank=2/minute") as svc:
        assert await svc.statuses(3, svc.tokens.bank) == [200, 200, 429]
        other = svc.tokens.make(Role.BANK, org=city.OTHER_BANK)
        assert await svc.statuses(2, other) == [200, 200]


async def test_a_banks_systems_share_their_organisations_count(
    city_database: str, clock: time_machine.Coordinates
) -> None:
    async with service(city_database, "bank=2/minute") as svc:
        first = svc.tokens.make(Role.BANK, org=city.BANK, sub="loan-system")
        second = svc.tokens.make(Role.BANK, org=city.BANK, sub="card-system")
        assert await svc.statuses(2, first) == [200, 200]
        assert await svc.statuses(1, second) == [429]


async def test_a_citizen_is_limited_per_person(city_database: str, clock: time_machine.Coordinates) -> None:
    async with service(city_database, "citizen=2/minute") as svc:
        assert await svc.statuses(3, svc.tokens.citizen) == [200, 200, 429]
        assert await svc.statuses(2, svc.tokens.borrower) == [200, 200]


async def test_the_public_is_limited_per_client_address(city_database: str, clock: time_machine.Coordinates) -> None:
    async with service(city_database, "public=2/minute") as svc:
        assert await svc.statuses(3, address="203.0.113.7") == [200, 200, 429]
        assert await svc.statuses(2, address="203.0.113.8") == [200, 200]
        # One IPv6 host holds a whole /64: its addresses share one count.
        assert await svc.statuses(2, address="2001:db8:1:2::10") == [200, 200]
        assert await svc.statuses(1, address="2001:db8:1:2::beef") == [429]
        assert await svc.statuses(1, address="2001:db8:1:3::10") == [200]


async def test_a_role_not_named_is_not_limited(city_database: str, clock: time_machine.Coordinates) -> None:
    async with service(city_database, "bank=1/minute") as svc:
        assert await svc.statuses(2, svc.tokens.bank) == [200, 429]
        for token in (svc.tokens.citizen, svc.tokens.counter, svc.tokens.auditor, svc.tokens.admin, None):
            assert await svc.statuses(3, token) == [200, 200, 200]


async def test_auditors_and_admins_are_limited_when_named(city_database: str, clock: time_machine.Coordinates) -> None:
    async with service(city_database, "auditor=1/minute,admin=1/minute") as svc:
        assert await svc.statuses(2, svc.tokens.auditor) == [200, 429]
        assert await svc.statuses(2, svc.tokens.admin) == [200, 429]


async def test_off_turns_every_limit_off(city_database: str, clock: time_machine.Coordinates) -> None:
    async with service(city_database, "off") as svc:
        # Past the default public limit (60/minute) from one address, and on for a bank.
        assert set(await svc.statuses(61)) == {200}
        assert set(await svc.statuses(5, svc.tokens.bank)) == {200}


async def test_graphql_over_get_counts_like_post_and_other_routes_do_not(
    city_database: str, clock: time_machine.Coordinates
) -> None:
    """GET /graphql runs queries (the GraphQL-over-HTTP draft), so it counts against the caller's
    limit as POST does, before its parameters are read; /healthz counts for nothing."""
    async with service(city_database, "public=2/minute") as svc, svc.client() as client:
        for _ in range(3):
            assert (await client.get("/healthz")).status_code == 200
        assert (await client.get("/graphql", params=ME)).status_code == 200
        assert await svc.statuses(2) == [200, 429]
        # Over the limit, parameters that are not even JSON are refused for the limit, unread.
        refused = await client.get("/graphql", params={**ME, "variables": "{not json"})
        assert refused.status_code == 429 and refused.json()["errors"][0]["extensions"]["code"] == "RATE_LIMITED"


# --- with Redis ------------------------------------------------------------------------------


async def test_instances_sharing_redis_share_one_count(
    city_database: str, redis_target: RedisTarget, clock: time_machine.Coordinates
) -> None:
    shared = {"redis_url": redis_target.url, "redis_prefix": redis_target.prefix}
    async with service(city_database, "bank=3/minute", **shared) as one, \
            service(city_database, "bank=3/minute", **shared) as two:  # fmt: skip
        assert await one.statuses(2, one.tokens.bank) == [200, 200]
        assert await two.statuses(2, two.tokens.bank) == [200, 429]
        refused = await one.post(one.tokens.bank)
        assert refused.status_code == 429 and refused.headers["retry-after"] == "61"
        assert redis_target.keys() == [f"{redis_target.prefix}:LIMITER/bank/{city.BANK}/3/1/minute"]


@pytest.fixture
def own_city(databases: DatabaseFactory, tmp_path: Path) -> str:
    """A city of the test's own: four processes writing its audit log (on SQLite, taking turns
    at the file) share it with no other app of the suite, whatever ran before."""
    return city_copy(databases, tmp_path)


async def test_four_workers_sharing_redis_hold_one_limit(
    own_city: str, redis_target: RedisTarget, unused_port: int, tmp_path: Path
) -> None:
    """`xinzheng serve --workers 4`, 40 requests from one bank at once: exactly its 20 pass.

    Exactly, not 20 give or take: each hit is one Lua script in Redis that reads the window and
    takes a slot atomically, and a refused hit takes none. An hour's window cannot turn over
    while the test runs, so the wall clock plays no part."""
    env = {
        **os.environ,
        "XINZHENG_DATABASE_URL": own_city, "XINZHENG_ENV": "dev", "XINZHENG_JWT_SECRET": TEST_SECRET,
        "XINZHENG_JWT_ISSUER": "xinzheng-test", "XINZHENG_JWT_AUDIENCE": "xinzheng", "XINZHENG_AUDIT_KEY": TEST_AUDIT_KEY,
        "XINZHENG_RATE_LIMITS": "bank=20/hour", "XINZHENG_REDIS_URL": redis_target.url,
        "XINZHENG_REDIS_PREFIX": redis_target.prefix,
    }  # fmt: skip
    output = tmp_path / "serve.log"
    with output.open("w") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "serve", "--workers", "4", "--port", str(unused_port)],
            env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )
    try:
        base = f"http://127.0.0.1:{unused_port}"
        # A new connection per request, so that the kernel hands them to different workers.
        limits = httpx.Limits(max_connections=10, max_keepalive_connections=0)
        async with httpx.AsyncClient(base_url=base, limits=limits, timeout=60) as client:
            await wait_until_serving(client, server, output)
            bank = Tokens(settings_for(own_city)).bank
            responses = await asyncio.gather(
                *(client.post("/graphql", json=ME, headers={"authorization": f"Bearer {bank}"}) for _ in range(40))
            )
        statuses = collections.Counter(r.status_code for r in responses)
        assert statuses == {200: 20, 429: 20}, statuses
        assert all(r.json()["errors"][0]["extensions"]["code"] == "RATE_LIMITED" for r in responses if r.status_code == 429)
        # Request ids begin with their worker process's own 16 hex digits (app/audit/record.py).
        workers = {r.headers["x-request-id"][:16] for r in responses}
        assert len(workers) > 1, "every request went to one worker: the test shows nothing about sharing"
        assert "keeps its own count" not in output.read_text()
    finally:
        stop(server)


async def wait_until_serving(client: httpx.AsyncClient, server: subprocess.Popen[bytes], output: Path) -> None:
    """Until every worker has answered (the public is not limited here): a worker still starting
    would leave the others all the load, and the test would show nothing about sharing."""
    workers: set[str] = set()
    for _ in range(600):  # a minute or so, on a busy machine
        if server.poll() is not None:
            pytest.fail(f"xinzheng serve exited with {server.returncode}: {output.read_text()}")
        with contextlib.suppress(httpx.TransportError):
            response = await client.post("/graphql", json=ME)
            workers.add(response.headers["x-request-id"][:16])
            if len(workers) == 4:
                return
            continue
        await asyncio.sleep(0.1)
    pytest.fail(f"not every worker of xinzheng serve answered within a minute ({len(workers)} did): {output.read_text()}")


def stop(server: subprocess.Popen[bytes]) -> None:
    """The server and its workers, whatever happened."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(server.pid, signal.SIGTERM)
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGKILL)
        server.wait(timeout=30)


async def test_redis_unreachable_falls_back_to_counting_in_process(
    city_database: str, clock: time_machine.Coordinates, caplog: pytest.LogCaptureFixture, unused_port: int
) -> None:
    caplog.set_level(logging.WARNING, logger="xinzheng.ratelimit")
    async with service(city_database, "bank=2/minute", redis_url=f"redis://127.0.0.1:{unused_port}/0") as svc:
        # Neither refused for want of Redis nor let through unlimited.
        assert await svc.statuses(3, svc.tokens.bank) == [200, 200, 429]
    warnings = [r.getMessage() for r in caplog.records if r.name == "xinzheng.ratelimit"]
    assert len(warnings) == 1 and "Redis does not answer" in warnings[0]
