"""Two writes at once on PostgreSQL, each checking what is committed before it writes: the second
to write waits for the first, and must then answer as it would have had it come after it.

- Two issuances, or an issuance and an import, of one issuer would pick the same identifier
  version or status-list entry: the second waits for the issuer's turn, then picks from what
  the first committed. Two imports naming two issuers in opposite orders: the second waits for
  the first (their turns are taken in one order), rather than each for the other.
- Two imports writing the same persons in opposite orders, or an import and a recompute of
  every score: the second waits for the first (batch writers write one at a time), rather than
  each for a row the other holds.
- Two decisions about one subject: the second recomputes the subject's score after the first
  committed, so that the stored score counts both.
- Two records of one decision number: the second answers as for a decision on file (the same
  record, a conflict, or FORBIDDEN for another authority's), and never overwrites the first.

SQLite takes one write transaction at a time (app/db/request.py): no two writes overlap there."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from app import decisions
from app.certificates import entries
from app.certificates.issue import issue_certificate
from app.certificates.keys import DEV_KEYS
from app.db.turns import take_batch_turn
from app.domain.enums import HolderKind, LicenceStatus
from app.errors import BadUserInput
from app.identifiers import id_number_with_check, parse_certificate_identifier
from app.imports import import_files, write
from app.imports.seed import seed
from app.scoring.recompute import recompute_scores
from tests.cli.conftest import write_jsonl
from tests.cli.lines import TODAY, certificate, person
from tests.conftest import DatabaseFactory
from tests.live import xinzheng_command

POLICE = "113301000024891313"  # 杭州市公安局, an issuer of the demo city
MARKET_REGULATOR = "113301000024891238"  # 杭州市市场监督管理局, another
WANG_FANG = "330106198503120028"
FIRM = "91330106MA2H100016"  # 西湖龙井茶业有限公司
LICENCE = "杭市监许〔2023〕58号"  # 王芳's, of the market regulator, valid
AT = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)

Write = Callable[[AsyncConnection], Awaitable[Any]]


@pytest_asyncio.fixture
async def city(databases: DatabaseFactory, empty_database_url: str) -> AsyncIterator[AsyncEngine]:
    if databases.backend != "postgresql":
        pytest.skip("SQLite takes one write transaction at a time: no two writes overlap")
    engine = create_async_engine(empty_database_url)
    await seed(engine, today=TODAY)  # the demo city, its issuers' keys made
    yield engine
    await engine.dispose()


WAITING = "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"


async def until_waiting(watch: AsyncConnection, pending: asyncio.Future[Any]) -> None:
    """Until `pending` is done, or some transaction of this database waits on a lock (the other
    write's): whichever comes first, as the write path goes with the fix or without it."""
    for _ in range(2_000):
        if pending.done():
            return
        waiting = (await watch.execute(text(WAITING))).scalar()
        await watch.rollback()  # PostgreSQL keeps one view of pg_stat_activity for a transaction
        if waiting:
            return
        await asyncio.sleep(0.005)
    raise AssertionError("the second write neither ended nor waited for the first")


async def until_both_or_waiting(engine: AsyncEngine, stepped: set[int], failure: str) -> None:
    """One write has taken its step (in `stepped`, by its connection): until the other has taken
    its own too, or some transaction waits on a lock (the other's, for this one's)."""
    async with engine.connect() as watch:
        for _ in range(2_000):
            if len(stepped) == 2 or (await watch.execute(text(WAITING))).scalar():
                return
            await watch.rollback()  # a fresh view of pg_stat_activity each time
            await asyncio.sleep(0.005)
    raise AssertionError(failure)


async def overlapping(engine: AsyncEngine, first: Write, second: Write) -> tuple[Any, Any]:
    """`first` in a transaction left open; `second` in another, until it waits on the first;
    then the first committed, and the second (unless it failed). Their results: the second's
    is the exception it raised, if it did."""
    async with engine.connect() as one, engine.connect() as two, engine.connect() as watch:
        await one.begin()
        await two.begin()
        first_result = await first(one)
        pending = asyncio.ensure_future(second(two))
        await until_waiting(watch, pending)
        await one.commit()
        try:
            second_result = await pending
        except Exception as e:  # the second's answer, to be looked at
            await two.rollback()
            return first_result, e
        await two.commit()
        return first_result, second_result


async def rows(engine: AsyncEngine, sql: str, **params: Any) -> list[Any]:
    async with engine.connect() as conn:
        return list(await conn.execute(text(sql), params))


def card(number: str) -> dict[str, Any]:
    return {"type_code": "DRIVING_LICENCE", "number": number, "holder_kind": "PERSON", "holder_id": WANG_FANG,
            "issuer_code": POLICE, "issued_on": "2026-11-30", "valid_from": "2026-11-30", "valid_until": None,
            "data": {}}  # fmt: skip


def issuing(number: str) -> Write:
    return lambda conn: issue_certificate(conn, card(number), keys=DEV_KEYS, actor_org=POLICE, at=AT)


@pytest.mark.parametrize("second_number", ["A-1", "B-2"], ids=["same-certificate", "another-certificate"])
async def test_two_overlapping_issuances_both_succeed_with_their_own_identifier_and_entry(
    city: AsyncEngine, monkeypatch: pytest.MonkeyPatch, second_number: str
) -> None:
    # Both would pick entry 7 of the police's list; the second, in its turn, finds it taken.
    drawn = iter([7, 7, 7, 8])
    monkeypatch.setattr(entries.secrets, "randbelow", lambda _n: next(drawn))
    one, two = await overlapping(city, issuing("A-1"), issuing(second_number))
    assert isinstance(two, str), two
    found = await rows(city, "SELECT status_index FROM certificates WHERE identifier IN (:a, :b)", a=one, b=two)
    assert sorted(index for (index,) in found) == [7, 8]
    if second_number == "A-1":  # the same certificate issued again: the next version
        first_version, second_version = (int(parse_certificate_identifier(i).version) for i in (one, two))
        assert second_version == first_version + 1


class NotYours(Exception):
    """What the test's authorisation raises for another authority's decision."""


def penalty(amount: str) -> dict[str, Any]:
    return {"decision_number": "杭罚〔重叠〕1号", "holder_kind": "PERSON", "holder_id": WANG_FANG, "severity": "GENERAL",
            "category": "食品安全", "reason": "生产经营超过保质期的食品", "basis": "《食品安全法》第一百二十四条",
            "amount": amount, "decided_on": "2026-11-20"}  # fmt: skip


def recording(authority: str, amount: str) -> Write:
    async def authorize(code: str) -> None:
        if code != authority:
            raise NotYours(code)

    return lambda conn: decisions.record(conn, "penalty", penalty(amount), authority=authority, authorize=authorize, today=TODAY)


@pytest.mark.parametrize(
    ("second_authority", "second_amount", "answer"),
    [
        (MARKET_REGULATOR, "500.00", "the same record"),
        (MARKET_REGULATOR, "900.00", "a conflict"),
        (POLICE, "900.00", "not yours"),
    ],
    ids=["retried", "conflicting", "another-authority"],
)
async def test_a_decision_recorded_twice_at_once_is_answered_as_one_on_file(
    city: AsyncEngine, second_authority: str, second_amount: str, answer: str
) -> None:
    one, two = await overlapping(city, recording(MARKET_REGULATOR, "500.00"), recording(second_authority, second_amount))
    if answer == "the same record":
        assert two.decision_number == one.decision_number and str(two.amount) == "500.00"
    elif answer == "a conflict":
        assert isinstance(two, BadUserInput), two
    else:
        assert isinstance(two, NotYours) and str(two) == MARKET_REGULATOR, two
    on_file = await rows(city, "SELECT authority_code, amount FROM penalties WHERE decision_number = :n", n="杭罚〔重叠〕1号")
    assert on_file == [(MARKET_REGULATOR, 50_000)]  # the first's, in fen


def ending(status: LicenceStatus) -> Write:
    async def authorize(code: str) -> None:
        if code != MARKET_REGULATOR:
            raise NotYours(code)

    return lambda conn: decisions.set_licence_status(conn, LICENCE, status, authorize=authorize, today=TODAY)


async def test_a_licence_ended_twice_at_once_keeps_the_first_ending(city: AsyncEngine) -> None:
    """Revoked (吊销) and annulled (撤销) are final: the second ending sees the first, and is refused."""
    _, two = await overlapping(city, ending(LicenceStatus.REVOKED), ending(LicenceStatus.ANNULLED))
    assert isinstance(two, BadUserInput), two
    assert await rows(city, "SELECT status FROM licences WHERE decision_number = :n", n=LICENCE) == [("REVOKED",)]


async def test_an_issuance_during_an_import_of_the_issuers_certificates_takes_its_turn(
    city: AsyncEngine, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """An import picks its certificates' status-list entries from what it read when it began
    writing them; an issuance committed meanwhile could take one of them, and the whole import
    would fail at its end. The issuer's list is written by one transaction at a time: the
    issuance waits for the import, then picks from what the import wrote."""
    drawn = iter([7, 7, 8])  # the first pick is taken by whoever picks second
    monkeypatch.setattr(entries.secrets, "randbelow", lambda _n: next(drawn))
    loaded, go = asyncio.Event(), asyncio.Event()
    take = entries.Allocator.take

    async def held(self: entries.Allocator, issuer_code: str) -> tuple[int, int]:
        if not loaded.is_set():  # the import's first pick: it has read the police's list
            loaded.set()
            await go.wait()
        return await take(self, issuer_code)

    monkeypatch.setattr(entries.Allocator, "take", held)
    line = certificate("DRIVING_LICENCE", "IMPORTED-1", "PERSON", WANG_FANG, POLICE)
    importing = asyncio.ensure_future(import_files(city, [write_jsonl(tmp_path / "cards.jsonl", [line])], today=TODAY))
    await loaded.wait()

    async def issue() -> str:
        async with city.begin() as conn:
            return await issuing("ISSUED-1")(conn)

    issuing_now = asyncio.ensure_future(issue())
    async with city.connect() as watch:
        await until_waiting(watch, issuing_now)  # with the import's turn it waits; without, it is done
    go.set()
    report = await importing
    identifier = await issuing_now
    assert report.ok
    found = await rows(
        city, "SELECT number, status_index FROM certificates WHERE number IN ('IMPORTED-1', 'ISSUED-1') ORDER BY number"
    )
    assert found == [("IMPORTED-1", 7), ("ISSUED-1", 8)], identifier


def another_penalty(number: str) -> Write:
    async def authorize(code: str) -> None:
        if code != MARKET_REGULATOR:
            raise NotYours(code)

    fields = penalty("500.00") | {"decision_number": number, "severity": "SERIOUS"}
    return lambda conn: decisions.record(conn, "penalty", fields, authority=MARKET_REGULATOR, authorize=authorize, today=TODAY)


async def test_two_penalties_for_one_person_at_once_both_count_in_the_stored_score(city: AsyncEngine) -> None:
    """Each decision recomputes its holder's score from the facts it sees; the second waits for
    the first, so that the score it stores counts both."""
    _, two = await overlapping(city, another_penalty("杭罚〔同时〕1号"), another_penalty("杭罚〔同时〕2号"))
    assert not isinstance(two, Exception), two
    score_sql = "SELECT score, grade, CAST(factors AS TEXT) FROM credit_scores WHERE holder_id = :h"
    stored = await rows(city, score_sql, h=WANG_FANG)
    async with city.begin() as conn:
        await recompute_scores(conn, {(HolderKind.PERSON, WANG_FANG)}, today=TODAY)
    assert await rows(city, score_sql, h=WANG_FANG) == stored  # what the facts on file give


async def test_a_decision_during_an_import_about_the_same_person_both_count_in_the_stored_score(
    city: AsyncEngine, tmp_path: Path
) -> None:
    """An import recomputes the scores of the subjects it touches, at its end: a decision about
    one of them, committed meanwhile, is counted, whichever of the two commits last."""
    imported = penalty("500.00") | {"kind": "penalty", "decision_number": "杭罚〔导入〕1号", "severity": "SERIOUS",
                                    "authority_code": MARKET_REGULATOR, "status": "ACTIVE"}  # fmt: skip
    source = write_jsonl(tmp_path / "penalty.jsonl", [imported])
    async with city.connect() as api, city.connect() as watch:
        await api.begin()
        await another_penalty("杭罚〔导入时〕1号")(api)  # its transaction left open
        importing = asyncio.ensure_future(import_files(city, [source], today=TODAY))
        await until_waiting(watch, importing)  # with the subjects' turn it waits; without, it may end
        await api.commit()
    assert (await importing).ok
    score_sql = "SELECT score, grade, CAST(factors AS TEXT) FROM credit_scores WHERE holder_id = :h"
    stored = await rows(city, score_sql, h=WANG_FANG)
    async with city.begin() as conn:
        await recompute_scores(conn, {(HolderKind.PERSON, WANG_FANG)}, today=TODAY)
    assert await rows(city, score_sql, h=WANG_FANG) == stored  # what the facts on file give


async def test_two_imports_naming_two_issuers_in_opposite_orders_both_succeed(
    city: AsyncEngine, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Each import holds an issuer's turn from when it takes it to its commit. Taken as the
    batches came, one import's police card first, the other's food licence first, each would
    wait for the turn the other holds: PostgreSQL ends such a deadlock by failing one of them,
    whole. Taken all at the start in one order, the second waits for the first, then succeeds."""
    monkeypatch.setattr(write, "BATCH", 1)  # a batch a certificate: one issuer's, then the other's
    take_turn = entries.take_turn
    holding: set[int] = set()  # the imports (by their connections) that hold a turn

    async def in_step(conn: AsyncConnection, issuer_code: str) -> None:
        await take_turn(conn, issuer_code)
        if id(conn) in holding:
            return
        holding.add(id(conn))
        await until_both_or_waiting(city, holding, "the other import neither took a turn nor waited for one")

    monkeypatch.setattr(entries, "take_turn", in_step)
    police_card = certificate("DRIVING_LICENCE", "OPPOSITE-P", "PERSON", WANG_FANG, POLICE)
    licence = certificate("FOOD_BUSINESS_LICENCE", "JY13301069999999", "ENTERPRISE", FIRM, MARKET_REGULATOR)
    one = write_jsonl(tmp_path / "one.jsonl", [police_card, licence])
    other = write_jsonl(
        tmp_path / "other.jsonl", [licence | {"number": "JY13301069999998"}, police_card | {"number": "OPPOSITE-Q"}]
    )
    reports = await asyncio.gather(import_files(city, [one], today=TODAY), import_files(city, [other], today=TODAY))
    assert [r.ok for r in reports] == [True, True]
    numbers = await rows(city, "SELECT number FROM certificates WHERE number LIKE 'OPPOSITE-%' OR number LIKE 'JY1330106999999%'")
    assert sorted(n for (n,) in numbers) == ["JY13301069999998", "JY13301069999999", "OPPOSITE-P", "OPPOSITE-Q"]


async def test_two_imports_of_the_same_new_persons_in_opposite_orders_both_succeed(
    city: AsyncEngine, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """An import holds each row it writes to its commit. Two imports writing the same persons,
    one in the order 1, 2 and the other 2, 1, would each hold a person the other waits for:
    PostgreSQL ends such a deadlock by failing one of them, whole. Imports write one at a time
    (the batch writers' turn, taken as each starts writing): the second waits, then succeeds."""
    monkeypatch.setattr(write, "BATCH", 1)  # a batch a person
    bulk_write = write.Bulk.write
    writing: set[int] = set()  # the imports (by their connections) that have written a person

    async def in_step(self: write.Bulk, conn: AsyncConnection, batch: list[dict[str, Any]]) -> None:
        await bulk_write(self, conn, batch)
        if self.staging.name != "xz_import_persons" or id(conn) in writing:
            return
        writing.add(id(conn))
        await until_both_or_waiting(city, writing, "the other import neither wrote a person nor waited")

    monkeypatch.setattr(write.Bulk, "write", in_step)
    first = person(id_number_with_check("33010619900101901"), "甲")
    second = person(id_number_with_check("33010619900101902"), "乙")
    one = write_jsonl(tmp_path / "one.jsonl", [first, second])
    other = write_jsonl(tmp_path / "other.jsonl", [second, first])
    reports = await asyncio.gather(import_files(city, [one], today=TODAY), import_files(city, [other], today=TODAY))
    assert [r.ok for r in reports] == [True, True]
    names = await rows(city, "SELECT name FROM persons WHERE id_number IN (:a, :b) ORDER BY name",
                       a=first["id_number"], b=second["id_number"])  # fmt: skip
    assert names == [("乙",), ("甲",)]


async def test_an_import_says_it_waits_for_another_batch_writer_then_writes(city: AsyncEngine, tmp_path: Path) -> None:
    said: list[str] = []
    newcomer = person(id_number_with_check("33010619900101903"), "丙")
    source = write_jsonl(tmp_path / "one.jsonl", [newcomer])
    async with city.connect() as other, city.connect() as watch:
        await other.begin()
        await take_batch_turn(other)  # another import, writing
        importing = asyncio.ensure_future(import_files(city, [source], today=TODAY, progress=said.append))
        await until_waiting(watch, importing)
        assert not importing.done()
        assert said == ["waiting for another import or score recompute to finish"]
        await other.commit()
    assert (await importing).ok
    assert await rows(city, "SELECT name FROM persons WHERE id_number = :i", i=newcomer["id_number"]) == [("丙",)]


async def test_a_recompute_of_every_score_waits_for_an_import_writing_and_says_so(
    city: AsyncEngine, empty_database_url: str
) -> None:
    """`xinzheng score recompute` holds every subject it reaches, as an import holds every row
    it writes: one waits for the other, rather than each for a subject the other holds."""
    async with city.connect() as importing:
        await importing.begin()
        await take_batch_turn(importing)  # an import, writing
        env = {**os.environ, "XINZHENG_DATABASE_URL": empty_database_url}
        scoring = await asyncio.create_subprocess_exec(
            *xinzheng_command(), "score", "recompute", env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
        assert scoring.stderr is not None
        said = await asyncio.wait_for(scoring.stderr.readline(), timeout=60)
        assert said.decode() == "xinzheng score: waiting for an import or another score recompute to finish\n"
        ended = asyncio.ensure_future(scoring.wait())
        async with city.connect() as watch:
            await until_waiting(watch, ended)
        assert not ended.done()  # it waits on the import's turn, and has written nothing
        await importing.commit()
    out, err = await asyncio.wait_for(scoring.communicate(), timeout=120)
    assert scoring.returncode == 0, err.decode()
    assert out.decode().startswith("recomputed 8 score(s) with model ")
