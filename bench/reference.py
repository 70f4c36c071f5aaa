"""The honest reference: the bank credit query answered by hand, for bench/run.py to compare.

One Starlette endpoint, POST /graphql, that answers exactly one request shape, the bank's credit
query (bench/check.py CREDIT_QUERY), with the JSON the GraphQL service gives for it, from the same
database through the same driver as the service's reads: asyncpg on PostgreSQL, and on SQLite
plain sqlite3 on the event loop (app/db/session.py create_read_engine; WAL readers never wait on
the writer). It ignores the query text and reads only the variables; what it does per request
is the least the service must also do:

1. verify the bearer JWT (pyjwt, HS256, exp/iss/aud/sub/role required), role bank, its org;
2. validate the ID number; check the consent row as app/auth/gate.py does (this subject, this
   bank, this purpose, not revoked, granted, not expired);
3. read the person, the credit score, the penalties a bank may see (decided within 5 years,
   征信业管理条例 art. 16) and the licences, with authority names: plain SQL, one pooled
   connection per request, no ORM and no SQLAlchemy;
4. shape the answer as the field policy does for a bank (app/auth/policy.py): the ID number
   masked, ISO dates, amounts as strings with two decimals, licence status EXPIRED after
   validTo, publishUntil from app.domain.rules, each score factor described by its code in the
   language the Accept-Language header asks for (app/i18n), as the service describes it.

Run by bench/run.py as `uvicorn --factory reference:create_app --app-dir bench`, configured by
the service's own environment variables (XINZHENG_DATABASE_URL, XINZHENG_JWT_SECRET,
XINZHENG_JWT_ISSUER, XINZHENG_JWT_AUDIENCE).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
import json
import os
import re
import sqlite3
from collections.abc import AsyncIterator, Mapping, Sequence
from decimal import Decimal
from typing import Any, Protocol

import jwt
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from app import clock
from app.domain import rules
from app.domain.enums import BANK_PURPOSES, PenaltySeverity
from app.i18n import Language, language_of
from app.identifiers import InvalidIdentifier, parse_credit_code, parse_id_number
from app.scoring.rules import describe

# At most this many connections per process, as the service keeps (app/db/session.py POOL_SIZE).
POOL_SIZE = 32
REQUIRED_CLAIMS = ["exp", "iss", "aud", "sub", "role"]

Row = Mapping[str, Any]

# The statements. $n placeholders; SQLite gets them rewritten to "?" (in order) below.
CONSENT = "SELECT holder_kind, holder_id, grantee_code, purposes, granted_at, valid_until, revoked_at FROM consents WHERE id = $1"
PERSON = "SELECT id_number, name, gender, birth_date FROM persons WHERE id_number = $1"
SCORE = (
    "SELECT score, grade, model_version, computed_at, factors FROM credit_scores"
    " WHERE holder_kind = 'PERSON' AND holder_id = $1"
)
PENALTIES = (
    "SELECT p.decision_number, p.severity, p.category, p.reason, p.amount, a.name AS authority_name,"
    " p.decided_on, p.status, p.repaired_on"
    " FROM penalties p JOIN authorities a ON a.code = p.authority_code"
    " WHERE p.holder_kind = 'PERSON' AND p.holder_id = $1 AND p.decided_on > $2"
    " ORDER BY p.decided_on DESC, p.decision_number"
)
LICENCES = (
    "SELECT l.decision_number, l.category, l.title, a.name AS authority_name, l.decided_on,"
    " l.valid_from, l.valid_to, l.status"
    " FROM licences l JOIN authorities a ON a.code = l.authority_code"
    " WHERE l.holder_kind = 'PERSON' AND l.holder_id = $1"
    " ORDER BY l.decided_on DESC, l.decision_number"
)


# --- the database: one driver, one small pool, rows as mappings ----------------------------


class Connection(Protocol):
    async def fetch(self, sql: str, *args: Any) -> Sequence[Row]: ...


class Database(Protocol):
    is_sqlite: bool

    def connection(self) -> contextlib.AbstractAsyncContextManager[Connection]: ...

    async def close(self) -> None: ...


class PostgresDatabase:
    """An asyncpg pool; each request holds one connection."""

    is_sqlite = False

    def __init__(self, pool: Any) -> None:
        self._pool = pool

    @classmethod
    async def open(cls, dsn: str) -> PostgresDatabase:
        import asyncpg  # type: ignore[import-untyped]

        return cls(await asyncpg.create_pool(dsn, min_size=1, max_size=POOL_SIZE))

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[Connection]:
        async with self._pool.acquire() as conn:
            yield conn  # asyncpg's Connection.fetch(sql, *args) returns Records (mappings)

    async def close(self) -> None:
        await self._pool.close()


class SqliteConnection:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    async def fetch(self, sql: str, *args: Any) -> Sequence[Row]:
        params = [a.isoformat() if isinstance(a, dt.date) else a for a in args]  # dates are ISO text here
        return self._conn.execute(qmark(sql), params).fetchall()


@functools.lru_cache(maxsize=64)
def qmark(sql: str) -> str:
    """$1, $2, ... (asyncpg) as ? (sqlite3); the statements use them in order."""
    return re.sub(r"\$\d+", "?", sql)


class SqliteDatabase:
    """sqlite3 connections used on the event loop, opened on demand, at most POOL_SIZE."""

    is_sqlite = True

    def __init__(self, path: str) -> None:
        self._path = path
        self._idle: list[SqliteConnection] = []
        self._slots = asyncio.Semaphore(POOL_SIZE)
        self._all: list[sqlite3.Connection] = []

    def _open(self) -> SqliteConnection:
        conn = sqlite3.connect(self._path, isolation_level=None)  # autocommit: a SELECT opens nothing
        conn.row_factory = sqlite3.Row
        # The service's pragmas (app/db/session.py), so that both read the file alike.
        for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON", "busy_timeout=5000"):
            conn.execute(f"PRAGMA {pragma}")
        self._all.append(conn)
        return SqliteConnection(conn)

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[Connection]:
        async with self._slots:
            conn = self._idle.pop() if self._idle else self._open()
            try:
                yield conn
            finally:
                self._idle.append(conn)

    async def close(self) -> None:
        for conn in self._all:
            conn.close()


async def open_database(url: str) -> Database:
    """The service's XINZHENG_DATABASE_URL, opened with the same driver the service uses."""
    if url.startswith("sqlite+aiosqlite:///"):
        return SqliteDatabase(url.removeprefix("sqlite+aiosqlite:///"))
    if url.startswith("postgresql+asyncpg://"):
        return await PostgresDatabase.open("postgresql://" + url.removeprefix("postgresql+asyncpg://"))
    raise ValueError("the reference speaks sqlite+aiosqlite:/// and postgresql+asyncpg:// URLs only")


