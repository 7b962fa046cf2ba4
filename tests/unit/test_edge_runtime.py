"""The edge runtime's inference threads and the early shed of requests that name an edge model."""

import asyncio
import os
import threading
from collections.abc import AsyncIterator
from typing import Any

import pytest

from common.errors import TooManyRequests
from edge_models.base import EdgeInput
from edge_models.registry import EdgeModelsConfig, EdgeRegistry
from edge_models.runtime import EdgeRuntime
from router.edge_stage import shed_early
from tests.unit.test_batcher import Upper


@pytest.fixture
async def runtime() -> AsyncIterator[tuple[EdgeRuntime, Upper]]:
    model = Upper(delay_s=0.05)
    runtime = EdgeRuntime(
        EdgeModelsConfig(max_queue_delay_ms=1),
        loader=lambda config: EdgeRegistry([model]),
    )
    runtime.start()
    await runtime.wait_ready()
    yield runtime, model
    await runtime.close()


def own_nice() -> int:
    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())


class NiceProbe(Upper):
    """Records the nice value of the thread each batch runs on."""

    def __init__(self) -> None:
        super().__init__()
        self.nice: list[int] = []

    def run_batch(self, prepared: list[Any]) -> list[dict[str, Any]]:
        self.nice.append(own_nice())
        return super().run_batch(prepared)


async def test_batches_run_below_the_event_loops_priority_only_while_the_model_sheds() -> None:
    model = NiceProbe()
    edge = EdgeRuntime(EdgeModelsConfig(inference_nice=7), loader=lambda c: EdgeRegistry([model]))
    edge.start()
    await edge.wait_ready()
    try:
        await edge.run("upper", EdgeInput(text="calm"))
        edge._batchers["upper"].admission.shed()
        await edge.run("upper", EdgeInput(text="overloaded"))
    finally:
        await edge.close()
    assert model.nice == [own_nice(), min(19, own_nice() + 7)]


async def test_a_request_naming_a_shedding_model_is_refused_before_it_is_read(
    runtime: tuple[EdgeRuntime, Upper],
) -> None:
    edge, model = runtime
    await edge.run("upper", EdgeInput(text="learn the service time"))
    running = asyncio.create_task(edge.run("upper", EdgeInput(text="running")))
    await asyncio.sleep(0.01)
    waiting = asyncio.create_task(edge.run("upper", EdgeInput(text="waiting")))
    await asyncio.sleep(0)
    shed_early(edge, "upper")  # a queue but no overload yet: read it, decide later
    shed_early(edge, "multimodal-pro")  # not an edge model: the router decides
    edge._batchers["upper"].admission.shed()  # the model has just shed one
    with pytest.raises(TooManyRequests) as refused:
        shed_early(edge, "upper")
    assert refused.value.code == "edge_overloaded"
    await asyncio.gather(running, waiting)
    shed_early(edge, "upper")  # overloaded, but nothing waits now: admitted
    assert model.batches == [1, 1, 1]


async def test_a_refused_nice_leaves_batches_running_at_their_priority(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def refuse(*args: int) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "setpriority", refuse)
    model = NiceProbe()
    edge = EdgeRuntime(EdgeModelsConfig(inference_nice=7), loader=lambda c: EdgeRegistry([model]))
    edge.start()
    await edge.wait_ready()
    try:
        edge._batchers["upper"].admission.shed()
        answer = await edge.run("upper", EdgeInput(text="overloaded"))
    finally:
        await edge.close()
    assert answer == {"text": "OVERLOADED"}
    assert model.nice == [own_nice()]
    assert "inference thread keeps its priority" in caplog.text
