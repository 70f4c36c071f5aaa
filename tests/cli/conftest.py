"""Running `xinzheng` as a user runs it, and reading back what it left in the database."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import create_async_engine

import app.db.models  # noqa: F401  (every table on the metadata)
from app.db.base import Base

XINZHENG = Path(sys.executable).with_name("xinzheng")  # the console script the package installs


def xinzheng(*args: str, database_url: str) -> subprocess.CompletedProcess[str]:
    """The `xinzheng` command in a fresh process, with the database in its environment."""
    env = {**os.environ, "XINZHENG_DATABASE_URL": database_url}
    command = [str(XINZHENG)] if XINZHENG.exists() else [sys.executable, "-m", "app.cli"]
    return subprocess.run([*command, *args], env=env, capture_output=True, text=True, timeout=300)


def write_jsonl(path: Path, records: list[dict[str, Any] | str]) -> Path:
    """A JSONL file; a str is written as the line itself (for lines that are not JSON objects)."""
    lines = [r if isinstance(r, str) else json.dumps(r, ensure_ascii=False) for r in records]
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


async def table_contents(database_url: str) -> dict[str, list[str]]:
    """Every row of every table, rendered and sorted: equal contents compare equal."""
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as conn:
            return {
                table.name: sorted(repr(tuple(row)) for row in await conn.execute(select(table)))
                for table in Base.metadata.sorted_tables
            }
    finally:
        await engine.dispose()


async def row_counts(database_url: str) -> dict[str, int]:
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as conn:
            return {
                table.name: (await conn.execute(select(func.count()).select_from(table))).scalar_one()
                for table in Base.metadata.sorted_tables
            }
    finally:
        await engine.dispose()
