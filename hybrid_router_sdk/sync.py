"""A blocking client: the async client on its own event loop in a background thread."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Iterator, Sequence
from types import TracebackType
from typing import Any, TypeVar

from hybrid_router_sdk.client import DEFAULT_ENDPOINT, DEFAULT_TIMEOUT_S, Message, MultimodalClient
from hybrid_router_sdk.types import GenerateResponse, Label, Segment

T = TypeVar("T")


class SyncMultimodalClient:
    """The same methods as MultimodalClient, blocking; use it as `with SyncMultimodalClient():`."""

    def __init__(
        self,
        api_key: str | None = None,
        endpoint: str = DEFAULT_ENDPOINT,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        max_retries: int = 3,
        **options: Any,
    ) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="hybrid-router-sdk", daemon=True
        )
        self._thread.start()
        self._client = MultimodalClient(api_key, endpoint, timeout_s, max_retries, **options)

    def __enter__(self) -> SyncMultimodalClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the session, stop the loop and join its thread."""
        if self._loop.is_closed():
            return
        self._run(self._client.close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run a coroutine on the client's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    def generate(self, text: str | None = None, **options: Any) -> GenerateResponse:
        """See MultimodalClient.generate."""
        return self._run(self._client.generate(text, **options))

    def embed(self, texts: str | Sequence[str], **options: Any) -> list[list[float]]:
        """See MultimodalClient.embed."""
        return self._run(self._client.embed(texts, **options))

    def classify(self, text: str, labels: Sequence[str], **options: Any) -> list[Label]:
        """See MultimodalClient.classify."""
        return self._run(self._client.classify(text, labels, **options))

    def classify_image(self, image: bytes, **options: Any) -> list[Label]:
        """See MultimodalClient.classify_image."""
        return self._run(self._client.classify_image(image, **options))

    def detect_speech(self, wav: bytes, **options: Any) -> list[Segment]:
        """See MultimodalClient.detect_speech."""
        return self._run(self._client.detect_speech(wav, **options))

    def embed_many(self, texts: Sequence[str], **options: Any) -> list[list[float]]:
        """See MultimodalClient.embed_many."""
        return self._run(self._client.embed_many(texts, **options))

    def generate_many(self, texts: Sequence[str], **options: Any) -> list[GenerateResponse]:
        """See MultimodalClient.generate_many."""
        return self._run(self._client.generate_many(texts, **options))

    def stream(
        self, text: str | None = None, *, messages: Sequence[Message] | None = None, **options: Any
    ) -> Iterator[str]:
        """See MultimodalClient.stream; pieces arrive as the router sends them."""
        pieces = self._client.stream(text, messages=messages, **options)
        try:
            while True:
                try:
                    yield self._run(anext(pieces))
                except StopAsyncIteration:
                    return
        finally:
            self._run(pieces.aclose())
