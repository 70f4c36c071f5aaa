"""Several worker processes writing at once still make one valid chain and one Merkle tree (SPEC section 7).

The real service (`xinzheng serve --workers 4`) on PostgreSQL, a few hundred requests from many
connections at once, then one entry per request, `xinzheng audit verify` content, receipts that
verify offline and checkpoints each consistent with the one before.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app.auth.roles import Role
from app.auth.tokens import mint
from tests.api.conftest import settings_for
from app.audit.merkle import verify_consistency
from tests.audit.conftest import entry_count, public_pem, service_audit_key, service_env, stored_entries, xinzheng
from tests.audit.server import Server, start_server
from tests.audit.test_receipts import check_receipt

WORKERS = 4
REQUESTS = 400
CONCURRENCY = 32
RECEIPT = "query($s: Int!) { auditReceipt(seq: $s) { seq leafIndex leafHash treeSize rootHash inclusionProof checkpoint } }"


@pytest.fixture
def server(postgres_url: str, tmp_path: Path) -> Iterator[Server]:
    # Checkpoints by count only (the timer's depend on how long the run takes), at most 25 apart.
    env = {**service_env(postgres_url), "XINZHENG_AUDIT_CHECKPOINT_EVERY": "25", "XINZHENG_AUDIT_CHECKPOINT_SECONDS": "3600"}
    with start_server(env, tmp_path / "server.log", workers=WORKERS) as running:
        yield running


async def test_workers_writing_at_once_make_one_valid_chain(server: Server, postgres_url: str, tmp_path: Path) -> None:
    settings = settings_for(postgres_url)
    tokens = [None, mint(settings, role=Role.ADMIN), mint(settings, role=Role.BANK, org="91330100MA2H00001P"), "not-a-token"]
    queries = ["{ me { role } }", "{ me { role }", '{ person(idNumber: "330106198503120028") { name } }']
    gate = asyncio.Semaphore(CONCURRENCY)
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)

    async with httpx.AsyncClient(base_url=server.base_url, limits=limits, timeout=30) as client:

        async def send(i: int) -> httpx.Response:
            token = tokens[i % len(tokens)]
            headers = {"authorization": f"Bearer {token}"} if token else {}
            async with gate:
                return await client.post("/graphql", json={"query": queries[i % len(queries)]}, headers=headers)

        responses = await asyncio.wait_for(asyncio.gather(*(send(i) for i in range(REQUESTS))), timeout=180)

        assert {r.status_code for r in responses} <= {200, 401}, server.output()
        seqs = sorted(r.json()["extensions"]["auditSeq"] for r in responses)
        assert seqs == list(range(1, REQUESTS + 1))  # every answer cites its own entry, none twice
        assert await entry_count(postgres_url) == REQUESTS
        stored = {e["requestId"]: e["seq"] for e in await stored_entries(postgres_url)}
        assert {r.json()["extensions"]["requestId"]: r.json()["extensions"]["auditSeq"] for r in responses} == stored
        result = xinzheng("audit", "verify", database_url=postgres_url)
        assert result.returncode == 0, result.stderr
        assert f"intact: {REQUESTS} entries" in result.stdout
        assert f"{REQUESTS // 25} signed checkpoint(s)" in result.stdout

        # One tree, whichever worker wrote which leaf: receipts (from any worker) verify offline,
        # and every checkpoint extends the one before it.
        key_file = public_pem(service_audit_key(), tmp_path / "audit.pub.pem")
        auditor = {"authorization": f"Bearer {mint(settings, role=Role.AUDITOR)}"}
        for seq in range(1, REQUESTS + 1, 37):
            body = (await client.post("/graphql", json={"query": RECEIPT, "variables": {"s": seq}}, headers=auditor)).json()
            assert check_receipt(body, key_file, tmp_path).returncode == 0, body
        for size in range(25, REQUESTS + 1, 25):
            proof = (await client.get("/audit/consistency", params={"from": size - 25, "to": size})).json()
            assert verify_consistency(size - 25, size, bytes.fromhex(proof["fromRootHash"]),
                                      bytes.fromhex(proof["toRootHash"]),
                                      [bytes.fromhex(h) for h in proof["consistencyProof"]])  # fmt: skip
    server.stop()
    assert server.process.returncode is not None
