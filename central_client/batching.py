"""Coalesce concurrent calls that share a key into one batch call; each caller gets its own."""

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

Item = TypeVar("Item")
Out = TypeVar("Out")

SendBatch = Callable[[Hashable, list[Item]], Awaitable[list[Out | BaseException]]]


@dataclass
class _Group(Generic[Item, Out]):
    items: list[Item] = field(default_factory=list)
    futures: list[asyncio.Future[Out]] = field(default_factory=list)
    flush: asyncio.TimerHandle | None = None


class Coalescer(Generic[Item, Out]):
    """Coalesces calls with the same key, up to `max_size` per batch.

    A call that finds no batch in flight goes at once (an idle upstream pays no batching
    delay); while batches are in flight, calls wait up to `max_wait_s` for companions.
    """

    def __init__(self, send: SendBatch, max_size: int, max_wait_s: float) -> None:
        self._send = send
        self._max_size = max_size
        self._max_wait_s = max_wait_s
        self._groups: dict[Hashable, _Group[Item, Out]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.batches_sent = 0

    async def submit(self, key: Hashable, item: Item) -> Out:
        """Add an item to its key's open batch and wait for its result."""
        loop = asyncio.get_running_loop()
        group = self._groups.get(key)
        if group is None:
            group = self._groups[key] = _Group()
            group.flush = loop.call_later(self._max_wait_s, self._flush, key)
        future: asyncio.Future[Out] = loop.create_future()
        group.items.append(item)
        group.futures.append(future)
        if len(group.items) >= self._max_size or not self._tasks:
            self._flush(key)
        return await future

    def _flush(self, key: Hashable) -> None:
        group = self._groups.pop(key, None)
        if group is None:
            return
        if group.flush is not None:
            group.flush.cancel()
        task = asyncio.get_running_loop().create_task(self._run(key, group))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, key: Hashable, group: _Group[Item, Out]) -> None:
        self.batches_sent += 1
        try:
            results = await self._send(key, group.items)
        except BaseException as exc:  # the whole call failed: every caller gets the error
            results = [exc] * len(group.items)
            if isinstance(exc, asyncio.CancelledError):
                for future in group.futures:
                    future.cancel()
                raise
        for future, result in zip(group.futures, results, strict=True):
            if future.done():
                continue
            if isinstance(result, BaseException):
                future.set_exception(result)
            else:
                future.set_result(result)

    async def close(self) -> None:
        """Cancel batches in flight."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
