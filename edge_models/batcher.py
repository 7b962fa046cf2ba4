"""Micro-batching: requests for one model share one `session.run`, with no idle waits.

A request (one or many items) is queued as one unit. A runner on the inference executor takes
the unit at the head at once and adds the units queued behind it while they fit; it never waits
on a timer for company, so a lone request runs immediately and batches form only from requests
that are already waiting. The runner takes the next batch itself, on its own thread, as soon as
one is done (results go back to the event loop with `call_soon_threadsafe`), so a busy loop
never leaves the model idle between batches. A multi-item request runs as one batch up to the
model's best size (`ModelSpec.max_batch_size`); a larger one is sorted by size and cut into
batches of that size, so similar lengths share a batch and padding stays small. Admission is
adaptive (`edge_models.admission`): requests are shed when their predicted queue delay is over a
budget steered to keep the admitted p99 within a multiple of the unloaded latency.
"""

import asyncio
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Annotated, Any

from pydantic import Field

from edge_models.admission import AdaptiveAdmission, AdmissionPolicy
from edge_models.base import EdgeInput, EdgeModel
from edge_models.errors import EdgeModelError, InputError

log = logging.getLogger(__name__)

Outcome = dict[str, Any] | BaseException


@dataclass(frozen=True)
class BatchPolicy:
    """How many requests share a batch, and the admission bounds (keys of the `models` section)."""

    # items from different requests coalesced into one batch; latency first: 32 gave ~1.3x the
    # throughput and 2x the p99
    max_batch_size: Annotated[int, Field(ge=1)] = 8
    max_queue: Annotated[int, Field(ge=1)] = 256  # items waiting or running, at most
    workers_per_model: Annotated[int, Field(ge=1)] = 1
    max_queue_delay_ms: Annotated[float, Field(gt=0)] = 20.0  # ceiling of the adaptive budget
    latency_target_factor: Annotated[float, Field(gt=1)] = 2.0  # admitted p99 <= this x unloaded
    drop_late: bool = False  # drop queued requests of a standing queue (CoDel) before they run


MAX_ITEMS_PER_REQUEST = 1024  # an admitted request's items may overshoot the queue bound


