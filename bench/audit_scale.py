"""The audit log at scale: `xinzheng audit verify` of a large log, and an inclusion proof served from it.

    python bench/audit_scale.py --entries 1000000
    python bench/audit_scale.py --entries 1000000 --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/test

Makes a throwaway database (a temp SQLite file, or `xz_bench_…` on the server, dropped at the
end), migrates it, and writes the log directly, not through requests: entries as the service's
requests make them (varied actors, queries, subjects), chained, their Merkle tree and a signed
checkpoint every 100, made by the store's own code (`Extender.prepare`, the rows a batch
writes) and inserted in chunks of 10,000. Then it times `xinzheng audit verify` in a fresh
process, and the receipt of entries spread over the log: the proof alone (`proofs.receipt`, the
rows it reads), and `auditReceipt` over GraphQL in process (ASGI, an auditor's token).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.audit import proofs  # noqa: E402
from app.audit.chain import GENESIS  # noqa: E402
from app.audit.merkle import Frontier  # noqa: E402
from app.audit.store import AuditStore  # noqa: E402
from app.auth.roles import Role  # noqa: E402
from app.auth.tokens import mint  # noqa: E402
from app.cli.migrate import upgrade  # noqa: E402
from app.config import RateLimits, Settings  # noqa: E402
from app.db.session import create_engine  # noqa: E402
from app.main import create_app  # noqa: E402

CHUNK = 10_000
SECRET = "bench-only-secret-not-for-any-deployment-0123456789"


def entry(i: int, at: dt.datetime) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    role = ["bank", "citizen", "public", "counter"][i % 4]
    return {
        "at": at, "requestId": uuid.UUID(int=i).hex, "actorSub": None if role == "public" else f"{role}-{i % 97}",
        "actorRole": role, "actorOrg": "91330100MA2H00001P" if role == "bank" else None, "clientAddress": f"10.0.{i % 250}.{i % 7}",
        "operationName": "Credit", "operationType": "QUERY", "queryHash": f"{i % 13:064x}",
        "queryText": "query Credit($id: String!, $a: AccessInput) { person(idNumber: $id, access: $a) { name creditScore { score } } }",
        "variables": {"id": "330105199007080010", "a": {"purpose": "LOAN_APPROVAL", "consentId": "HM-2026-0002"}},
        "purpose": "LOAN_APPROVAL" if role == "bank" else None, "consentId": "HM-2026-0002" if role == "bank" else None,
        "caseNumber": None, "subjects": ["PERSON:330105199007080010"], "fieldsMasked": ["person.idNumber"],
        "fieldsDenied": ["person.phone"], "outcome": "PARTIAL", "errorCodes": ["FORBIDDEN"], "durationMs": i % 40,
    }, []  # fmt: skip


def fill(url: str, settings: Settings, count: int) -> None:
    """`count` entries, their tree and checkpoints, written with the store's own batch rows."""
    store = AuditStore(create_engine(settings), Ed25519PrivateKey.from_private_bytes(settings_key_bytes(settings)), 100)
    seq, prev, frontier, start = 0, GENESIS, Frontier(), dt.datetime(2026, 11, 1, tzinfo=dt.UTC)

    async def write() -> None:
        nonlocal seq, prev
        from sqlalchemy.ext.asyncio import create_async_engine

        engine = create_async_engine(url)
        async with engine.begin() as conn:
            for first in range(0, count, CHUNK):
                items = [entry(i, start + dt.timedelta(milliseconds=i)) for i in range(first, min(first + CHUNK, count))]
                batch = store.extender.prepare(seq, prev, frontier, items)
                for statement, rows in batch.statements():
                    if rows:
                        await conn.execute(statement, rows)
                seq, prev = batch.entries[-1]["seq"], batch.entries[-1]["hash"]
        await engine.dispose()
        await store.engine.dispose()

    asyncio.run(write())


def settings_key_bytes(settings: Settings) -> bytes:
    key = serialization.load_pem_private_key((settings.audit_key_pem or "").encode(), password=None)
    assert isinstance(key, Ed25519PrivateKey)
    return key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption())


