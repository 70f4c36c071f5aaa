"""`xinzheng audit export` writes JSONL that verifies on its own; `verify --file` names what was changed."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import create_async_engine

from app.audit import keys
from app.audit.chain import GENESIS, entry_hash, query_hash, timestamp
from app.audit.export import FORMAT, encode_key
from app.audit.rows import audit_log, checkpoints, to_row
from app.cli import main
from app.main import create_app
from tests.api.conftest import settings_for
from tests.audit.conftest import (
    CHECKPOINT_EVERY,
    ENTRIES,
    Service,
    first_bad_seq,
    make_chain,
    public_pem,
    service_audit_key,
    stored_entries,
    xinzheng,
)
from tests.conftest import DatabaseFactory


@dataclass(frozen=True)
class Export:
    url: str  # the database it was made from, left as it was
    path: Path
    lines: list[dict[str, Any]]


@pytest.fixture(scope="module")
def export_database(databases: DatabaseFactory) -> str:
    return databases.new()  # outside the event loop: the factory runs its own for PostgreSQL


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def export(export_database: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Export]:
    """A chain made by real requests, exported once per backend with `xinzheng audit export`. The
    service runs until the module's tests are done: at shutdown it signs its head, and the
    database must stay as it was exported."""
    url = export_database
    app = create_app(settings_for(url, checkpoint_every=CHECKPOINT_EVERY))
    path = tmp_path_factory.mktemp("export") / "audit.jsonl"
    async with app.router.lifespan_context(app), httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://xinzheng.test"
    ) as client:
        await make_chain(Service(client, settings_for(url, checkpoint_every=CHECKPOINT_EVERY)))
        result = xinzheng("audit", "export", "--output", str(path), database_url=url)
        assert result.returncode == 0, result.stderr
        assert f"wrote {ENTRIES} entries and 2 checkpoint(s)" in result.stdout
        yield Export(url, path, [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()])


def verify_file(path: Path, *extra: str) -> Any:
    """`xinzheng audit verify --file`, in a fresh process with no database to reach."""
    return xinzheng("audit", "verify", "--file", str(path), *extra, database_url="sqlite+aiosqlite:////nonexistent/xz.db")


async def test_an_export_verifies_on_its_own(export: Export) -> None:
    header, body = export.lines[0], export.lines[1:]
    assert header["kind"] == "header" and header["format"] == FORMAT and header["version"] == 2
    assert header["publicKey"] == encode_key(service_audit_key().public_key())
    assert header["keyId"] == keys.key_id(service_audit_key().public_key())
    assert (header["entries"], header["checkpoints"], header["headSeq"]) == (ENTRIES, 2, ENTRIES)
    assert [r["seq"] for r in body if r["kind"] == "entry"] == list(range(1, ENTRIES + 1))
    assert [r["seq"] for r in body if r["kind"] == "checkpoint"] == [CHECKPOINT_EVERY, 2 * CHECKPOINT_EVERY]
    assert [r["kind"] for r in body] == ["entry"] * ENTRIES + ["checkpoint"] * 2
    # Version 2: each checkpoint is the signed note of the Merkle tree at its size, and its root.
    assert all(r["note"].split("\n")[1] == str(r["seq"]) and len(r["rootHash"]) == 64 for r in body[ENTRIES:])
    stored = await stored_entries(export.url)
    assert [{k: v for k, v in r.items() if k != "kind"} for r in body[:ENTRIES]] == [
        {**e, "at": timestamp(e["at"])} for e in stored
    ]

    result = verify_file(export.path)
    assert result.returncode == 0, result.stderr
    assert f"audit export intact: {ENTRIES} entries" in result.stdout
    assert "trusting the key in the file's header" in result.stdout


async def test_an_export_to_standard_output_is_the_same(export: Export) -> None:
    result = xinzheng("audit", "export", database_url=export.url)
    assert result.returncode == 0, result.stderr
    assert result.stdout == export.path.read_text(encoding="utf-8")


async def test_an_export_is_checked_against_a_given_public_key(export: Export, tmp_path: Path) -> None:
    ours = verify_file(export.path, "--public-key", str(public_pem(service_audit_key(), tmp_path / "ours.pem")))
    assert ours.returncode == 0, ours.stderr
    assert "checked against the given key" in ours.stdout

    theirs = verify_file(export.path, "--public-key", str(public_pem(Ed25519PrivateKey.generate(), tmp_path / "theirs.pem")))
    assert theirs.returncode != 0
    assert "not the given key" in theirs.stderr


def _edit_entry(seq: int, **fields: Any) -> Callable[[list[str]], list[str]]:
    def edit(lines: list[str]) -> list[str]:
        return [json.dumps({**json.loads(x), **fields}) if json.loads(x).get("seq") == seq and '"entry"' in x else x for x in lines]
    return edit


def _drop_line(number: int) -> Callable[[list[str]], list[str]]:
    return lambda lines: lines[: number - 1] + lines[number:]


def _swap_lines(a: int, b: int) -> Callable[[list[str]], list[str]]:
    def swap(lines: list[str]) -> list[str]:
        lines = list(lines)
        lines[a - 1], lines[b - 1] = lines[b - 1], lines[a - 1]
        return lines
    return swap


def _replace_line(number: int, text: str) -> Callable[[list[str]], list[str]]:
    return lambda lines: [text if i == number else x for i, x in enumerate(lines, start=1)]


def _edit_checkpoint(seq: int, **fields: Any) -> Callable[[list[str]], list[str]]:
    def edit(lines: list[str]) -> list[str]:
        return [json.dumps({**json.loads(x), **fields}) if '"checkpoint"' in x and json.loads(x)["seq"] == seq else x for x in lines]
    return edit


# Entry n is on line n + 1 (line 1 is the header); checkpoints follow entry 12 (lines 14, 15).
FILE_TAMPERINGS: dict[str, tuple[Callable[[list[str]], list[str]], str]] = {
    "edit_an_entry": (_edit_entry(7, clientAddress="10.9.8.7"), "broken at entry 7 (line 8): entry 7 was altered"),
    "drop_an_entry": (_drop_line(8), "broken at entry 7 (line 8): entry 7 is missing"),
    "swap_two_entries": (_swap_lines(7, 8), "broken at entry 6 (line 7): entry 6 is missing"),
    "a_line_that_is_not_json": (_replace_line(8, '{"kind": "entry", "seq": 7,'), "line 8: not valid JSON"),
    "a_line_nested_past_the_recursion_limit": (_replace_line(8, "[" * 100_000 + "]" * 100_000),
                                               "line 8: not valid JSON (nested too deeply)"),
    "a_field_the_chain_does_not_cover": (_edit_entry(7, note="fine"), "line 8: entry 7 has fields the chain does not cover: note"),
    "drop_the_tail_after_the_last_checkpoint": (lambda lines: lines[:11] + lines[13:], "cut short"),
    # What a checkpoint signs is its note (the tree's size and root); its `at` is not signed since the tree.
    "edit_a_checkpoint": (_edit_checkpoint(10, note=f"xinzheng/audit\n10\n{'A' * 43}=\n\n— xinzheng/audit {'A' * 94}==\n"),
                          "broken at entry 10: the checkpoint at entry 10 is not signed"),
    "a_checkpoint_row_unlike_its_note": (_edit_checkpoint(10, rootHash="00" * 32),
                                         "broken at entry 10: the checkpoint row at entry 10 does not say what its signed note says"),
    "a_checkpoint_before_an_entry": (_swap_lines(13, 14), "line 14: an entry after the checkpoints"),
}


@pytest.mark.parametrize("tampering", list(FILE_TAMPERINGS))
def test_verify_names_what_was_changed_in_an_export(
    export: Export, tmp_path: Path, tampering: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """The command's own entry point in this process: a file needs no database, and a fresh process each time is slow."""
    tamper, named = FILE_TAMPERINGS[tampering]
    lines = export.path.read_text(encoding="utf-8").splitlines()
    changed = tmp_path / "changed.jsonl"
    changed.write_text("".join(line + "\n" for line in tamper(lines)), encoding="utf-8")

    status = main(["audit", "verify", "--file", str(changed)])

    out, err = capsys.readouterr()
    result = subprocess.CompletedProcess(["xinzheng"], status, out, err)
    assert status != 0, out
    assert named in err, err
    assert len(err.strip().splitlines()) == 1, err
    if "broken at entry" in named:
        assert first_bad_seq(result) == int(named.split("broken at entry ")[1].split()[0].rstrip(":"))


