"""Batches: coalescing concurrent calls into one request, and merging/splitting their answers.

Only where the protocol carries a batch (/v3 input lists, embeddings input arrays); a
single request's answer never changes.
"""

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from central_client.adapters import CentralAnswer, CentralCall
from central_client.upstream_errors import item_error

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


def singles(call: CentralCall) -> list[CentralCall]:
    """A multi-input call as one call per input."""
    return [
        CentralCall(call.task, (item,), call.parameters, call.request_id, call.deadline)
        for item in call.inputs
    ]


def join_answers(answers: list[CentralAnswer]) -> CentralAnswer:
    """Single answers joined in order, usage summed."""
    usage: dict[str, int] = {}
    for answer in answers:
        for key, value in answer.usage.items():
            usage[key] = usage.get(key, 0) + value
    return CentralAnswer([a.outputs[0] for a in answers], answers[0].model, usage)


def merge_calls(calls: list[CentralCall]) -> CentralCall:
    """Coalesced single-input calls as one batch call, due by the latest deadline.

    Each caller still waits only until its own deadline; the batch outlives the shortest one
    so that it never fails a companion that had more time.
    """
    deadlines = [c.deadline for c in calls if c.deadline is not None]
    return CentralCall(
        task=calls[0].task,
        inputs=tuple(c.inputs[0] for c in calls),
        parameters=calls[0].parameters,
        request_id=calls[0].request_id,
        deadline=max(deadlines) if len(deadlines) == len(calls) else None,
    )


def split_answer(answer: CentralAnswer) -> list[CentralAnswer | BaseException]:
    """A batch answer per caller; a failed item is that caller's error only."""
    results: list[CentralAnswer | BaseException] = []
    for index, output in enumerate(answer.outputs):
        if "error" in output:
            results.append(item_error(output["error"]))
        else:
            results.append(
                CentralAnswer([output], answer.model, answer.usage if index == 0 else {})
            )
    return results
