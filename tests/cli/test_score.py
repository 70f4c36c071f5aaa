"""`xinzheng score recompute` as an operator runs it."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.cli.conftest import table_contents, xinzheng


async def execute(database_url: str, sql: str) -> list[tuple[object, ...]]:
    engine = create_async_engine(database_url)
    try:
        async with engine.begin() as conn:
            result = await conn.execute(text(sql))
            return [tuple(r) for r in result] if result.returns_rows else []
    finally:
        await engine.dispose()


async def scores(database_url: str) -> list[tuple[object, ...]]:
    """Every score but when it was computed."""
    sql = "select holder_kind, holder_id, score, grade, model_version, factors from credit_scores order by 2"
    return [(*row[:5], str(row[5])) for row in await execute(database_url, sql)]


async def test_recompute_rebuilds_every_score_and_changes_nothing_when_the_facts_are_unchanged(
    empty_database_url: str,
) -> None:
    url = empty_database_url
    assert xinzheng("seed", database_url=url).returncode == 0
    before = await table_contents(url)

    done = xinzheng("score", "recompute", database_url=url)

    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("recomputed 8 score(s) with model ")
    assert await table_contents(url) == before

    kept = await scores(url)
    await execute(url, "delete from credit_scores")
    done = xinzheng("score", "recompute", database_url=url)
    assert done.returncode == 0, done.stderr
    assert await scores(url) == kept


def test_recompute_on_an_unmigrated_database_says_what_to_do(tmp_path: Path) -> None:
    done = xinzheng("score", "recompute", database_url=f"sqlite+aiosqlite:///{tmp_path / 'new.db'}")
    assert done.returncode == 1
    assert done.stderr.strip() == "xinzheng score: the database has no schema yet: run `xinzheng migrate` first"


def test_an_unreachable_database_is_one_line() -> None:
    done = xinzheng("score", "recompute", database_url="postgresql+asyncpg://nobody@127.0.0.1:1/none")
    assert done.returncode == 1
    assert done.stderr.startswith(
        "xinzheng score: cannot reach the database postgresql+asyncpg://nobody@127.0.0.1:1/none"
    )
    assert len(done.stderr.strip().splitlines()) == 1
