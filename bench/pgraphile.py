"""PostGraphile v4 in the benchmark: install it, give it its SQL, start it, ask it, compare.

Used by bench/run.py on PostgreSQL only. PostGraphile is the npm package in
bench/postgraphile/ (package.json and package-lock.json committed, node_modules ignored), run
as one Node process by bench/postgraphile/server.js. It reads the same rows as the service,
through the computed-column functions of bench/postgraphile/functions.sql, applied to the
bench's throwaway database only. It has no field policy, no consent check and no audit log.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

from servers import Server, free_port, start_process

NODE_DIR = Path(__file__).resolve().parent / "postgraphile"

# The bank credit query (bench/check.py CREDIT_QUERY) in PostGraphile's schema: the same fields,
# the person looked up by its ID number. Aliases give the answer the service's shape where
# PostGraphile's names differ (so that the load generator's `data.person` check holds).
QUERY = (
    "query Credit($id: String!) { person: personByIdNumber(idNumber: $id) {"
    " idNumber name gender birthDate"
    " creditScore { score grade modelVersion computedAt factors: factorList { code description impact } }"
    " penalties: penaltiesList { decisionNumber severity category reason amount: amountYuan"
    " authority: authorityByAuthorityCode { name } decidedOn publishUntil status repairedOn }"
    " licences: licencesList { decisionNumber category title authority: authorityByAuthorityCode { name }"
    " decidedOn validFrom validTo status: currentStatus } } }"
)


class SetupError(Exception):
    """PostGraphile could not be installed or prepared; the message says why."""


def body(id_number: str) -> dict[str, Any]:
    return {"query": QUERY, "variables": {"id": id_number}, "operationName": "Credit"}


def ensure_installed() -> None:
    """`npm ci` in bench/postgraphile/ unless its node_modules already holds PostGraphile."""
    if (NODE_DIR / "node_modules" / "postgraphile" / "package.json").exists():
        return
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        raise SetupError("PostGraphile needs Node.js and npm on PATH (node 18 or later)")
    print("  installing PostGraphile: npm ci in bench/postgraphile/")
    started = time.perf_counter()
    done = subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=NODE_DIR, capture_output=True, text=True,
        timeout=600, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise SetupError(f"npm ci in {NODE_DIR} failed: {(done.stderr or done.stdout).strip()[-2000:]}")
    print(f"  npm ci: {time.perf_counter() - started:.1f} s")


def libpq_url(database_url: str) -> str:
    """postgresql+asyncpg://... as the postgres://... that asyncpg and node-postgres take."""
    return "postgresql://" + database_url.removeprefix("postgresql+asyncpg://")


def apply_functions(database_url: str) -> None:
    """bench/postgraphile/functions.sql, into the (throwaway) database of `database_url`."""
    import asyncpg  # type: ignore[import-untyped]

    sql = (NODE_DIR / "functions.sql").read_text()

    async def run() -> None:
        conn = await asyncpg.connect(libpq_url(database_url), timeout=10)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    try:
        asyncio.run(run())
    except Exception as e:
        raise SetupError(f"bench/postgraphile/functions.sql failed: {e}") from e


def start(
    stack: contextlib.ExitStack, database_url: str, secret: str, issuer: str, audience: str, tmp: Path,
    *, auth: bool = True,
) -> Server:  # fmt: skip
    """PostGraphile as one Node process on a free loopback port; stopped when the stack closes.
    Without `auth` it checks no token (and so runs no transaction per request for its claims)."""
    port = free_port()
    env = {
        **os.environ, "NODE_ENV": "production", "BENCH_PG_URL": libpq_url(database_url), "BENCH_PORT": str(port),
        "BENCH_JWT_SECRET": secret, "BENCH_JWT_ISSUER": issuer, "BENCH_JWT_AUDIENCE": audience,
        "BENCH_NO_AUTH": "" if auth else "1",
    }  # fmt: skip
    node = shutil.which("node") or "node"
    name = "postgraphile" if auth else "pg-noauth"
    return start_process(stack, name, [node, "server.js"], port, env, tmp, cwd=NODE_DIR)


# --- the comparison with the service's answer ----------------------------------------------------


def masked(id_number: str) -> str:
    return id_number[:6] + "*" * (len(id_number) - 10) + id_number[-4:]


def as_service(person: dict[str, Any]) -> dict[str, Any]:
    """PostGraphile's person in the service's shape for a bank: the ID number masked (the service's
    field policy; PostGraphile has none), the authority's name flattened, computedAt as an instant."""
    score = person["creditScore"]
    return {
        **person,
        "idNumber": masked(person["idNumber"]),
        "creditScore": None if score is None else {**score, "computedAt": instant(score["computedAt"])},
        "penalties": [flatten(p) for p in person["penalties"]],
        "licences": [flatten(li) for li in person["licences"]],
    }


def flatten(row: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in row.items() if k != "authority"}
    out["authorityName"] = (row.get("authority") or {}).get("name")
    return out


def instant(value: str | None) -> str | None:
    return None if value is None else dt.datetime.fromisoformat(value).astimezone(dt.UTC).isoformat()


def differences(service_person: dict[str, Any], postgraphile_person: dict[str, Any] | None) -> list[str]:
    """What differs between the two answers for one subject, beyond the names and formats
    as_service maps; empty when they agree. The counts and the score are checked first."""
    if postgraphile_person is None:
        return ["PostGraphile found no such person"]
    theirs, ours = as_service(postgraphile_person), dict(service_person)
    if ours.get("creditScore"):
        ours["creditScore"] = {**ours["creditScore"], "computedAt": instant(ours["creditScore"]["computedAt"])}
    found = []
    for key in ("penalties", "licences"):
        if len(ours[key]) != len(theirs[key]):
            found.append(f"{key}: the service gives {len(ours[key])}, PostGraphile {len(theirs[key])}")
    score = [(p or {}).get("score") for p in (ours.get("creditScore"), theirs.get("creditScore"))]
    if score[0] != score[1]:
        found.append(f"score: the service gives {score[0]}, PostGraphile {score[1]}")
    if not found and ours != theirs:
        found.append("same counts and score, but other fields differ")
    return found
