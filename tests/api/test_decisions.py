"""The issuing departments' write side over HTTP (issue 12): recordLicence, recordPenalty,
repairPenalty, setLicenceStatus, each by its own authority, by another authority, by a bank and
by the public; the import's rules; retries; credit repair's bounds with the clock injected; and
nothing half-written when the score or the audit entry cannot be stored.

The module has its own copy of the test city (it writes); each test uses its own decision numbers.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import httpx
import pytest
import time_machine
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from app.main import create_app
from tests.api import city
from tests.api.conftest import ENGLISH, Tokens, settings_for
from tests.api.test_generated_equivalence import city_copy
from tests.conftest import DatabaseFactory

OWN, OTHER = city.MARKET_REGULATOR, city.POLICE
PERSON = city.STRANGER  # 刘秀英: no penalties, no licences in the city
DAY = dt.timedelta(days=1)
PENALTY_FIELDS = "decisionNumber severity status repairedOn authorityCode authorityName publishUntil amount"
RECORD_PENALTY = f"mutation($input: RecordPenaltyInput!) {{ recordPenalty(input: $input) {{ {PENALTY_FIELDS} }} }}"
RECORD_LICENCE = """mutation($input: RecordLicenceInput!) {
  recordLicence(input: $input) { decisionNumber status authorityCode validTo } }"""
REPAIR = f'mutation($n: String!) {{ repairPenalty(decisionNumber: $n, reason: "信用修复申请") {{ {PENALTY_FIELDS} }} }}'
SET_STATUS = """mutation($n: String!, $s: LicenceStatus!) {
  setLicenceStatus(decisionNumber: $n, status: $s, reason: "以欺骗手段取得") { decisionNumber status } }"""
SCORE = "query($id: String!) { person(idNumber: $id) { creditScore { score } penalties { decisionNumber status } } }"


@pytest.fixture(scope="module")
def database(databases: DatabaseFactory, tmp_path_factory: pytest.TempPathFactory) -> str:
    return city_copy(databases, tmp_path_factory.mktemp("decisions"))


@contextmanager
def on(day: dt.date) -> Iterator[None]:
    with time_machine.travel(dt.datetime.combine(day, dt.time(12), dt.timezone(dt.timedelta(hours=8))), tick=False):
        yield


class Service:
    def __init__(self, client: httpx.AsyncClient, tokens: Tokens) -> None:
        self.client, self.tokens = client, tokens

    async def send(self, query: str, variables: dict[str, Any], token: str | None) -> dict[str, Any]:
        headers = {"authorization": f"Bearer {token}"} if token else {}
        response = await self.client.post("/graphql", json={"query": query, "variables": variables}, headers=headers)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        assert isinstance(body["extensions"]["auditSeq"], int)
        return body


@asynccontextmanager
async def service(database_url: str) -> AsyncIterator[Service]:
    settings = settings_for(database_url)
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://xinzheng.test", headers=ENGLISH) as client,
    ):
        yield Service(client, Tokens(settings))


def penalty(number: str, *, severity: str = "GENERAL", decided_on: dt.date | None = None, **changes: Any) -> dict[str, Any]:
    return {
        "decisionNumber": number, "holderKind": "PERSON", "holderId": PERSON, "severity": severity,
        "category": "食品安全", "reason": "生产经营超过保质期的食品", "basis": "《食品安全法》第一百二十四条",
        "amount": "5000.00", "decidedOn": (decided_on or city.TODAY - 10 * DAY).isoformat(), **changes,
    }  # fmt: skip


def licence(number: str, **changes: Any) -> dict[str, Any]:
    return {
        "decisionNumber": number, "holderKind": "PERSON", "holderId": PERSON, "category": "经营许可",
        "title": "食品经营许可", "content": "预包装食品销售", "decidedOn": (city.TODAY - 30 * DAY).isoformat(),
        "validFrom": (city.TODAY - 30 * DAY).isoformat(), "validTo": (city.TODAY + 700 * DAY).isoformat(), **changes,
    }  # fmt: skip


def codes(body: dict[str, Any]) -> list[str]:
    return [e["extensions"]["code"] for e in body.get("errors", [])]


async def score(s: Service) -> int:
    body = await s.send(SCORE, {"id": PERSON}, s.tokens.admin)
    return int(body["data"]["person"]["creditScore"]["score"])


async def count(database_url: str, sql: str) -> int:
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as conn:
            return int((await conn.execute(text(sql))).scalar_one())
    finally:
        await engine.dispose()


async def test_an_issuer_records_a_penalty_of_its_own_and_the_score_moves(database: str) -> None:
    async with service(database) as s:
        before = await score(s)
        body = await s.send(RECORD_PENALTY, {"input": penalty("杭市监罚〔2026〕101号")}, s.tokens.issuer(OWN))
        assert "errors" not in body, body
        recorded = body["data"]["recordPenalty"]
        assert (recorded["status"], recorded["authorityCode"], recorded["authorityName"], recorded["amount"]) == (
            "ACTIVE",
            OWN,
            "杭州市市场监督管理局",
            "5000.00",
        )
        assert await score(s) == before - 40

        again = await s.send(RECORD_PENALTY, {"input": penalty("杭市监罚〔2026〕101号")}, s.tokens.issuer(OWN))
        assert again["data"]["recordPenalty"] == recorded  # a retried request changes nothing
        assert await score(s) == before - 40

        changed = await s.send(
            RECORD_PENALTY, {"input": penalty("杭市监罚〔2026〕101号", amount="6000.00")}, s.tokens.issuer(OWN)
        )
        assert codes(changed) == ["BAD_USER_INPUT"] and changed["data"] is None
        assert "already on file with other content" in changed["errors"][0]["message"]


async def test_another_authority_a_bank_and_the_public_are_refused(database: str) -> None:
    async with service(database) as s:
        await s.send(RECORD_PENALTY, {"input": penalty("杭市监罚〔2026〕102号")}, s.tokens.issuer(OWN))
        await s.send(RECORD_LICENCE, {"input": licence("杭市监许〔2026〕102号")}, s.tokens.issuer(OWN))
        callers = {
            "issuer": s.tokens.issuer(OTHER),
            "bank": s.tokens.bank,
            "public": None,
            "admin": s.tokens.admin,
            "citizen": s.tokens.citizen,
        }
        for role, token in callers.items():
            attempts = [  # on the other authority's records
                await s.send(RECORD_PENALTY, {"input": penalty("杭市监罚〔2026〕102号")}, token),
                await s.send(REPAIR, {"n": "杭市监罚〔2026〕102号"}, token),
                await s.send(SET_STATUS, {"n": "杭市监许〔2026〕102号", "s": "REVOKED"}, token),
            ]
            if role != "issuer":  # and, but for an issuer, any record at all
                attempts.append(await s.send(RECORD_LICENCE, {"input": licence("杭市监许〔2026〕103号")}, token))
            for body in attempts:
                assert codes(body) == ["FORBIDDEN"] and body["data"] is None, (role, body)
        # Another issuer records under its own authority, whatever the input says.
        own = await s.send(RECORD_LICENCE, {"input": licence("杭公许〔2026〕103号")}, s.tokens.issuer(OTHER))
        assert own["data"]["recordLicence"]["authorityCode"] == OTHER
        assert await count(database, "select count(*) from licences where decision_number = '杭市监许〔2026〕103号'") == 0
        assert (
            await count(
                database, "select count(*) from penalties where status = 'REPAIRED' and decision_number = '杭市监罚〔2026〕102号'"
            )
            == 0
        )


async def test_input_is_checked_as_the_same_import_line_would_be(database: str) -> None:
    async with service(database) as s:
        cases = [
            ("holderId", "330106198503120029", "check character"),
            ("amount", "12.345", "at most two decimals"),
            # Days the rules' arithmetic (months of publication, years of recency) would carry
            # past the calendar: recorded, they failed the answer and every read of the holder.
            ("decidedOn", "9999-12-31", "a day from 1900-01-01 to 2999-12-31"),
            ("decidedOn", "0001-01-01", "a day from 1900-01-01 to 2999-12-31"),
        ]
        for field, value, why in cases:
            body = await s.send(
                RECORD_PENALTY, {"input": penalty("杭市监罚〔2026〕103号", **{field: value})}, s.tokens.issuer(OWN)
            )
            assert codes(body) == ["BAD_USER_INPUT"] and why in body["errors"][0]["message"], body
        nobody = await s.send(
            RECORD_PENALTY, {"input": penalty("杭市监罚〔2026〕103号", holderId="330104196902050037")}, s.tokens.issuer(OWN)
        )
        assert codes(nobody) == ["BAD_USER_INPUT"] and "not on file" in nobody["errors"][0]["message"]
        backwards = await s.send(
            RECORD_LICENCE,
            {"input": licence("杭市监许〔2026〕104号", validTo=(city.TODAY - 40 * DAY).isoformat())},
            s.tokens.issuer(OWN),
        )
        assert codes(backwards) == ["BAD_USER_INPUT"] and "validTo" in backwards["errors"][0]["message"], backwards
        # A validity's end may be 9999-12-31, which registers write for "no end" (长期).
        lasting = await s.send(RECORD_LICENCE, {"input": licence("杭市监许〔2026〕120号", validTo="9999-12-31")}, s.tokens.issuer(OWN))
        assert lasting.get("data") and lasting["data"]["recordLicence"]["validTo"] == "9999-12-31", lasting
        assert await count(database, "select count(*) from penalties where decision_number = '杭市监罚〔2026〕103号'") == 0


async def test_a_licence_is_revoked_or_annulled_once_and_for_good(database: str) -> None:
    async with service(database) as s:
        await s.send(RECORD_LICENCE, {"input": licence("杭市监许〔2026〕105号")}, s.tokens.issuer(OWN))
        revoked = await s.send(SET_STATUS, {"n": "杭市监许〔2026〕105号", "s": "REVOKED"}, s.tokens.issuer(OWN))
        assert revoked["data"]["setLicenceStatus"]["status"] == "REVOKED", revoked
        same = await s.send(SET_STATUS, {"n": "杭市监许〔2026〕105号", "s": "REVOKED"}, s.tokens.issuer(OWN))
        assert same["data"] == revoked["data"]
        for status in ("ANNULLED", "VALID", "EXPIRED"):
            body = await s.send(SET_STATUS, {"n": "杭市监许〔2026〕105号", "s": status}, s.tokens.issuer(OWN))
            assert codes(body) == ["BAD_USER_INPUT"], body
        unknown = await s.send(SET_STATUS, {"n": "没有这个文号", "s": "REVOKED"}, s.tokens.issuer(OWN))
        assert codes(unknown) == ["BAD_USER_INPUT"]


@pytest.mark.parametrize(("severity", "months"), [("GENERAL", 3), ("SERIOUS", 12)])
async def test_repair_is_possible_from_its_bound_and_not_a_day_before(database: str, severity: str, months: int) -> None:
    decided = dt.date(2026, 1, 31)  # 3 months on is 2026-04-30 (April has 30 days); a year on, 2027-01-31
    bound = {3: dt.date(2026, 4, 30), 12: dt.date(2027, 1, 31)}[months]
    number = f"杭市监罚〔2026〕2{months:02d}号"
    with on(decided):
        async with service(database) as s:
            recorded = await s.send(
                RECORD_PENALTY, {"input": penalty(number, severity=severity, decided_on=decided)}, s.tokens.issuer(OWN)
            )
            assert "errors" not in recorded, recorded
    with on(bound - DAY):
        async with service(database) as s:
            early = await s.send(REPAIR, {"n": number}, s.tokens.issuer(OWN))
            assert codes(early) == ["BAD_USER_INPUT"], early
            assert f"may be repaired from {bound.isoformat()}" in early["errors"][0]["message"]
            public = await s.send(
                "query($id: String!) { enterprise(creditCode: $id) { name } }", {"id": city.TEA}, None
            )  # the service answers the public as ever
            assert "errors" not in public
    with on(bound):
        async with service(database) as s:
            before = await score(s)
            repaired = await s.send(REPAIR, {"n": number}, s.tokens.issuer(OWN))
            assert "errors" not in repaired, repaired
            assert (repaired["data"]["repairPenalty"]["status"], repaired["data"]["repairPenalty"]["repairedOn"]) == (
                "REPAIRED",
                bound.isoformat(),
            )
            assert await score(s) > before
            again = await s.send(REPAIR, {"n": number}, s.tokens.issuer(OWN))
            assert again["data"] == repaired["data"]


async def test_a_minor_penalty_is_never_repaired(database: str) -> None:
    async with service(database) as s:
        await s.send(
            RECORD_PENALTY,
            {"input": penalty("杭市监罚〔2026〕301号", severity="MINOR", decided_on=city.TODAY - 1000 * DAY)},
            s.tokens.issuer(OWN),
        )
        body = await s.send(REPAIR, {"n": "杭市监罚〔2026〕301号"}, s.tokens.issuer(OWN))
        assert codes(body) == ["BAD_USER_INPUT"] and "never" in body["errors"][0]["message"]


async def test_a_repaired_penalty_leaves_public_view_at_once(database: str) -> None:
    firm_penalty = penalty("杭市监罚〔2026〕401号", decided_on=city.TODAY - 120 * DAY) | {
        "holderKind": "ENTERPRISE",
        "holderId": city.LOGISTICS,
    }
    public_view = "query($id: String!) { enterprise(creditCode: $id) { penalties { decisionNumber } } }"
    async with service(database) as s:
        await s.send(RECORD_PENALTY, {"input": firm_penalty}, s.tokens.issuer(OWN))
        shown = await s.send(public_view, {"id": city.LOGISTICS}, None)
        assert "杭市监罚〔2026〕401号" in [p["decisionNumber"] for p in shown["data"]["enterprise"]["penalties"]]
        await s.send(REPAIR, {"n": "杭市监罚〔2026〕401号"}, s.tokens.issuer(OWN))
        hidden = await s.send(public_view, {"id": city.LOGISTICS}, None)
        assert "杭市监罚〔2026〕401号" not in [p["decisionNumber"] for p in hidden["data"]["enterprise"]["penalties"]]


async def test_nothing_is_half_written_when_the_score_cannot_be_stored(database: str) -> None:
    """The record, the holder's score and the audit entry commit together: with the score's
    table refusing writes, the penalty is not on file either, and the refusal is in the log."""
    engine = create_async_engine(database)
    postgres = engine.dialect.name == "postgresql"
    refuse = (
        ["CREATE FUNCTION refuse_scores() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'no scores today'; END $$ LANGUAGE plpgsql",
         "CREATE TRIGGER refuse_scores BEFORE INSERT OR UPDATE ON credit_scores FOR EACH ROW EXECUTE FUNCTION refuse_scores()"]
        if postgres else
        ["CREATE TRIGGER refuse_scores BEFORE UPDATE ON credit_scores BEGIN SELECT RAISE(ABORT, 'no scores today'); END",
         "CREATE TRIGGER refuse_new_scores BEFORE INSERT ON credit_scores BEGIN SELECT RAISE(ABORT, 'no scores today'); END"]
    )  # fmt: skip
    undo = (
        ["DROP TRIGGER refuse_scores ON credit_scores", "DROP FUNCTION refuse_scores()"]
        if postgres
        else ["DROP TRIGGER refuse_scores", "DROP TRIGGER refuse_new_scores"]
    )
    try:
        async with engine.begin() as conn:
            for sql in refuse:
                await conn.execute(text(sql))
        async with service(database) as s:
            body = await s.send(RECORD_PENALTY, {"input": penalty("杭市监罚〔2026〕501号")}, s.tokens.issuer(OWN))
            assert codes(body) == ["INTERNAL_SERVER_ERROR"] and body["data"] is None, body
            assert "no scores today" not in str(body)
            seq = body["extensions"]["auditSeq"]
        assert await count(database, "select count(*) from penalties where decision_number = '杭市监罚〔2026〕501号'") == 0
        assert await count(database, f"select count(*) from audit_log where seq = {seq} and outcome = 'FAILED'") == 1
    finally:
        async with engine.begin() as conn:
            for sql in undo:
                await conn.execute(text(sql))
        await engine.dispose()
