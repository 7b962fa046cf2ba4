"""Micro-batching: concurrent requests for one model share one `session.run`."""

import asyncio
import contextlib
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any

from edge_models.base import EdgeInput, EdgeModel
from edge_models.errors import EdgeModelError, InputError


@dataclass(frozen=True)
class BatchPolicy:
    """How long to wait for companions and how many to take."""

    max_batch_size: int = 8
    max_wait_s: float = 0.002
    max_queue: int = 256
    workers: int = 1
    max_queue_delay_s: float = 0.02  # shed when the work queued ahead would take longer


MAX_ITEMS_PER_REQUEST = 1024  # an admitted request's items may overshoot the queue bound


class QueueFull(EdgeModelError):
    """The model's queue is at its bound; the caller should shed the request."""

    def __init__(self, message: str, retry_after_s: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


@dataclass
class _Pending:
    item: EdgeInput
    future: asyncio.Future[dict[str, Any]]


class MicroBatcher:
    """Queues items for one model and runs them in batches on the inference executor."""

    def __init__(
        self,
        model: EdgeModel,
        executor: Executor,
        policy: BatchPolicy,
        on_batch: Callable[[str, int], None] | None = None,
    ) -> None:
        self.model = model
        self._executor = executor
        self._policy = policy
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue()
        self._workers: list[asyncio.Task[None]] = []
        self._in_flight = 0
        self._on_batch = on_batch
        self._item_s = 0.0  # moving average of batch time per item, for admission

    @property
    def depth(self) -> int:
        """Items waiting or running."""
        return self._queue.qsize() + self._in_flight

    def start(self) -> None:
        """Start the worker tasks on the running loop."""
        for _ in range(self._policy.workers):
            self._workers.append(asyncio.create_task(self._work()))

    async def stop(self) -> None:
        """Cancel the workers and fail anything still queued."""
        for task in self._workers:
            task.cancel()
        for task in self._workers:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._workers.clear()
        while not self._queue.empty():
            pending = self._queue.get_nowait()
            if not pending.future.done():
                pending.future.set_exception(QueueFull("edge model is shutting down"))

    def expected_delay_s(self) -> float:
        """How long the work already queued would take, from recent batch timings."""
        return self.depth * self._item_s / self._policy.workers

    def admit(self) -> None:
        """Admission for one request: QueueFull when the work queued ahead is over the bound."""
        delay = self.expected_delay_s()
        if self.depth >= self._policy.max_queue or delay > self._policy.max_queue_delay_s:
            raise QueueFull(
                f"edge model {self.model.spec.name} is overloaded "
                f"({self.depth} queued, ~{delay * 1000:.0f} ms of work)",
                retry_after_s=max(1.0, delay),
            )

    async def submit(self, item: EdgeInput) -> dict[str, Any]:
        """Queue one item (of an admitted request) and wait for its own output."""
        if self.depth >= self._policy.max_queue + MAX_ITEMS_PER_REQUEST:
            raise QueueFull(f"queue for {self.model.spec.name} is full")
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Pending(item, future))
        return await future

    async def _work(self) -> None:
        """Collect a batch (up to max size, or until max wait passes) and run it."""
        loop = asyncio.get_running_loop()
        while True:
            batch = [await self._queue.get()]
            deadline = loop.time() + self._policy.max_wait_s
            while len(batch) < self._policy.max_batch_size:
                remaining = deadline - loop.time()
                if remaining <= 0 and self._queue.empty():
                    break
                try:
                    batch.append(
                        self._queue.get_nowait()
                        if not self._queue.empty()
                        else await asyncio.wait_for(self._queue.get(), remaining)
                    )
                except TimeoutError:
                    break
            live = [p for p in batch if not p.future.done()]  # callers that gave up are skipped
            if not live:
                continue
            self._in_flight += len(live)
            started = loop.time()
            try:
                results = await loop.run_in_executor(
                    self._executor, self._run, [p.item for p in live]
                )
            except Exception as exc:  # a model crash fails this batch, not the worker
                results = [exc] * len(live)
            finally:
                self._in_flight -= len(live)
            per_item = (loop.time() - started) / len(live)
            self._item_s = per_item if self._item_s == 0 else 0.8 * self._item_s + 0.2 * per_item
            if self._on_batch is not None:
                self._on_batch(self.model.spec.name, len(live))
            for pending, result in zip(live, results, strict=True):
                if pending.future.done():
                    continue
                if isinstance(result, BaseException):
                    pending.future.set_exception(result)
                else:
                    pending.future.set_result(result)

    def _run(self, items: list[EdgeInput]) -> list[dict[str, Any] | Exception]:
        """In the executor: prepare each item (bad ones fail alone), run the good ones."""
        results: list[dict[str, Any] | Exception] = []
        prepared: list[Any] = []
        positions: list[int] = []
        for item in items:
            try:
                prepared.append(self.model.prepare(item))
                positions.append(len(results))
                results.append(InputError("unreached"))
            except InputError as exc:
                results.append(exc)
        if prepared:
            outputs = self.model.run_batch(prepared)
            for position, output in zip(positions, outputs, strict=True):
                results[position] = output
        return results
