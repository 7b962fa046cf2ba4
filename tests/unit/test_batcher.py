"""The micro-batcher: batches form, results never mix, a bad item fails alone, admission sheds."""

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ClassVar

import pytest

from edge_models.base import EdgeInput, EdgeModel, ModelSpec
from edge_models.batcher import BatchPolicy, MicroBatcher, QueueFull
from edge_models.errors import InputError


class Upper(EdgeModel):
    """Upper-cases text; 'bad' is invalid input; records batch sizes."""

    spec: ClassVar[ModelSpec] = ModelSpec("upper", "embed", "text", "test model")

    def __init__(self, delay_s: float = 0.0) -> None:
        self.batches: list[int] = []
        self.delay_s = delay_s

    def prepare(self, item: EdgeInput) -> str:
        if item.text == "bad":
            raise InputError("bad text", code="bad")
        return item.text or ""

    def run_batch(self, prepared: list[Any]) -> list[dict[str, Any]]:
        import time

        time.sleep(self.delay_s)
        self.batches.append(len(prepared))
        return [{"text": text.upper()} for text in prepared]

    def warm_up(self) -> None:
        self.run_batch(["x"])


@pytest.fixture
async def executor() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(2)


async def test_concurrent_items_batch_and_keep_their_own_results(
    executor: ThreadPoolExecutor,
) -> None:
    model = Upper(delay_s=0.01)
    batcher = MicroBatcher(model, executor, BatchPolicy(max_batch_size=8, max_queue_delay_ms=6e4))
    batcher.start()
    try:
        texts = [f"item-{i}" for i in range(40)]
        results = await asyncio.gather(*(batcher.submit(EdgeInput(text=t)) for t in texts))
    finally:
        await batcher.stop()
    assert [r["text"] for r in results] == [t.upper() for t in texts]
    assert max(model.batches) <= 8
    assert len(model.batches) < 40


async def test_a_bad_item_fails_alone(executor: ThreadPoolExecutor) -> None:
    batcher = MicroBatcher(Upper(), executor, BatchPolicy(max_queue_delay_ms=6e4))
    batcher.start()
    try:
        results = await asyncio.gather(
            *(batcher.submit(EdgeInput(text=t)) for t in ("a", "bad", "c")),
            return_exceptions=True,
        )
    finally:
        await batcher.stop()
    assert results[0] == {"text": "A"} and results[2] == {"text": "C"}
    assert isinstance(results[1], InputError) and results[1].code == "bad"


async def test_a_crashing_model_fails_its_batch_not_the_worker(
    executor: ThreadPoolExecutor,
) -> None:
    class Crashy(Upper):
        def run_batch(self, prepared: list[Any]) -> list[dict[str, Any]]:
            if "boom" in prepared:
                raise RuntimeError("model crashed")
            return super().run_batch(prepared)

    batcher = MicroBatcher(
        Crashy(), executor, BatchPolicy(max_batch_size=1, max_queue_delay_ms=6e4)
    )
    batcher.start()
    try:
        with pytest.raises(RuntimeError):
            await batcher.submit(EdgeInput(text="boom"))
        assert await batcher.submit(EdgeInput(text="fine")) == {"text": "FINE"}
    finally:
        await batcher.stop()


async def test_admission_sheds_when_queued_work_exceeds_the_budget(
    executor: ThreadPoolExecutor,
) -> None:
    batcher = MicroBatcher(
        Upper(delay_s=0.02), executor, BatchPolicy(max_batch_size=1, max_queue_delay_ms=50)
    )
    batcher.start()
    try:
        await batcher.submit(EdgeInput(text="learn the service time"))
        pending = [asyncio.create_task(batcher.submit(EdgeInput(text=str(i)))) for i in range(10)]
        await asyncio.sleep(0)
        with pytest.raises(QueueFull) as err:
            batcher.admit()
        assert err.value.retry_after_s >= 1
        await asyncio.gather(*pending, return_exceptions=True)
        batcher.admit()  # drained: admitted again
    finally:
        await batcher.stop()


@contextlib.asynccontextmanager
async def one_running_with_a_squeezed_budget(
    executor: ThreadPoolExecutor, overloaded: bool
) -> AsyncIterator[tuple[MicroBatcher, Upper, asyncio.Task[dict[str, Any]]]]:
    """A batcher that learned its service time, its budget at the minimum, one batch running."""
    model = Upper(delay_s=0.02)
    batcher = MicroBatcher(model, executor, BatchPolicy(max_batch_size=8, max_queue_delay_ms=1))
    batcher.start()
    try:
        await batcher.submit(EdgeInput(text="learn the service time"))
        batcher.admission.budget_s = batcher.admission.policy.min_queue_delay_s
        if overloaded:
            batcher.admission.shed()  # it has just shed a request
        running = asyncio.create_task(batcher.submit(EdgeInput(text="running")))
        await asyncio.sleep(0.005)  # the batch runs: the next ones form a batch behind it
        yield batcher, model, running
    finally:
        await batcher.stop()