def _synthetic_chain(count: int, key: Ed25519PrivateKey, every: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """A valid chain as the store would write it, made directly (requests would be slow)."""
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    rows, signed, prev = [], [], GENESIS
    for seq in range(1, count + 1):
        at = start + dt.timedelta(milliseconds=seq)
        entry = {
            "seq": seq, "at": at, "requestId": f"req-{seq}", "actorSub": None, "actorRole": "public", "actorOrg": None,
            "clientAddress": "127.0.0.1", "operationName": None, "operationType": "QUERY",
            "queryHash": query_hash("{ me { role } }"), "queryText": "{ me { role } }", "variables": {"n": seq},
            "purpose": None, "consentId": None, "caseNumber": None, "subjects": [], "fieldsMasked": [],
            "fieldsDenied": [], "outcome": "SERVED", "errorCodes": [], "durationMs": seq % 7, "prevHash": prev,
        }
        entry["hash"] = prev = entry_hash(entry)
        rows.append(to_row(entry))
        if seq % every == 0:
            message = keys.checkpoint_message(seq, prev, timestamp(at))
            signed.append({"seq": seq, "head_hash": prev, "at": at, "key_id": keys.key_id(key.public_key()),
                           "signature": keys.sign(key, message)})
    return rows, signed


async def test_a_long_log_exports_in_batches_and_verifies(empty_database_url: str, tmp_path: Path) -> None:
    count = 2_345  # past two of the store's 1,000-entry batches
    rows, signed = _synthetic_chain(count, service_audit_key(), 100)
    engine = create_async_engine(empty_database_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(insert(audit_log), rows)
            await conn.execute(insert(checkpoints), signed)
    finally:
        await engine.dispose()
    assert xinzheng("audit", "verify", database_url=empty_database_url).returncode == 0

    path = tmp_path / "audit.jsonl"
    result = xinzheng("audit", "export", "-o", str(path), database_url=empty_database_url)
    assert result.returncode == 0, result.stderr
    assert len(path.read_text(encoding="utf-8").splitlines()) == 1 + count + len(signed)

    verified = verify_file(path)
    assert verified.returncode == 0, verified.stderr
    assert f"intact: {count} entries" in verified.stdout
    assert f"{len(signed)} signed checkpoint(s)" in verified.stdout
    assert f"entries 2301-{count} are not yet under a signed checkpoint" in verified.stdout


async def test_an_empty_log_exports_and_verifies(empty_database_url: str, tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    assert xinzheng("audit", "export", "-o", str(path), database_url=empty_database_url).returncode == 0
    result = verify_file(path)
    assert result.returncode == 0, result.stderr
    assert "intact: 0 entries" in result.stdout
