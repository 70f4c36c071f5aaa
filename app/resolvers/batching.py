"""Batch loading within a request: the keys asked for in one turn of the event loop, one fetch.

This is what strawberry's DataLoader does, with only what app/resolvers/loaders.py uses: load,
prime, a cache of the request's answers. Profiled on the credit query, DataLoader's
bookkeeping (a batch object, a task per dispatch, its cache abstraction) cost more than a
loaded list's own completion. Here a batch is a dict of futures, dispatched by one callback at
the end of the turn; when the fetch is synchronous (SQLite, read on the loop: see
app/db/request.py) the callback fetches at once and no task is made at all. On PostgreSQL the
callback asks the request's database for the rows (`fetch_soon`), which sends them with the
other reads of that turn (app/db/request.py `rows_soon`), again with no task of the loader's own.

A failed fetch fails every key of its batch, and stays the answer for those keys within the
request, as with DataLoader.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Sequence
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

Fetch = Callable[[list[K]], Sequence[V]]
FetchAsync = Callable[[list[K]], Awaitable[Sequence[V]]]
FetchSoon = Callable[[list[K]], "asyncio.Future[Sequence[V]]"]


class BatchLoader(Generic[K, V]):
    __slots__ = ("_batch", "_cache", "_fetch", "_fetch_async", "_fetch_soon", "_running")

    def __init__(
        self,
        fetch: Fetch[K, V] | None = None,
        fetch_async: FetchAsync[K, V] | None = None,
        fetch_soon: FetchSoon[K, V] | None = None,
    ) -> None:
        """Give `fetch` when the values can be had without waiting, `fetch_soon` when asking for
        them gives a future of them, else `fetch_async`."""
        assert [fetch, fetch_async, fetch_soon].count(None) == 2, "one way to fetch"
        self._fetch = fetch
        self._fetch_async = fetch_async
        self._fetch_soon = fetch_soon
        self._cache: dict[K, asyncio.Future[V]] = {}
        self._batch: dict[K, asyncio.Future[V]] | None = None
        self._running: set[asyncio.Task[None]] = set()

    def load(self, key: K) -> asyncio.Future[V]:
        future = self._cache.get(key)
        if future is None:
            loop = asyncio.get_running_loop()
            future = self._cache[key] = loop.create_future()
            if self._batch is None:
                self._batch = {}
                loop.call_soon(self._dispatch, loop)
            self._batch[key] = future
        return future

    def prime(self, key: K, value: V) -> None:
        """Remember a value already at hand (from a search, say), unless the key is loaded already."""
        if key not in self._cache:
            future = asyncio.get_running_loop().create_future()
            future.set_result(value)
            self._cache[key] = future

    def _dispatch(self, loop: asyncio.AbstractEventLoop) -> None:
        batch, self._batch = self._batch, None
        assert batch is not None
        if self._fetch is not None:
            try:
                values = self._fetch(list(batch))
            except Exception as error:
                _fail(batch, error)
            else:
                _settle(batch, values)
            return
        if self._fetch_soon is not None:
            try:
                answer = self._fetch_soon(list(batch))
            except Exception as error:
                _fail(batch, error)
                return
            answer.add_done_callback(lambda done: _settle_from(batch, done))
            return
        task = loop.create_task(self._run(batch))
        self._running.add(task)  # held until done: the loop keeps only a weak reference
        task.add_done_callback(self._running.discard)

    async def _run(self, batch: dict[K, asyncio.Future[V]]) -> None:
        assert self._fetch_async is not None
        try:
            values = await self._fetch_async(list(batch))
        except Exception as error:
            _fail(batch, error)
        except BaseException:  # cancelled (the request went away): so are its waiters
            for future in batch.values():
                future.cancel()
            raise
        else:
            _settle(batch, values)


def _settle(batch: dict[K, asyncio.Future[V]], values: Sequence[V]) -> None:
    if len(values) != len(batch):
        _fail(batch, RuntimeError(f"a batch fetch gave {len(values)} values for {len(batch)} keys"))
        return
    for future, value in zip(batch.values(), values, strict=True):  # lengths checked above
        if not future.done():  # its waiter may have been cancelled
            future.set_result(value)


def _settle_from(batch: dict[K, asyncio.Future[V]], answer: asyncio.Future[Sequence[V]]) -> None:
    if answer.cancelled():  # the request went away: so are its waiters
        for future in batch.values():
            future.cancel()
    elif (error := answer.exception()) is not None:
        _fail(batch, error)
    else:
        _settle(batch, answer.result())


def _fail(batch: dict[K, asyncio.Future[V]], error: BaseException) -> None:
    for future in batch.values():
        if not future.done():
            future.set_exception(error)