async def test_callers_that_fit_in_the_forming_batch_are_never_shed(
    executor: ThreadPoolExecutor,
) -> None:
    async with one_running_with_a_squeezed_budget(executor, overloaded=False) as (
        batcher,
        model,
        first,
    ):
        queued = []
        for i in range(7):
            batcher.admit()  # room in the forming batch: admitted despite the tiny budget
            queued.append(asyncio.create_task(batcher.submit(EdgeInput(text=str(i)))))
            await asyncio.sleep(0)
        batcher.admit()
        queued.append(asyncio.create_task(batcher.submit(EdgeInput(text="eighth"))))
        await asyncio.sleep(0)
        with pytest.raises(QueueFull):  # a full batch waits behind the running one: shed
            batcher.admit()
        await asyncio.gather(first, *queued)
    assert model.batches == [1, 1, 8]


async def test_while_shedding_only_an_empty_forming_batch_is_admitted_past_the_budget(
    executor: ThreadPoolExecutor,
) -> None:
    async with one_running_with_a_squeezed_budget(executor, overloaded=True) as (
        batcher,
        model,
        first,
    ):
        batcher.admit()  # nothing waits behind it yet: one may, so the model never idles
        second = asyncio.create_task(batcher.submit(EdgeInput(text="next")))
        await asyncio.sleep(0)
        with pytest.raises(QueueFull):  # the batch forming behind it is not open to more
            batcher.admit()
        await asyncio.gather(first, second)
    assert model.batches == [1, 1, 1]


async def test_a_lone_request_runs_at_once_without_waiting_for_company(
    executor: ThreadPoolExecutor,
) -> None:
    model = Upper()
    batcher = MicroBatcher(model, executor, BatchPolicy(max_queue_delay_ms=6e4))
    batcher.start()
    try:  # a batcher that waited for company would not answer a lone request
        result = await asyncio.wait_for(batcher.submit(EdgeInput(text="alone")), 10)
    finally:
        await batcher.stop()
    assert result == {"text": "ALONE"} and model.batches == [1]


async def test_a_multi_item_request_runs_as_one_batch_up_to_the_models_best_size(
    executor: ThreadPoolExecutor,
) -> None:
    model = Upper()  # ModelSpec.max_batch_size is 32; coalescing other requests stops at 8
    batcher = MicroBatcher(model, executor, BatchPolicy(max_batch_size=8, max_queue_delay_ms=6e4))
    batcher.start()
    try:
        texts = [f"t{i}" for i in range(32)]
        outcomes = await batcher.submit_many([EdgeInput(text=t) for t in texts])
    finally:
        await batcher.stop()
    assert model.batches == [32]
    assert outcomes == [{"text": t.upper()} for t in texts]


async def test_a_request_over_the_best_size_is_cut_by_length_and_keeps_its_order(
    executor: ThreadPoolExecutor,
) -> None:
    class Recording(Upper):
        def __init__(self) -> None:
            super().__init__()
            self.seen: list[list[str]] = []

        def run_batch(self, prepared: list[Any]) -> list[dict[str, Any]]:
            self.seen.append(list(prepared))
            return super().run_batch(prepared)

    model = Recording()
    batcher = MicroBatcher(model, executor, BatchPolicy(max_queue_delay_ms=6e4))
    batcher.start()
    texts = ["x" * (1 + (i * 37) % 70) for i in range(70)]  # lengths shuffled
    try:
        outcomes = await batcher.submit_many([EdgeInput(text=t) for t in texts])
    finally:
        await batcher.stop()
    assert model.batches == [32, 32, 6]
    assert outcomes == [{"text": t.upper()} for t in texts]
    widths = [[len(t) for t in batch] for batch in model.seen]
    assert max(widths[0]) <= min(widths[1]) and max(widths[1]) <= min(widths[2])


async def test_a_bad_item_in_a_multi_item_request_fails_alone(
    executor: ThreadPoolExecutor,
) -> None:
    batcher = MicroBatcher(Upper(), executor, BatchPolicy(max_queue_delay_ms=6e4))
    batcher.start()
    try:
        outcomes = await batcher.submit_many([EdgeInput(text=t) for t in ("a", "bad", "c")])
    finally:
        await batcher.stop()
    assert outcomes[0] == {"text": "A"} and outcomes[2] == {"text": "C"}
    assert isinstance(outcomes[1], InputError)


