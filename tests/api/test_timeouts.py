"""Slow and vanishing clients, and a database that holds a request up: each gets a clean answer
and an audit entry, and holds nothing for long."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
import pytest_asyncio
from sqlalchemy.engine import make_url
from starlette.types import Message

import app.transport
from app.main import create_app
from tests.api import city
from tests.api.conftest import Tokens, settings_for

BODY = json.dumps({"query": "{ me { role } }"}).encode()


class Exchange:
    """One request driven by hand at the ASGI level: what the client sends, when, and what came back."""

    def __init__(self, messages: list[Message], *, then_wait: bool = False) -> None:
        self.messages = messages
        self.then_wait = then_wait
        self.sent: list[Message] = []

    async def receive(self) -> Message:
        if self.messages:
            return self.messages.pop(0)
        if self.then_wait:
            await asyncio.Event().wait()  # a client that never sends the rest
        return {"type": "http.disconnect"}

    async def send(self, message: Message) -> None:
        self.sent.append(message)

    @property
    def status(self) -> int:
        return next(m["status"] for m in self.sent if m["type"] == "http.response.start")

    @property
    def body(self) -> dict[str, Any]:
        return json.loads(b"".join(m.get("body", b"") for m in self.sent if m["type"] == "http.response.body"))


def scope() -> dict[str, Any]:
    return {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
        "path": "/graphql", "raw_path": b"/graphql", "query_string": b"", "root_path": "",
        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())],
        "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8000),
    }  # fmt: skip


@pytest_asyncio.fixture(loop_scope="session")
async def service(city_database: str) -> AsyncIterator[Any]:
    service = create_app(settings_for(city_database))
    async with service.router.lifespan_context(service):
        yield service


async def test_a_client_that_goes_away_mid_body_gets_a_4xx_and_an_entry(service: Any) -> None:
    exchange = Exchange([{"type": "http.request", "body": BODY[:10], "more_body": True}])
    await service(scope(), exchange.receive, exchange.send)
    assert exchange.status == 400
    assert exchange.body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert isinstance(exchange.body["extensions"]["auditSeq"], int)


async def test_a_body_trickling_in_is_cut_off(service: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(app.transport, "BODY_SECONDS", 0.2)
    exchange = Exchange([{"type": "http.request", "body": BODY[:10], "more_body": True}], then_wait=True)
    await asyncio.wait_for(service(scope(), exchange.receive, exchange.send), timeout=30)
    assert exchange.status == 408
    assert isinstance(exchange.body["extensions"]["auditSeq"], int)


async def test_a_request_held_up_by_a_lock_is_stopped_answered_and_audited(city_database: str) -> None:
    if not city_database.startswith("postgresql"):
        pytest.skip("SQLite readers never wait for a lock (WAL): only PostgreSQL can hold a read up")
    settings = dataclasses.replace(settings_for(city_database), request_timeout=1.0)
    service = create_app(settings)
    dsn = make_url(city_database).set(drivername="postgresql").render_as_string(hide_password=False)
    locker = await asyncpg.connect(dsn)
    try:
        async with service.router.lifespan_context(service):
            transaction = locker.transaction()
            await transaction.start()
            await locker.execute("LOCK TABLE persons IN ACCESS EXCLUSIVE MODE")
            body = json.dumps({"query": '{ person(idNumber: "%s") { name } }' % city.BORROWER}).encode()
            request = scope()
            request["headers"] = [
                (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                (b"authorization", f"Bearer {Tokens(settings).admin}".encode()), (b"accept-language", b"en"),
            ]  # fmt: skip
            exchange = Exchange([{"type": "http.request", "body": body, "more_body": False}])
            await asyncio.wait_for(service(request, exchange.receive, exchange.send), timeout=60)
            await transaction.rollback()
    finally:
        await locker.close()
    assert exchange.status == 503
    assert exchange.body.get("data") is None
    assert exchange.body["errors"][0]["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
    assert "stopped" in exchange.body["errors"][0]["message"]
    assert isinstance(exchange.body["extensions"]["auditSeq"], int)
