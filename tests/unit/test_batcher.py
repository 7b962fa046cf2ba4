"""The micro-batcher: batches form, results never mix, a bad item fails alone, admission sheds."""

import asyncio
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
    batcher = MicroBatcher(
        model, executor, BatchPolicy(max_batch_size=8, max_wait_s=0.005, max_queue_delay_s=60)
    )
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
    batcher = MicroBatcher(Upper(), executor, BatchPolicy(max_wait_s=0.01, max_queue_delay_s=60))
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

    batcher = MicroBatcher(Crashy(), executor, BatchPolicy(max_batch_size=1, max_queue_delay_s=60))
    batcher.start()
    try:
        with pytest.raises(RuntimeError):
            await batcher.submit(EdgeInput(text="boom"))
        assert await batcher.submit(EdgeInput(text="fine")) == {"text": "FINE"}
    finally:
        await batcher.stop()


async def test_admission_sheds_when_queued_work_exceeds_the_bound(
    executor: ThreadPoolExecutor,
) -> None:
    batcher = MicroBatcher(
        Upper(delay_s=0.02), executor, BatchPolicy(max_batch_size=1, max_queue_delay_s=0.05)
    )
    batcher.start()
    try:
        await batcher.submit(EdgeInput(text="learn the service time"))
        pending = [asyncio.create_task(batcher.submit(EdgeInput(text=str(i)))) for i in range(10)]
        await asyncio.sleep(0)
        with pytest.raises(QueueFull) as err:
            batcher.admit()
        assert err.value.retry_after_s >= 1
        await asyncio.gather(*pending)
        batcher.admit()  # drained: admitted again
    finally:
        await batcher.stop()
