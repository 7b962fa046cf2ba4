"""Edge models at run time: loaded in the background, one micro-batcher per model."""

import asyncio
import logging
import os
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from edge_models.base import EdgeInput, ModelSpec
from edge_models.batcher import MicroBatcher, Outcome
from edge_models.registry import EdgeModelsConfig, EdgeRegistry, load_models

log = logging.getLogger(__name__)


def yield_to_the_event_loop(nice: int) -> None:
    """Lower this thread's CPU priority by `nice`, so the event loop wins the CPU.

    Only Linux gives a thread its own nice value (elsewhere it would be the whole process's);
    it can be raised, never lowered back. Where it is refused, the thread runs as it is.
    """
    if nice <= 0 or not sys.platform.startswith("linux"):
        return
    thread = threading.get_native_id()
    try:
        current = os.getpriority(os.PRIO_PROCESS, thread)
        os.setpriority(os.PRIO_PROCESS, thread, min(19, current + nice))
    except OSError as exc:
        log.warning("inference thread keeps its priority: %s", exc)


class NotReady(RuntimeError):
    """Models are still loading, or failed to load."""


class EdgeRuntime:
    """Owns the inference thread pool, the loaded models and their batchers."""

    def __init__(
        self,
        config: EdgeModelsConfig,
        on_batch: Callable[[str, int], None] | None = None,
        loader: Callable[[EdgeModelsConfig], EdgeRegistry] = load_models,
    ) -> None:
        self._config = config  # also each batcher's BatchPolicy
        self._loader = loader
        self._executor = ThreadPoolExecutor(
            config.inference_threads, thread_name_prefix="edge-infer"
        )
        # Batches run here while their model sheds. Under overload the loop's work (reading
        # requests, shedding, cache hits, health checks) is small and urgent and inference is
        # bulk: sharing a core at equal priority, the loop fell behind (lag p99 100 ms with the
        # edge on one core at 2x capacity; 2-5 ms niced) and every answer waited for it.
        # Calm, batches keep equal priority: a niced model loses throughput to any other load.
        self._overload_executor = ThreadPoolExecutor(
            config.inference_threads,
            thread_name_prefix="edge-infer-overload",
            initializer=yield_to_the_event_loop,
            initargs=(config.inference_nice,),
        )
        self._on_batch = on_batch
        self._registry: EdgeRegistry | None = None
        self._batchers: dict[str, MicroBatcher] = {}
        self._load_task: asyncio.Task[None] | None = None
        self.load_error: BaseException | None = None

    @property
    def ready(self) -> bool:
        """True once every model is loaded and warm."""
        return self._registry is not None

    @property
    def registry(self) -> EdgeRegistry:
        """The loaded models; NotReady until then."""
        if self._registry is None:
            raise NotReady(self._not_ready_reason())
        return self._registry

    def start(self) -> None:
        """Begin loading models in the thread pool; serving starts at once."""
        self._load_task = asyncio.create_task(self._load())

    async def wait_ready(self) -> None:
        """Wait until loading finished; re-raise a load failure."""
        if self._load_task is not None:
            await asyncio.shield(self._load_task)
        if self.load_error is not None:
            raise NotReady(self._not_ready_reason())

    async def _load(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            registry = await loop.run_in_executor(self._executor, self._loader, self._config)
        except Exception as exc:
            log.exception("edge models failed to load")
            self.load_error = exc
            return
        for model in registry.models():
            batcher = MicroBatcher(
                model, self._executor, self._config, self._on_batch, self._overload_executor
            )
            batcher.start()
            self._batchers[model.spec.name] = batcher
        self._registry = registry
        log.info("edge models ready: %s", ", ".join(s.name for s in registry.specs()))

    def _not_ready_reason(self) -> str:
        if self.load_error is not None:
            return f"edge models failed to load: {self.load_error}"
        return "edge models are loading"

    async def run(self, model_name: str, item: EdgeInput) -> dict[str, Any]:
        """Run one item on the named model through its micro-batcher."""
        self.registry.by_name(model_name)
        return await self._batchers[model_name].submit(item)

    async def run_many(self, model_name: str, items: list[EdgeInput]) -> list[Outcome]:
        """Admit one request and run all its items on the named model as one unit.

        Raises QueueFull when the model sheds the request; a failing item's exception is
        returned in its place, so the caller can name the bad input.
        """
        self.registry.by_name(model_name)
        batcher = self._batchers[model_name]
        batcher.admit()
        return await batcher.submit_many(items)

    def describe(self) -> dict[str, Any]:
        """Which model files serve and each model's admission state, for /readyz."""
        if self._registry is None:
            return {}
        admission = {
            name: {
                "queue_delay_budget_ms": round(b.admission.budget_s * 1000, 2),
                "unloaded_ms": None
                if b.admission.baseline_s is None
                else round(b.admission.baseline_s * 1000, 2),
            }
            for name, b in self._batchers.items()
        }
        return {**self._registry.info, "admission": admission}

    @property
    def workers_per_model(self) -> int:
        """Batches each model runs at once."""
        return self._config.workers_per_model

    def admit(self, model_name: str) -> None:
        """Admission control for one request on a model (QueueFull when overloaded)."""
        self.registry.by_name(model_name)
        self._batchers[model_name].admit()

    def shed_if_overloaded(self, model_name: str) -> None:
        """QueueFull if `model_name` is a loaded model that is shedding and would shed this too."""
        batcher = self._batchers.get(model_name)
        if batcher is not None and batcher.admission.overloaded():
            batcher.admit()

    def queue_depths(self) -> dict[str, int]:
        """Items waiting or running, per model."""
        return {name: b.depth for name, b in self._batchers.items()}

    def specs(self) -> list[ModelSpec]:
        """Specs of loaded models (empty while loading)."""
        return self._registry.specs() if self._registry is not None else []

    async def close(self) -> None:
        """Stop batchers and the thread pool."""
        if self._load_task is not None and not self._load_task.done():
            self._load_task.cancel()
        for batcher in self._batchers.values():
            await batcher.stop()
        self._executor.shutdown(wait=False, cancel_futures=True)
        self._overload_executor.shutdown(wait=False, cancel_futures=True)
