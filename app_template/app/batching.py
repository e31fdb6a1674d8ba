"""Coalescing: the calls one process makes in the same turn of its event loop become one database
statement, the way a DataLoader batches a GraphQL request's loads.

Under load most of a read's cost is not the query but getting it there and back: the driver's socket
write, SQLAlchemy's execution, a pool checkout, and PostgreSQL's per-statement work (measured:
bench/app/README.md). Requests that arrive together share all of that. Nothing waits for company: the
first call schedules its batch for the next turn of the loop, so a lone request is sent as soon as it
would have been, and the batch holds whatever joined it meanwhile.
"""

import asyncio
import contextvars
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")

# A bound on one statement's size (its parameter arrays, its rows); more waiting calls start another.
MAX_BATCH = 64


class Batcher(Generic[K, V]):
    """`await batcher(key)` is `run([key])[0]`, with the keys of concurrent calls run together.

    `run` answers one value per key, in order; an exception in place of a value is raised to that
    key's caller alone. If `run` raises, every call of that batch raises the same error. A caller that
    is cancelled (its client went away) leaves the batch; the others still get their values.
    """

    def __init__(
        self, run: Callable[[list[K]], Awaitable[Sequence[V | Exception]]], max_batch: int = MAX_BATCH
    ) -> None:
        self._run = run
        self._max_batch = max_batch
        self._waiting: list[tuple[K, asyncio.Future[V]]] = []
        self._running: set[asyncio.Task[None]] = set()

    async def __call__(self, key: K) -> V:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[V] = loop.create_future()
        self._waiting.append((key, future))
        if len(self._waiting) == 1:
            # Run in a context of its own: the batch belongs to no one request (its log lines included).
            loop.call_soon(self._dispatch, context=contextvars.Context())
        elif len(self._waiting) >= self._max_batch:
            self._dispatch()
        return await future

    def _dispatch(self) -> None:
        batch, self._waiting = self._waiting, []
        if not batch:
            return
        task = asyncio.get_running_loop().create_task(self._answer(batch), context=contextvars.Context())
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def _answer(self, batch: list[tuple[K, asyncio.Future[V]]]) -> None:
        wanted = [(key, future) for key, future in batch if not future.done()]
        if not wanted:
            return
        try:
            values = await self._run([key for key, _ in wanted])
            if len(values) != len(wanted):
                raise RuntimeError(f"a batch of {len(wanted)} keys was answered with {len(values)} values")
        except asyncio.CancelledError:  # the process is stopping
            for _, future in wanted:
                future.cancel()
            raise
        except Exception as error:
            for _, future in wanted:
                if not future.done():
                    future.set_exception(error)
            return
        for (_, future), value in zip(wanted, values, strict=True):
            if future.done():
                continue
            if isinstance(value, Exception):
                future.set_exception(value)
            else:
                future.set_result(value)