async def proof_latency(settings: Settings, count: int, samples: int) -> tuple[list[float], list[float]]:
    app = create_app(settings)
    store: AuditStore = app.state.graphql.audit
    seqs = [1 + (count - 1) * k // (samples - 1) for k in range(samples)]
    alone, over_graphql = [], []
    headers = {"authorization": f"Bearer {mint(settings, role=Role.AUDITOR)}"}
    query = "query($s: Int!) { auditReceipt(seq: $s) { seq leafHash treeSize rootHash inclusionProof checkpoint } }"
    async with app.router.lifespan_context(app), httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://bench"
    ) as client:
        await proofs.receipt(store, count)  # the head signed once (the store's own entries come after)
        for seq in seqs:
            t = time.perf_counter()
            await proofs.receipt(store, seq)
            alone.append((time.perf_counter() - t) * 1000)
        for seq in seqs:
            t = time.perf_counter()
            response = await client.post("/graphql", json={"query": query, "variables": {"s": seq}}, headers=headers)
            over_graphql.append((time.perf_counter() - t) * 1000)
            assert response.json()["data"]["auditReceipt"]["seq"] == seq, response.text
    return alone, over_graphql


def server(url: str, statement: str) -> None:
    """One statement on the PostgreSQL server of `url` (CREATE and DROP DATABASE)."""
    import asyncpg

    async def run() -> None:
        conn = await asyncpg.connect(make_url(url).set(drivername="postgresql").render_as_string(hide_password=False))
        try:
            await conn.execute(statement)
        finally:
            await conn.close()

    asyncio.run(run())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--database-url", help="a PostgreSQL server URL (default: a temp SQLite file)")
    parser.add_argument("--samples", type=int, default=200)
    args = parser.parse_args()
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    tmp = tempfile.TemporaryDirectory()
    name = None
    if args.database_url:
        name = f"xz_bench_{uuid.uuid4().hex[:10]}"
        server(args.database_url, f'CREATE DATABASE "{name}"')
        url = make_url(args.database_url).set(database=name).render_as_string(hide_password=False)
    else:
        url = f"sqlite+aiosqlite:///{Path(tmp.name) / 'audit.db'}"
    try:
        upgrade(url)
        settings = Settings(
            database_url=url, env="dev", jwt_secret=SECRET, jwt_public_key=None, jwt_issuer="xinzheng-dev",
            jwt_audience="xinzheng", dev_secret=True, audit_key_pem=pem, rate_limits=RateLimits.parse("off"),
            audit_checkpoint_seconds=3600,
        )  # fmt: skip
        t = time.perf_counter()
        fill(url, settings, args.entries)
        print(f"wrote {args.entries:,} entries, their tree and checkpoints in {time.perf_counter() - t:.1f} s")
        env = {**os.environ, "XINZHENG_DATABASE_URL": url, "XINZHENG_AUDIT_KEY": pem, "XINZHENG_JWT_SECRET": SECRET}
        t = time.perf_counter()
        result = subprocess.run([sys.executable, "-m", "app.cli", "audit", "verify"], env=env, capture_output=True, text=True)
        took = time.perf_counter() - t
        print(f"xinzheng audit verify: {took:.1f} s, exit {result.returncode}: {(result.stdout or result.stderr).strip()[:160]}")
        alone, over = asyncio.run(proof_latency(settings, args.entries, args.samples))
        for label, values in (("proof alone (proofs.receipt)", alone), ("auditReceipt over GraphQL", over)):
            values.sort()
            print(f"{label}: median {statistics.median(values):.2f} ms, p99 {values[int(len(values) * 0.99) - 1]:.2f} ms,"
                  f" max {values[-1]:.2f} ms over {len(values)} receipts")  # fmt: skip
        return result.returncode
    finally:
        if name is not None:
            server(args.database_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        tmp.cleanup()


if __name__ == "__main__":
    sys.exit(main())
