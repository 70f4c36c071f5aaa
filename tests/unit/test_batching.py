"""BatchLoader (app/resolvers/batching.py): one fetch per turn of the loop, failures shared.

That a nested query costs the same statements for 2 or 25 subjects is proven over HTTP
(tests/api/test_http.py); these pin what the API tests cannot easily reach.
"""

from __future__ import annotations

import asyncio

import pytest

from app.resolvers.batching import BatchLoader


@pytest.mark.parametrize("synchronous", [True, False], ids=["sync", "async"])
async def test_keys_of_one_turn_are_fetched_together_and_remembered(synchronous: bool) -> None:
    fetched: list[list[int]] = []

    def fetch(keys: list[int]) -> list[int]:
        fetched.append(keys)
        return [k * 10 for k in keys]

    async def fetch_async(keys: list[int]) -> list[int]:
        await asyncio.sleep(0)
        return fetch(keys)

    loader = BatchLoader(fetch) if synchronous else BatchLoader(fetch_async=fetch_async)
    assert await asyncio.gather(loader.load(1), loader.load(2), loader.load(1)) == [10, 20, 10]
    assert await loader.load(2) == 20
    loader.prime(3, 33)
    assert await loader.load(3) == 33
    assert fetched == [[1, 2]]


@pytest.mark.parametrize("synchronous", [True, False], ids=["sync", "async"])
async def test_a_failed_fetch_fails_every_key_of_its_batch(synchronous: bool) -> None:
    calls = 0

    def fetch(keys: list[int]) -> list[int]:
        nonlocal calls
        calls += 1
        raise ConnectionError("the database went away")

    async def fetch_async(keys: list[int]) -> list[int]:
        return fetch(keys)

    loader = BatchLoader(fetch) if synchronous else BatchLoader(fetch_async=fetch_async)
    results = await asyncio.gather(loader.load(1), loader.load(2), return_exceptions=True)
    assert [type(r) for r in results] == [ConnectionError, ConnectionError]
    with pytest.raises(ConnectionError):  # the answer for that key within this request
        await loader.load(1)
    assert calls == 1


async def test_a_fetch_that_gives_the_wrong_number_of_values_fails() -> None:
    loader: BatchLoader[int, int] = BatchLoader(lambda keys: [1])
    with pytest.raises(RuntimeError, match="1 values for 2 keys"):
        await asyncio.gather(loader.load(1), loader.load(2))
