"""Log lines logged while a request runs carry its request id; a fault of ours keeps its
traceback, a caller's fault has none (app/observability/logs.py)."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from app.observability.logs import JsonFormatter, RequestIdFilter
from tests.api.conftest import Api


Lines = Callable[[], list[dict[str, Any]]]


@pytest.fixture
def lines() -> Iterator[Lines]:
    """The JSON lines the service has logged so far in the test, formatted as `serve` configures them."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestIdFilter())
    logger = logging.getLogger("xinzheng")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


async def test_a_fault_of_ours_is_logged_with_its_request_id_and_traceback(
    api: Api, monkeypatch: pytest.MonkeyPatch, lines: Lines
) -> None:
    def broken() -> None:
        raise RuntimeError("the clock is broken")

    monkeypatch.setattr("app.view.clock.today", broken)
    response = await api.post({"query": "{ me { role } }"}, headers={"x-request-id": "ops-fault-1"})
    assert response.status_code == 500
    monkeypatch.undo()
    lines_of = lines()
    fault = [line for line in lines_of if line["logger"] == "xinzheng.audit"]
    assert fault and fault[0]["requestId"] == "ops-fault-1"
    assert "RuntimeError: the clock is broken" in fault[0]["exception"]
    (request,) = [line for line in lines_of if line["logger"] == "xinzheng.request"]
    assert (request["requestId"], request["status"], request["level"]) == ("ops-fault-1", 500, "warning")


async def test_a_callers_fault_is_one_line_without_traceback(api: Api, lines: Lines) -> None:
    await api.post({"query": "{ me { role }"}, headers={"x-request-id": "ops-caller-1"})
    await api.post(content=b'{"query": ', headers={"content-type": "application/json", "x-request-id": "ops-caller-2"})
    await api.post({"query": "{ me { role } }"}, token="not-a-token", headers={"x-request-id": "ops-caller-3"})
    lines_of = lines()
    assert [line["requestId"] for line in lines_of] == ["ops-caller-1", "ops-caller-2", "ops-caller-3"]
    assert all(line["logger"] == "xinzheng.request" and "exception" not in line for line in lines_of)
    assert [line["codes"] for line in lines_of] == [["BAD_USER_INPUT"], ["BAD_USER_INPUT"], ["UNAUTHENTICATED"]]

