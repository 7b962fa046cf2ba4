"""The engine's worker threads: xllamacpp's blocking calls run there, chunks stream to the loop.

Every generation streams through one path: xllamacpp's blocking call runs on a worker
thread and hands each chunk to the event loop with ``loop.call_soon_threadsafe``. When the
consumer stops (the async generator is closed or its task cancelled) a ``threading.Event``
is set and the chunk callback returns True, which tells xllamacpp to cancel the task.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

import xllamacpp

from central_service.llm_types import EngineClosed, LlmError, PromptTooLong

log = logging.getLogger(__name__)

Chunk = dict[str, Any]
T = TypeVar("T")


@dataclass(frozen=True)
class _Done:
    """End of a worker's stream, with the exception that ended it, if any."""

    error: BaseException | None = None


def raise_for_error(chunk: Chunk) -> None:
    """Raise the LlmError that an xllamacpp error chunk describes."""
    error = chunk.get("error")
    if error is None:
        return
    details = error if isinstance(error, dict) else {"message": str(error)}
    message = str(details.get("message", "unknown llama.cpp error"))
    if details.get("type") == "exceed_context_size_error":
        raise PromptTooLong(message)
    raise LlmError(message)


class WorkerThreads:
    """A pool of `workers` threads and the stop flag of every generation running on it."""

    def __init__(self, workers: int) -> None:
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="llm")
        self._active: set[threading.Event] = set()
        self._active_lock = threading.Lock()

    async def call(self, fn: Callable[[], T]) -> T:
        """Run one blocking call on a worker thread."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn)

    async def chunks(
        self, server: xllamacpp.Server, request: Chunk, closed: Callable[[], bool]
    ) -> AsyncIterator[Chunk]:
        """Stream the chat chunks for `request`; `closed()` says the engine closed meanwhile."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Chunk | _Done] = asyncio.Queue()
        stop = threading.Event()

        def post(item: Chunk | _Done) -> bool:
            """Hand an item to the loop; False when the loop is gone."""
            try:
                loop.call_soon_threadsafe(queue.put_nowait, item)
            except RuntimeError:
                return False
            return True

        def on_chunk(chunk: Chunk) -> bool:
            """xllamacpp's callback: True cancels the generation."""
            return stop.is_set() or not post(chunk)

        def work() -> None:
            """Run the blocking generation on a worker thread."""
            if stop.is_set():
                post(_Done())
                return
            try:
                server.handle_chat_completions({**request, "stream": True}, on_chunk)
            except Exception as exc:
                if not post(_Done(exc)):
                    log.warning("generation failed after its consumer left: %s", exc)
                return
            post(_Done())

        with self._active_lock:
            self._active.add(stop)
        future = loop.run_in_executor(self._executor, work)
        try:
            while True:
                item = await queue.get()
                if isinstance(item, _Done):
                    if closed():
                        raise EngineClosed("the LLM engine was closed during generation")
                    if item.error is not None:
                        raise LlmError(f"generation failed: {item.error}") from item.error
                    return
                raise_for_error(item)
                yield item
        finally:
            stop.set()
            future.cancel()
            with self._active_lock:
                self._active.discard(stop)

    def close(self) -> None:
        """Stop running generations and wait for the workers."""
        with self._active_lock:
            for stop in self._active:
                stop.set()
        self._executor.shutdown(wait=True, cancel_futures=True)
