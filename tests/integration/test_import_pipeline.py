"""The import API in process: one transaction, progress, built records, set-based scoring."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import event, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from app.domain.enums import HolderKind
from app.imports import RecordSource, import_files, import_sources, pipeline, source, synthetic, write
from app.imports.seed import seed
from app.scoring.recompute import recompute_scores
from tests.cli.conftest import row_counts, write_jsonl
from tests.cli.lines import ALICE, AUTHORITIES, BOB, TODAY, licence, person


@pytest_asyncio.fixture
async def engine(empty_database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(empty_database_url)
    yield engine
    await engine.dispose()


def people() -> list[dict[str, Any]]:
    return [*AUTHORITIES, person(ALICE, "王芳"), person(BOB, "李明"), licence("L-1", "PERSON", ALICE)]


async def scores(engine: AsyncEngine) -> dict[str, Any]:
    async with engine.connect() as conn:
        rows = await conn.execute(text("select holder_id, factors from credit_scores"))
        return {r.holder_id: str(r.factors) for r in rows}


async def test_a_failure_after_writing_leaves_nothing_written(
    engine: AsyncEngine, empty_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows, keys and scores commit together or not at all."""

    async def fail(*args: Any, **kwargs: Any) -> int:
        raise RuntimeError("the disk is full")

    monkeypatch.setattr(pipeline, "recompute_scores", fail)
    before = await row_counts(empty_database_url)

    with pytest.raises(RuntimeError, match="disk is full"):
        await import_sources(engine, [RecordSource("people", people, 6)], today=TODAY)

    assert await row_counts(empty_database_url) == before


async def test_a_batch_the_database_refuses_half_way_leaves_nothing_written(
    engine: AsyncEngine, empty_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The refusal surfaces from the batch in flight, and the whole import rolls back."""
    build = write.upsert_statement

    def refused_for_licences(dialect: str, table: Any, conflict: Any) -> Any:
        return (
            text("INSERT INTO no_such_table VALUES (1)")
            if table.name == "licences"
            else build(dialect, table, conflict)
        )

    monkeypatch.setattr(write, "upsert_statement", refused_for_licences)
    monkeypatch.setattr(write, "BATCH", 1)  # persons are sent, and in flight, before the licence
    before = await row_counts(empty_database_url)

    with pytest.raises(DBAPIError, match="no_such_table"):
        await import_sources(engine, [RecordSource("people", people, 6)], today=TODAY)

    assert await row_counts(empty_database_url) == before


async def test_large_inputs_report_progress_and_small_ones_do_not(
    engine: AsyncEngine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_jsonl(tmp_path / "people.jsonl", people())
    quiet: list[str] = []
    assert (await import_files(engine, [path], progress=quiet.append, today=TODAY)).ok
    assert quiet == []

    monkeypatch.setattr(source, "LARGE", 1)
    told: list[str] = []
    assert (await import_files(engine, [path], progress=told.append, today=TODAY)).ok
    assert told[-1] == "scoring: 2 subjects"
    assert "checking: 100% (6 lines)" in told and "writing: 100% (6 lines)" in told


async def test_records_built_in_process_import_like_a_file(engine: AsyncEngine) -> None:
    report = await import_sources(engine, [RecordSource("people", people, 6)], today=TODAY)
    assert (report.ok, report.lines, report.written["person"], report.scored) == (True, 6, 2, 2)

    bad = [*people(), {"kind": "person", "id_number": "330106198503120029", "name": "x"}]
    report = await import_sources(engine, [RecordSource("more people", lambda: bad, 7)], today=TODAY)
    assert [str(b) for b in report.bad_lines] == [
        "more people:7: id_number: the check character of the ID number is wrong"
    ]


async def test_moving_a_decision_to_another_holder_rescores_both(engine: AsyncEngine) -> None:
    await import_sources(engine, [RecordSource("people", people, 6)], today=TODAY)
    assert "LICENCES_IN_FORCE" in (await scores(engine))[ALICE]

    moved = [licence("L-1", "PERSON", BOB)]  # a correction from the source system
    assert (await import_sources(engine, [RecordSource("fix", lambda: moved, 1)], today=TODAY)).ok

    after = await scores(engine)
    assert "LICENCES_IN_FORCE" not in after[ALICE] and "LICENCES_IN_FORCE" in after[BOB]


async def test_recomputing_every_score_costs_a_few_statements_per_batch_not_one_per_subject(
    engine: AsyncEngine,
) -> None:
    report = await seed(engine, persons=700, today=TODAY)
    subjects = report.written["person"] + report.written["enterprise"]
    assert subjects > 700
    statements: list[str] = []
    event.listen(engine.sync_engine, "before_cursor_execute", lambda *args: statements.append(args[2]))

    async with engine.begin() as conn:
        assert await recompute_scores(conn, None, today=TODAY) == subjects
        some = {(HolderKind.PERSON, ALICE), (HolderKind.PERSON, "nobody")}
        assert await recompute_scores(conn, some, today=TODAY) == 1  # 王芳 is in the demo city; nobody is not
        counted = (await conn.execute(select(text("count(*)")).select_from(text("credit_scores")))).scalar_one()

    assert counted == subjects
    # Per batch of up to 500 subjects of a kind: their ids, penalties, licences, flags, one upsert.
    # 700-odd persons and 70-odd enterprises are three batches; the two given subjects one more.
    queries = [s for s in statements if not s.startswith("SET")]  # PostgreSQL's plan setting aside
    assert len(queries) == 4 * 5 + 1


def test_the_synthetic_city_refers_only_to_the_demo_organisations() -> None:
    demo = Path(__file__).resolve().parents[2] / "seeds" / "demo.jsonl"
    text_of_demo = demo.read_text(encoding="utf-8")
    for code in (*synthetic.BANKS, synthetic.MARKET_REGULATOR, synthetic.POLICE, synthetic.CIVIL_AFFAIRS):
        assert f'"code": "{code}"' in text_of_demo
    for id_number in synthetic.DEMO_PERSONS:
        assert f'"id_number": "{id_number}"' in text_of_demo
