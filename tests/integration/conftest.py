"""What the in-process import tests share."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine


@pytest_asyncio.fixture
async def engine(empty_database_url: str) -> AsyncIterator[AsyncEngine]:
    """An engine on a new empty database at the latest schema, for this test alone."""
    engine = create_async_engine(empty_database_url)
    yield engine
    await engine.dispose()
