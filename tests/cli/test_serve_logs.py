"""`xinzheng serve`'s logs: one JSON line per request (or lines for a person with
XINZHENG_LOG_FORMAT=console), uvicorn's own lines alike, and no personal data in any of them."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.auth.roles import Role
from app.auth.tokens import mint
from tests.api.conftest import settings_for
from tests.audit.conftest import KNOWN_BANK, service_env, sql
from tests.cli.server import Server

ID_NUMBER = "330106198503120028"
PHONE = "13800138000"


@pytest.fixture
def database(empty_database_url: str) -> str:
    if not empty_database_url.startswith("sqlite"):
        pytest.skip("the log lines do not depend on the database")
    asyncio.run(
        sql(
            empty_database_url, "INSERT INTO authorities (code, name, authority_type) VALUES (:code, '惠民银行', 'BANK')",
            params={"code": KNOWN_BANK},
        )
    )  # fmt: skip
    return empty_database_url


async def some_requests(server: Server, database: str) -> tuple[list[httpx.Response], list[str]]:
    """Requests of several fates, carrying an ID number, a phone number and tokens; then SIGTERM."""
    settings = settings_for(database)
    citizen = mint(settings, role=Role.CITIZEN, id_number=ID_NUMBER)
    bank = mint(settings, role=Role.BANK, org=KNOWN_BANK)
    person = "query Look($id: String!, $phone: String) { person(idNumber: $id) { name } }"
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as client:
        responses = [
            await client.post("/graphql", json={"query": "query Mine { me { role } }"}, headers={"x-request-id": "ops-test-1"}),
            await client.post(
                "/graphql", json={"query": person, "variables": {"id": ID_NUMBER, "phone": PHONE}},
                headers={"authorization": f"Bearer {citizen}"},
            ),
            await client.post(
                "/graphql", json={"query": person, "variables": {"id": ID_NUMBER}}, headers={"authorization": f"Bearer {bank}"}
            ),
            await client.post("/graphql", json={"query": "{ me { role }"}),  # a syntax error
            await client.post("/graphql", json={"query": "{ me { role } }"}, headers={"authorization": "Bearer not-a-token"}),
            await client.post("/graphql", content=b'{"query": ', headers={"content-type": "application/json"}),
        ]  # fmt: skip
    server.signal(signal.SIGTERM)
    await asyncio.to_thread(server.wait)
    return responses, [citizen, bank]


async def test_json_lines_one_per_request_without_personal_data(database: str, tmp_path: Path) -> None:
    server = Server(service_env(database), tmp_path)
    try:
        server.wait_ready()
        responses, tokens = await some_requests(server, database)
    finally:
        server.kill()
    log = server.stderr()
    lines = [json.loads(line) for line in log.splitlines()]  # every line is one JSON object
    assert all({"time", "level", "logger", "message"} <= line.keys() for line in lines)
    assert any(line["logger"].startswith("uvicorn") for line in lines)  # uvicorn's own lines too

    requests = {line["requestId"]: line for line in lines if line["logger"] == "xinzheng.request"}
    assert len(requests) == len(responses) == len([line for line in lines if line["logger"] == "xinzheng.request"])
    for response in responses:
        line = requests[response.headers["x-request-id"]]
        assert line["auditSeq"] == response.json()["extensions"]["auditSeq"]
        assert line["status"] == response.status_code
        assert line["codes"] == sorted({e["extensions"]["code"] for e in response.json().get("errors", [])})
        assert {"operation", "operationType", "role", "org", "outcome", "durationMs"} <= line.keys()
    assert requests["ops-test-1"] | {"time": None, "durationMs": None} == {
        "time": None, "level": "info", "logger": "xinzheng.request", "message": "request", "requestId": "ops-test-1",
        "auditSeq": 1, "operation": "Mine", "operationType": "QUERY", "role": "public", "org": None,
        "outcome": "SERVED", "codes": [], "status": 200, "durationMs": None,
    }  # fmt: skip
    bank_line = requests[responses[2].headers["x-request-id"]]
    assert (bank_line["role"], bank_line["org"], bank_line["operation"]) == ("bank", KNOWN_BANK, "Look")
    # No subject, no variables, no token, no query text; a caller's fault is no traceback.
    for secret in [ID_NUMBER, PHONE, *tokens, "not-a-token", "idNumber"]:
        assert secret not in log, secret
    assert "Traceback" not in log and not any("exception" in line for line in lines)


async def test_console_lines_for_a_person(database: str, tmp_path: Path) -> None:
    server = Server({**service_env(database), "XINZHENG_LOG_FORMAT": "console"}, tmp_path)
    try:
        server.wait_ready()
        responses, _ = await some_requests(server, database)
    finally:
        server.kill()
    log = server.stderr()
    request_lines = [line for line in log.splitlines() if " xinzheng.request request " in line]
    assert len(request_lines) == len(responses)
    assert "requestId=ops-test-1 auditSeq=1 operation=Mine operationType=QUERY role=public outcome=SERVED status=200" in log
    assert not any(line.startswith("{") for line in log.splitlines())
    assert ID_NUMBER not in log and PHONE not in log


def test_an_unknown_log_format_stops_the_service_in_one_line(tmp_path: Path) -> None:
    env: dict[str, Any] = {**service_env(f"sqlite+aiosqlite:///{tmp_path}/x.db"), "XINZHENG_LOG_FORMAT": "xml"}
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", "serve"], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.splitlines() == ["xinzheng serve: XINZHENG_LOG_FORMAT must be 'json' or 'console', not 'xml'"]