# --- values as the drivers return them, to values as the API writes them --------------------


def as_date(value: Any) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(value)


def as_utc(value: Any) -> dt.datetime:
    """SQLite keeps naive UTC text (app/db/base.py UTCDateTime); PostgreSQL gives aware values."""
    moment: dt.datetime = dt.datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


def as_json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def iso(value: Any) -> str | None:
    return None if value is None else as_date(value).isoformat()


def yuan(fen: int | None) -> str | None:
    """Money is stored as integer fen (app/db/base.py Money); the API writes yuan, two decimals."""
    return None if fen is None else str((Decimal(fen) / 100).quantize(Decimal("0.01")))


def mask_id_number(value: str) -> str:
    """Keep the first 6 and last 4: 330106********1234 (SPEC section 3)."""
    return value[:6] + "*" * (len(value) - 10) + value[-4:]


def consent_in_force(consent: Row, holder_id: str, org: str, purpose: str, now: dt.datetime) -> bool:
    """What app/auth/gate.py consent_covers checks, for a person."""
    return (
        consent["holder_kind"] == "PERSON"
        and consent["holder_id"] == holder_id
        and consent["grantee_code"] == org
        and purpose in as_json(consent["purposes"])
        and consent["revoked_at"] is None
        and as_utc(consent["granted_at"]) <= now
        and (consent["valid_until"] is None or now < as_utc(consent["valid_until"]))
    )


# --- the answer ----------------------------------------------------------------------------


def person_json(
    person: Row, score: Row | None, penalties: Sequence[Row], licences: Sequence[Row], today: dt.date, language: Language
) -> dict[str, Any]:
    return {
        "idNumber": mask_id_number(person["id_number"]),
        "name": person["name"],
        "gender": person["gender"],
        "birthDate": iso(person["birth_date"]),
        "creditScore": None
        if score is None
        else {
            "score": score["score"],
            "grade": score["grade"],
            "modelVersion": score["model_version"],
            "computedAt": as_utc(score["computed_at"]).isoformat(),
            "factors": [
                {"code": f["code"], "description": describe(f["code"], language), "impact": f["impact"]}
                for f in as_json(score["factors"])
            ],
        },
        "penalties": [
            {
                "decisionNumber": p["decision_number"],
                "severity": p["severity"],
                "category": p["category"],
                "reason": p["reason"],
                "amount": yuan(p["amount"]),
                "authorityName": p["authority_name"],
                "decidedOn": iso(p["decided_on"]),
                "publishUntil": iso(rules.publish_until(PenaltySeverity(p["severity"]), as_date(p["decided_on"]))),
                "status": p["status"],
                "repairedOn": iso(p["repaired_on"]),
            }
            for p in penalties
        ],
        "licences": [
            {
                "decisionNumber": li["decision_number"],
                "category": li["category"],
                "title": li["title"],
                "authorityName": li["authority_name"],
                "decidedOn": iso(li["decided_on"]),
                "validFrom": iso(li["valid_from"]),
                "validTo": iso(li["valid_to"]),
                "status": rules.licence_status(
                    li["status"], None if li["valid_to"] is None else as_date(li["valid_to"]), today
                ).value,
            }
            for li in licences
        ],
    }


