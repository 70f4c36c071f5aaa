"""What a caller can make the service keep is bounded: documents in entries and in memory, plans
with their documents, and nothing at all for a request refused before execution."""

from __future__ import annotations

import gc
import tracemalloc
from collections.abc import AsyncIterator

import httpx
import pytest_asyncio
from graphql import parse

from app.execution.documents import Documents
from app.execution.limits import Limits
from app.main import create_app
from app.schema import DOCUMENT_CACHE_BYTES, DOCUMENT_CACHE_SIZE, Schema
from tests.api.conftest import settings_for


@pytest_asyncio.fixture(loop_scope="session")
async def served(city_database: str) -> AsyncIterator[tuple[httpx.AsyncClient, Schema]]:
    app = create_app(settings_for(city_database))
    async with app.router.lifespan_context(app), httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://xinzheng.test"
    ) as client:
        yield client, app.state.graphql.schema


async def test_distinct_texts_beyond_the_bound_are_not_all_kept(served: tuple[httpx.AsyncClient, Schema]) -> None:
    client, schema = served
    for i in range(DOCUMENT_CACHE_SIZE + 200):
        response = await client.post("/graphql", json={"query": f"query Q{i} {{ me {{ role }} }}"})
        assert response.status_code == 200 and response.json()["data"]["me"]["role"] == "public"
    assert len(schema.documents) == DOCUMENT_CACHE_SIZE
    assert schema.documents.bytes <= DOCUMENT_CACHE_BYTES
    gc.collect()  # a document's tokens form cycles: its plans go when the collector frees it
    plans = schema.execution_context_class.plans  # type: ignore[union-attr]
    assert plans is not None and len(plans) <= DOCUMENT_CACHE_SIZE


async def test_an_operation_name_not_in_the_document_keeps_nothing(served: tuple[httpx.AsyncClient, Schema]) -> None:
    client, schema = served
    query = "query A { me { role } } query B { certificateTypes { typeCode } }"
    await client.post("/graphql", json={"query": query, "operationName": "A"})
    plans = schema.execution_context_class.plans  # type: ignore[union-attr]
    before = (len(schema.documents), len(plans))  # type: ignore[arg-type]
    for i in range(300):
        response = await client.post("/graphql", json={"query": query, "operationName": f"nope{i}"})
        assert response.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert (len(schema.documents), len(plans)) == before  # type: ignore[arg-type]


def test_the_memory_estimate_of_a_document_holds_for_the_densest_texts() -> None:
    """The cache's byte bound rests on its estimate: check it against what graphql-core really
    keeps for texts at the token limit, and for a few tokens carrying a long string."""
    documents = Documents(None, Limits(), 1, 1)  # type: ignore[arg-type]
    texts = [
        "{ " + " ".join(f"a{i}: me {{ role }}" for i in range(160)) + " }",
        "{ me { " + "role " * 990 + "} }",
        "{ m{ " + "r " * 990 + "} }",
        '{ person(idNumber: "' + "x" * 200_000 + '") { name } }',
    ]
    for text in texts:
        tracemalloc.start()
        try:
            document = parse(text, max_tokens=1000)
            kept = tracemalloc.get_traced_memory()[0]
        finally:
            tracemalloc.stop()
        assert document is not None
        assert kept <= documents.estimated_bytes(text), (len(text), kept)