async def test_requests_queued_behind_a_running_batch_share_the_next_one(
    executor: ThreadPoolExecutor,
) -> None:
    model = Upper(delay_s=0.05)
    batcher = MicroBatcher(model, executor, BatchPolicy(max_batch_size=8, max_queue_delay_ms=6e4))
    batcher.start()
    try:
        first = asyncio.create_task(batcher.submit(EdgeInput(text="first")))
        await asyncio.sleep(0.01)  # the first batch is running: the next ones queue behind it
        rest = await asyncio.gather(*(batcher.submit(EdgeInput(text=str(i))) for i in range(5)))
        await first
    finally:
        await batcher.stop()
    assert model.batches == [1, 5]
    assert [r["text"] for r in rest] == [str(i) for i in range(5)]


async def test_a_standing_queue_drops_late_requests_before_they_run(
    executor: ThreadPoolExecutor,
) -> None:
    model = Upper(delay_s=0.02)
    policy = BatchPolicy(max_batch_size=1, max_queue_delay_ms=6e4, drop_late=True)
    batcher = MicroBatcher(model, executor, policy)
    batcher.start()
    try:
        await batcher.submit(EdgeInput(text="learn the unloaded latency"))
        outcomes = await asyncio.gather(
            *(batcher.submit(EdgeInput(text=str(i))) for i in range(20)), return_exceptions=True
        )
    finally:
        await batcher.stop()
    dropped = [o for o in outcomes if isinstance(o, QueueFull)]
    assert dropped and len(dropped) < 20
    assert not isinstance(outcomes[0], QueueFull)  # the head of a burst is served
    assert len(model.batches) == 1 + 20 - len(dropped)  # dropped requests never ran


async def test_without_drop_late_every_admitted_request_is_answered(
    executor: ThreadPoolExecutor,
) -> None:
    batcher = MicroBatcher(Upper(delay_s=0.02), executor, BatchPolicy(max_batch_size=1))
    batcher.start()
    try:
        await batcher.submit(EdgeInput(text="learn the unloaded latency"))
        outcomes = await asyncio.gather(
            *(batcher.submit(EdgeInput(text=str(i))) for i in range(20))
        )
    finally:
        await batcher.stop()
    assert [o["text"] for o in outcomes] == [str(i) for i in range(20)]


async def test_queued_batches_run_back_to_back_while_the_event_loop_is_busy(
    executor: ThreadPoolExecutor,
) -> None:
    model = Upper(delay_s=0.01)
    batcher = MicroBatcher(model, executor, BatchPolicy(max_batch_size=2, max_queue_delay_ms=6e4))
    batcher.start()
    try:
        pending = [asyncio.create_task(batcher.submit(EdgeInput(text=str(i)))) for i in range(6)]
        await asyncio.sleep(0)  # every request is queued
        time.sleep(0.3)  # the loop is busy; a runner on the loop would wait for it
        assert len(model.batches) >= 3  # the runner took each next batch by itself
        results = await asyncio.gather(*pending)
    finally:
        await batcher.stop()
    assert [r["text"] for r in results] == [str(i) for i in range(6)]


async def test_a_request_after_the_executor_shut_down_is_refused_not_left_waiting() -> None:
    executor = ThreadPoolExecutor(1)
    batcher = MicroBatcher(Upper(), executor, BatchPolicy(max_queue_delay_ms=6e4))
    batcher.start()
    executor.shutdown()
    with pytest.raises(QueueFull):
        await asyncio.wait_for(batcher.submit(EdgeInput(text="late")), 5)
    assert batcher.depth == 0


async def test_many_concurrent_requests_on_two_runners_each_get_their_own_answer_once() -> None:
    executor = ThreadPoolExecutor(2)
    model = Upper()
    policy = BatchPolicy(max_batch_size=4, workers_per_model=2, max_queue_delay_ms=6e4)
    batcher = MicroBatcher(model, executor, policy)
    batcher.start()
    requests = [[f"r{i}-{j}" for j in range(1 + i % 5)] for i in range(300)]
    try:
        answers = await asyncio.gather(
            *(batcher.submit_many([EdgeInput(text=t) for t in texts]) for texts in requests)
        )
    finally:
        await batcher.stop()
        executor.shutdown()
    assert answers == [[{"text": t.upper()} for t in texts] for texts in requests]
    assert sum(model.batches) == sum(len(texts) for texts in requests)  # each item ran once
    assert batcher.depth == 0