class Refused(Exception):
    def __init__(self, code: str, message: str, status: int = 200) -> None:
        super().__init__(message)
        self.code, self.status = code, status


def encode(data: Any, status: int = 200) -> Response:
    body = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
    return Response(body, status_code=status, media_type="application/json")


class CreditEndpoint:
    def __init__(self, secret: str, issuer: str, audience: str) -> None:
        self.secret, self.issuer, self.audience = secret, issuer, audience
        self.db: Database | None = None  # opened by the app's lifespan

    def bank_of(self, request: Request) -> str:
        """The bank's credit code from a valid bearer token, or 401."""
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Refused("UNAUTHENTICATED", "the Authorization header must be 'Bearer <token>'", 401)
        try:
            claims = jwt.decode(
                token.strip(),
                self.secret,
                algorithms=["HS256"],
                audience=self.audience,
                issuer=self.issuer,
                options={"require": REQUIRED_CLAIMS},
            )
            if claims["role"] != "bank" or not isinstance(claims.get("org"), str):
                raise Refused("FORBIDDEN", "the reference answers banks only")
            return parse_credit_code(claims["org"])
        except (jwt.InvalidTokenError, InvalidIdentifier) as e:
            raise Refused("UNAUTHENTICATED", f"the token is not valid: {e}", 401) from None

    async def handle(self, request: Request) -> Response:
        try:
            org = self.bank_of(request)
            variables = (await request.json()).get("variables") or {}
            access = variables.get("access") or {}
            id_number = parse_id_number(variables["id"])
            purpose, consent_id = access.get("purpose"), access.get("consentId")
            if purpose is None or consent_id is None:
                raise Refused("CONSENT_REQUIRED", "a bank names its purpose and the subject's consent")
            if purpose not in BANK_PURPOSES:
                raise Refused("BAD_USER_INPUT", f"a bank cannot query for {purpose}")
            assert self.db is not None, "the database opens with the app's lifespan"
            async with self.db.connection() as conn:
                consent = await conn.fetch(CONSENT, str(consent_id))
                if not consent or not consent_in_force(consent[0], id_number, org, purpose, clock.now()):
                    raise Refused(
                        "CONSENT_REQUIRED",
                        "no consent in force from this subject to this organisation for this purpose",
                    )
                person = await conn.fetch(PERSON, id_number)
                if not person:
                    return encode({"data": {"person": None}})
                score = await conn.fetch(SCORE, id_number)
                today = clock.today()
                retained_after = rules.add_months(today, -12 * rules.BANK_RETENTION_YEARS)
                penalties = await conn.fetch(PENALTIES, id_number, retained_after)
                licences = await conn.fetch(LICENCES, id_number)
        except Refused as e:
            error = {"message": str(e), "extensions": {"code": e.code}}
            if e.status != 200:
                return encode({"errors": [error]}, e.status)
            return encode({"data": {"person": None}, "errors": [{**error, "path": ["person"]}]})
        except InvalidIdentifier as e:
            return encode(
                {
                    "data": {"person": None},
                    "errors": [{"message": str(e), "path": ["person"], "extensions": {"code": "BAD_USER_INPUT"}}],
                }
            )
        except (ValueError, KeyError, AttributeError):
            return encode(
                {"errors": [{"message": "not the credit query", "extensions": {"code": "BAD_USER_INPUT"}}]}, 400
            )
        language = language_of(request.headers.get("accept-language"))
        answer = person_json(person[0], score[0] if score else None, penalties, licences, today, language)
        return encode({"data": {"person": answer}, "extensions": {"masked": [["person", "idNumber"]], "denied": []}})


def create_app() -> Starlette:
    env = os.environ
    endpoint = CreditEndpoint(env["XINZHENG_JWT_SECRET"], env["XINZHENG_JWT_ISSUER"], env["XINZHENG_JWT_AUDIENCE"])

    async def healthz(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        endpoint.db = await open_database(env["XINZHENG_DATABASE_URL"])
        try:
            yield
        finally:
            await endpoint.db.close()

    return Starlette(
        routes=[Route("/graphql", endpoint.handle, methods=["POST"]), Route("/healthz", healthz)], lifespan=lifespan
    )
