"""Receipts a caller checks offline, and consistency proofs, through the public surface: GraphQL
over HTTP with real tokens, the witness's HTTP endpoints, and tools/verify_receipt.py (which
imports nothing of the service) run as a separate process against the audit public key alone.
"""

from __future__ import annotations

import asyncio
import base64
import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import create_async_engine

from app.audit.merkle import verify_consistency
from app.audit.rows import checkpoints
from app.audit.tree import tree
from app.auth.roles import Role
from app.main import create_app
from tests.api.conftest import settings_for
from tests.audit.conftest import (
    CHECKPOINT_EVERY, KNOWN_BANK, Service, drop_append_only_trigger, make_chain, public_pem, service_audit_key, xinzheng,
)

TOOL = Path(__file__).resolve().parents[2] / "tools" / "verify_receipt.py"
RECEIPT = "query($s: Int!) { auditReceipt(seq: $s) { seq leafIndex leafHash treeSize rootHash inclusionProof checkpoint } }"
CONSISTENCY = """query($f: Int!, $t: Int!) { auditConsistency(fromSize: $f, toSize: $t) {
    fromSize toSize fromRootHash toRootHash consistencyProof checkpoint } }"""


def check_receipt(receipt: Any, key_file: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """tools/verify_receipt.py in its own process, on the receipt as the caller received it."""
    path = tmp_path / "receipt.json"
    path.write_text(json.dumps(receipt), encoding="utf-8")
    return subprocess.run(
        [sys.executable, str(TOOL), "--public-key", str(key_file), str(path)], capture_output=True, text=True, timeout=60
    )


async def receipt_of(service: Service, seq: int, token: str | None) -> dict[str, Any]:
    response = await service.query(RECEIPT, {"s": seq}, token=token)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_a_bank_checks_the_receipt_of_its_own_request_offline(service: Service, tmp_path: Path) -> None:
    await make_chain(service)
    bank = service.tokens.make(Role.BANK, org=KNOWN_BANK)
    answer = (await service.query("{ me { role } }", token=bank)).json()
    seq = answer["extensions"]["auditSeq"]
    assert answer["extensions"]["requestId"]

    body = await receipt_of(service, seq, bank)
    receipt = body["data"]["auditReceipt"]
    assert "errors" not in body, body
    # Entry 13 is under no checkpoint yet (they come every 5): the receipt signed the head at once.
    assert (receipt["seq"], receipt["leafIndex"], receipt["treeSize"]) == (seq, seq - 1, seq)
    lines = receipt["checkpoint"].split("\n")
    assert lines[1:4] == [str(seq), base64.b64encode(bytes.fromhex(receipt["rootHash"])).decode(), ""]
    assert lines[4].startswith("\u2014 xinzheng/audit ")

    key_file = public_pem(service_audit_key(), tmp_path / "audit.pub.pem")
    result = check_receipt(body, key_file, tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"receipt valid: entry {seq} is leaf {seq - 1} of the tree of {seq}" in result.stdout

    # Anything changed in it, and the tool says so.
    forged_leaf = {**receipt, "leafHash": "00" * 32}
    swapped = {**receipt, "inclusionProof": receipt["inclusionProof"][::-1]}
    other_key = public_pem(Ed25519PrivateKey.generate(), tmp_path / "other.pem")
    for bad, key, reason in [(forged_leaf, key_file, "does not lead to the signed root"),
                             (swapped, key_file, "does not lead to the signed root"),
                             (receipt, other_key, "no signature")]:  # fmt: skip
        result = check_receipt(bad, key, tmp_path)
        assert result.returncode == 1 and reason in result.stderr, result.stderr


async def test_a_receipt_is_for_the_requester_auditors_and_admins_only(service: Service) -> None:
    citizen = service.tokens.citizen
    mine = (await service.query("{ me { role } }", token=citizen)).json()["extensions"]["auditSeq"]
    other_citizen = service.tokens.borrower
    bank = service.tokens.make(Role.BANK, org=KNOWN_BANK)

    assert (await receipt_of(service, mine, citizen))["data"]["auditReceipt"]["seq"] == mine
    for token in (service.tokens.auditor, service.tokens.admin):
        assert (await receipt_of(service, mine, token))["data"]["auditReceipt"]["seq"] == mine
    for token in (other_citizen, bank, None):
        body = await receipt_of(service, mine, token)
        assert body["data"]["auditReceipt"] is None
        assert [e["extensions"]["code"] for e in body["errors"]] == ["FORBIDDEN"]
    # No such entry: null, no error; a seq below 1: the caller's mistake.
    assert (await receipt_of(service, 10_000, service.tokens.auditor))["data"]["auditReceipt"] is None
    body = await receipt_of(service, 0, service.tokens.auditor)
    assert [e["extensions"]["code"] for e in body["errors"]] == ["BAD_USER_INPUT"]


async def test_consistency_proofs_between_checkpoints_verify(service: Service) -> None:
    await make_chain(service)  # checkpoints at 5 and 10
    for _ in range(4):
        await service.query("{ me { role } }")  # and at 15 (entries 13 to 16)
    auditor = service.tokens.auditor
    body = (await service.query(CONSISTENCY, {"f": CHECKPOINT_EVERY, "t": 3 * CHECKPOINT_EVERY}, token=auditor)).json()
    proof = body["data"]["auditConsistency"]
    assert "errors" not in body, body
    old = (await service.client.get("/audit/consistency", params={"from": 0, "to": CHECKPOINT_EVERY})).json()
    assert proof["fromRootHash"] == old["toRootHash"]
    assert proof["checkpoint"].split("\n")[1] == "15"
    assert verify_consistency(
        5, 15, bytes.fromhex(proof["fromRootHash"]), bytes.fromhex(proof["toRootHash"]),
        [bytes.fromhex(h) for h in proof["consistencyProof"]],
    )  # fmt: skip
    # The witness's endpoint gives the same proof, without a token and without an audit entry.
    before = (await service.query("{ me { role } }")).json()["extensions"]["auditSeq"]
    same = await service.client.get("/audit/consistency", params={"from": 5, "to": 15})
    assert same.status_code == 200 and same.json() == proof
    newest = await service.client.get("/audit/checkpoint")
    assert newest.status_code == 200 and newest.text.split("\n")[1] == "15"
    assert (await service.query("{ me { role } }")).json()["extensions"]["auditSeq"] == before + 1

    for variables, reason in [({"f": 5, "t": 12}, "toSize must be the tree size of a signed checkpoint (the newest is 15)"),
                              ({"f": 16, "t": 15}, "fromSize must be 0 or more, and at most toSize")]:  # fmt: skip
        body = (await service.query(CONSISTENCY, variables, token=auditor)).json()
        assert [e["extensions"]["code"] for e in body["errors"]] == ["BAD_USER_INPUT"]
        assert reason in body["errors"][0]["message"]
    body = (await service.query(CONSISTENCY, {"f": 5, "t": 15}, token=service.tokens.make(Role.BANK, org=KNOWN_BANK))).json()
    assert [e["extensions"]["code"] for e in body["errors"]] == ["FORBIDDEN"]
    # The witness's endpoint refuses the same, in the caller's language.
    for params, english, chinese in [
        ({"from": "x", "to": 15}, "give from and to, tree sizes as whole numbers", "请提供 from 和 to"),
        ({"to": 15}, "give from and to, tree sizes as whole numbers", "请提供 from 和 to"),
        ({"from": "１", "to": 15}, "give from and to, tree sizes as whole numbers", "请提供 from 和 to"),  # a full-width 1
        ({"from": "1_0", "to": 15}, "give from and to, tree sizes as whole numbers", "请提供 from 和 to"),
        ({"from": " 5", "to": 15}, "give from and to, tree sizes as whole numbers", "请提供 from 和 to"),
        ({"from": 5, "to": 12}, "to must be the tree size of a signed checkpoint (", "to 须为某个已签名检查点的树大小"),
        ({"from": 5, "to": 10**19 - 1}, "to must be the tree size of a signed checkpoint (", "to 须为"),
        ({"from": 5, "to": 10**20}, "give from and to, tree sizes as whole numbers", "请提供 from 和 to"),
        ({"from": 16, "to": 15}, "from must be 0 or more, and at most to", "from 须不小于 0，且不大于 to"),
    ]:
        answer = await service.client.get("/audit/consistency", params=params, headers={"accept-language": "zh-CN"})
        assert answer.status_code == 400 and chinese in answer.json()["error"], answer.text
        answer = await service.client.get("/audit/consistency", params=params)  # the suite reads English
        assert answer.status_code == 400 and english in answer.json()["error"], answer.text


async def test_the_head_is_signed_every_t_seconds_when_entries_arrived(empty_database_url: str) -> None:
    """Far fewer than N entries, and still the unsigned tail does not outlast T."""
    settings = replace(settings_for(empty_database_url, checkpoint_every=1000), audit_checkpoint_seconds=0.05)
    app = create_app(settings)
    async with app.router.lifespan_context(app), httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://xinzheng.test"
    ) as client:
        none_yet = await client.get("/audit/checkpoint", headers={"accept-language": "en"})
        assert (none_yet.status_code, none_yet.json()) == (404, {"error": "no checkpoint has been signed yet"})
        for _ in range(3):
            await client.post("/graphql", json={"query": "{ me { role } }"})
        for _ in range(200):  # up to 10 s: the timer runs every 0.05 s
            newest = await client.get("/audit/checkpoint")
            if newest.status_code == 200 and newest.text.split("\n")[1] == "3":
                break
            await asyncio.sleep(0.05)
        assert newest.text.split("\n")[1] == "3", newest.text
    # One checkpoint a size at most (the timer may have signed the log at 1 or 2 on its way).
    assert set(await checkpoint_sizes(empty_database_url)) <= {1, 2, 3}


async def checkpoint_sizes(url: str) -> list[int]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return list((await conn.execute(select(checkpoints.c.seq))).scalars())
    finally:
        await engine.dispose()


async def test_entries_without_a_tree_are_taken_in_by_the_next_append(service: Service, tmp_path: Path) -> None:
    """As when workers of the release before (which knew no tree) wrote while others rolled over:
    the next append adds their leaves first, and their receipts verify."""
    await make_chain(service)
    await drop_append_only_trigger(service.url, "audit_tree")
    engine = create_async_engine(service.url)
    try:
        async with engine.begin() as conn:
            for level in range(4):  # every node over a leaf from 8 (entry 9) on
                await conn.execute(delete(tree).where(tree.c.level == level, tree.c.idx >= 8 >> level))
    finally:
        await engine.dispose()
    # A new store (a restarted worker) knows nothing of the tree but what is stored.
    app = create_app(replace(service.settings, audit_checkpoint_seconds=3600))
    async with app.router.lifespan_context(app), httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://xinzheng.test"
    ) as client:
        await client.post("/graphql", json={"query": "{ me { role } }"})
        body = (await client.post("/graphql", json={"query": RECEIPT, "variables": {"s": 9}},
                                  headers={"authorization": f"Bearer {service.tokens.auditor}"})).json()  # fmt: skip
    key_file = public_pem(service_audit_key(), tmp_path / "audit.pub.pem")
    assert check_receipt(body, key_file, tmp_path).returncode == 0, body
    result = xinzheng("audit", "verify", database_url=service.url)
    assert result.returncode == 0, result.stderr


async def test_signings_that_start_together_take_turns(empty_database_url: str) -> None:
    """The timer's signing and a receipt's may start at once; they share the store's one signer
    connection, and on PostgreSQL (where no turn is taken) they collided on it: a receipt
    answered AUDIT_UNAVAILABLE now and then."""
    app = create_app(replace(settings_for(empty_database_url), audit_checkpoint_seconds=3600))
    async with app.router.lifespan_context(app), httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://xinzheng.test"
    ) as client:
        for _ in range(3):
            assert (await client.post("/graphql", json={"query": "{ me { role } }"})).status_code == 200
        store = app.state.graphql.audit
        sizes = await asyncio.gather(*(store.sign_head() for _ in range(4)))
    assert sizes == [3, 3, 3, 3]