class QueueFull(EdgeModelError):
    """The model's queue is over its bound; the caller should shed the request."""

    def __init__(self, message: str, retry_after_s: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


@dataclass
class _Unit:
    """One request's items (or a chunk of them), its outcomes and when it was queued."""

    items: Sequence[EdgeInput]
    positions: Sequence[int]
    outcomes: list[Outcome | None]
    future: asyncio.Future[list[Outcome]]
    queued_at: float
    unloaded: bool
    pending: list[int] = field(default_factory=lambda: [0])  # chunks of the request not done


def _size(item: EdgeInput) -> int:
    """A cheap length proxy for sorting (characters or bytes)."""
    return len(item.text or "") + len(item.image or b"") + len(item.audio or b"")


class MicroBatcher:
    """Queues requests for one model and runs them in batches on the inference executor.

    The queue and its counters are shared by the event loop (which queues and admits) and the
    runner threads (which take batches), so they change only under `_lock`; futures are only
    ever completed on the loop.
    """

    def __init__(
        self,
        model: EdgeModel,
        executor: Executor,
        policy: BatchPolicy,
        on_batch: Callable[[str, int], None] | None = None,
        overload_executor: Executor | None = None,
    ) -> None:
        self.model = model
        self._executor = executor
        self._overload_executor = overload_executor or executor  # runners while it sheds
        self._policy = policy
        self._best = max(1, model.spec.max_batch_size)
        self._coalesce = max(1, min(policy.max_batch_size, self._best))
        self._lock = threading.Lock()
        self._queue: deque[_Unit] = deque()
        self._queued_items = 0
        self._in_flight = 0
        self._runners = 0  # runner jobs submitted to the executor and not yet finished
        self._stopped = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._on_batch = on_batch
        self._item_s = 0.0  # moving average of batch time per item, for admission
        self._running: dict[int, tuple[float, float]] = {}  # batch id -> (started, expected s)
        self.admission = AdaptiveAdmission(
            AdmissionPolicy(
                target_factor=policy.latency_target_factor,
                max_queue_delay_s=policy.max_queue_delay_ms / 1000,
                drop_late=policy.drop_late,
            )
        )

    @property
    def depth(self) -> int:
        """Items waiting or running."""
        return self._queued_items + self._in_flight

    def start(self) -> None:
        """Bind to the running loop, where results are delivered."""
        self._loop = asyncio.get_running_loop()
        self._stopped = False

    async def stop(self) -> None:
        """Fail anything still queued; a running batch still answers its callers."""
        with self._lock:
            self._stopped = True
            units = list(self._queue)
            self._queue.clear()
            self._queued_items = 0
        for unit in units:
            if not unit.future.done():
                unit.future.set_exception(QueueFull("edge model is shutting down"))

    def expected_delay_s(self) -> float:
        """How long a new request would wait: what is left of running batches, then the queue."""
        now = time.monotonic()
        with self._lock:
            running = sum(max(0.0, exp - (now - t0)) for t0, exp in self._running.values())
            queued = self._queued_items * self._item_s
        return (running + queued) / self._policy.workers_per_model

    def admit(self) -> None:
        """Admission for one request: QueueFull when its predicted queue delay is over budget.

        A request that still fits in the batch forming behind the running one is admitted
        whatever the budget while the model is not overloaded: fewer concurrent callers than a
        batch holds are not an overload, and shedding them would only lower throughput. Once
        it sheds, only an empty forming batch is admitted that way (see `edge_models.admission`).
        """
        delay = self.expected_delay_s()
        forming = 1 if self.admission.overloaded() else self._coalesce
        if self.depth >= self._policy.max_queue or (
            self._queued_items >= forming and not self.admission.admits(delay)
        ):
            self.admission.shed()
            raise QueueFull(
                f"edge model {self.model.spec.name} is overloaded "
                f"({self.depth} queued, ~{delay * 1000:.0f} ms of work, "
                f"budget {self.admission.budget_s * 1000:.1f} ms)",
                retry_after_s=max(1.0, delay),
            )

    async def submit(self, item: EdgeInput) -> dict[str, Any]:
        """Queue one item (of an admitted request) and wait for its own output."""
        (outcome,) = await self.submit_many([item])
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    async def submit_many(self, items: Sequence[EdgeInput]) -> list[Outcome]:
        """Queue an admitted request's items as one unit; one outcome (or exception) per item."""
        if self.depth >= self._policy.max_queue + MAX_ITEMS_PER_REQUEST:
            raise QueueFull(f"queue for {self.model.spec.name} is full")
        if not items:
            return []
        if self._loop is None:
            self.start()
        future: asyncio.Future[list[Outcome]] = asyncio.get_running_loop().create_future()
        outcomes: list[Outcome | None] = [None] * len(items)
        order = list(range(len(items)))
        if len(items) > self._best:
            order.sort(key=lambda i: _size(items[i]))
        pending = [0]
        now = time.monotonic()
        units = []
        for start in range(0, len(order), self._best):
            positions = order[start : start + self._best]
            chunk = [items[i] for i in positions]
            units.append(_Unit(chunk, positions, outcomes, future, now, False, pending))
            pending[0] += 1
        with self._lock:
            if self._stopped:
                raise QueueFull("edge model is shutting down")
            unloaded = self._queued_items + self._in_flight == 0
            for unit in units:
                unit.unloaded = unloaded
            self._queue.extend(units)
            self._queued_items += len(items)
            kick = self._runners < self._policy.workers_per_model
            if kick:
                self._runners += 1
        if kick and not self._start_runner():  # the executor is shut down: take them back
            with self._lock:
                mine = {id(unit) for unit in units}
                self._queue = deque(u for u in self._queue if id(u) not in mine)
                self._queued_items -= len(items)
            raise QueueFull("edge model is shutting down")
        return await future

    def _start_runner(self) -> bool:
        """Queue a runner (counted already) on the executor; False if it is shut down.

        While the model sheds, the runner goes to the overload executor, whose threads run
        below the event loop's priority.
        """
        try:
            overloaded = self.admission.overloaded()
            (self._overload_executor if overloaded else self._executor).submit(self._drain)
        except RuntimeError:
            with self._lock:
                self._runners -= 1
            return False
        return True

    def _take(self, now: float) -> tuple[list[_Unit], list[_Unit]]:
        """Under the lock: the head unit plus the units behind it that fit, and the late ones.

        Abandoned units (the caller gave up, or a sibling chunk failed) are skipped; with
        `drop_late`, single-item units that waited too long are returned to be failed.
        """
        batch: list[_Unit] = []
        late: list[_Unit] = []
        size = 0
        while self._queue:
            unit = self._queue[0]
            if batch and size + len(unit.items) > self._coalesce:
                break
            self._queue.popleft()
            self._queued_items -= len(unit.items)
            if unit.future.done():
                continue
            if len(unit.outcomes) == 1 and self.admission.too_late(now - unit.queued_at):
                late.append(unit)
                continue
            batch.append(unit)
            size += len(unit.items)
            if size >= self._best:
                break
        return batch, late

    def _drain(self) -> None:
        """A runner, on the executor: run one batch, then queue itself again while work waits.

        Requeueing (rather than looping) lets other models' batches take their turn on a
        shared executor; the hand-off costs microseconds where a trip through a busy event
        loop costs milliseconds.
        """
        loop = self._loop
        assert loop is not None, "start() binds the loop before anything is queued"
        started = time.monotonic()
        with self._lock:
            batch, late = self._take(started)
            items = [item for unit in batch for item in unit.items]
            if not batch:
                self._runners -= 1
            else:
                self._in_flight += len(items)
                self._running[id(batch)] = (started, len(items) * self._item_s)
        if late:
            self._hand_back(loop, self._fail_late, late)
        if not batch:
            return
        try:
            results: list[Outcome] = self._run(items)
        except Exception as exc:  # a model crash fails this batch, not the runner
            results = [exc] * len(items)
        finished = time.monotonic()
        per_item = (finished - started) / len(items)
        with self._lock:
            self._in_flight -= len(items)
            del self._running[id(batch)]
            self._item_s = per_item if self._item_s == 0 else 0.8 * self._item_s + 0.2 * per_item
            more = bool(self._queue)
            if not more:
                self._runners -= 1
        self._hand_back(loop, self._deliver, batch, results, finished)
        if more:
            self._start_runner()

    def _hand_back(
        self, loop: asyncio.AbstractEventLoop, fn: Callable[..., None], *args: Any
    ) -> None:
        """Run `fn(*args)` on the loop; a loop already closed has no callers left to answer."""
        try:
            loop.call_soon_threadsafe(fn, *args)
        except RuntimeError:
            log.debug("event loop closed; %s dropped", fn.__name__)

    def _fail_late(self, late: list[_Unit]) -> None:
        """On the loop: shed requests dropped from a standing queue."""
        for unit in late:
            if not unit.future.done():
                unit.future.set_exception(
                    QueueFull(f"edge model {self.model.spec.name} is overloaded (queued too long)")
                )

    def _deliver(self, batch: list[_Unit], results: list[Outcome], now: float) -> None:
        """On the loop: give each unit its outcomes; a request completes with its last chunk."""
        if self._on_batch is not None:
            self._on_batch(self.model.spec.name, len(results))
        offset = 0
        for unit in batch:
            for position in unit.positions:
                unit.outcomes[position] = results[offset]
                offset += 1
            unit.pending[0] -= 1
            if unit.pending[0] == 0 and not unit.future.done():
                unit.future.set_result(list(unit.outcomes))  # type: ignore[arg-type]
                if len(unit.outcomes) == 1:
                    self.admission.observe(now - unit.queued_at, unit.unloaded)

    def _run(self, items: list[EdgeInput]) -> list[Outcome]:
        """In the executor: prepare each item (bad ones fail alone), run the good ones."""
        results: list[Outcome] = []
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
