"""The async client: one method per task, over the router's `/v3` and `/v1` HTTP APIs."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from types import TracebackType
from typing import Any, Literal, TypeVar

import aiohttp

from hybrid_router_sdk.errors import (
    ConnectionFailed,
    HybridRouterError,
    error_from_payload,
    error_from_response,
)
from hybrid_router_sdk.retry import RETRY_STATUSES, RetryPolicy, parse_retry_after
from hybrid_router_sdk.types import GenerateResponse, Label, Segment, Timeouts

DEFAULT_ENDPOINT = "http://127.0.0.1:8080"
DEFAULT_TIMEOUT_S = 60.0
Message = Mapping[str, Any]
T = TypeVar("T")


class MultimodalClient:
    """Talks to a hybrid-router edge node; use it as `async with MultimodalClient() as c:`."""

    def __init__(
        self,
        api_key: str | None = None,
        endpoint: str = DEFAULT_ENDPOINT,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        max_retries: int = 3,
        *,
        retry: RetryPolicy | None = None,
        session: aiohttp.ClientSession | None = None,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self._endpoint = endpoint.rstrip("/")
        self._timeouts = Timeouts(total_s=timeout_s, connect_s=min(5.0, timeout_s))
        self._retry = retry or RetryPolicy(max_retries=max_retries)
        self._sleep = sleep
        self._headers = {"Accept": "application/json", **(headers or {})}
        if api_key:
            self._headers["Authorization"] = f"Bearer {api_key}"
        self._session = session
        self._owns_session = session is None

    # --- lifecycle ----------------------------------------------------------------------------

    async def __aenter__(self) -> MultimodalClient:
        self._http()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the HTTP session (when the client created it)."""
        if self._session is not None and self._owns_session:
            await self._session.close()
            self._session = None

    def _http(self) -> aiohttp.ClientSession:
        """The session, created on the running loop the first time it is needed."""
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(
                    total=self._timeouts.total_s, connect=self._timeouts.connect_s
                )
            )
            self._owns_session = True
        return self._session

    # --- tasks --------------------------------------------------------------------------------

    async def generate(
        self,
        text: str | None = None,
        *,
        modality: Literal["text", "image"] = "text",
        response_format: Literal["url", "base64"] = "url",
        model: str = "auto",
        max_tokens: int | None = None,
        temperature: float | None = None,
        top_p: float | None = None,
        messages: Sequence[Message] | None = None,
        image: bytes | None = None,
        image_url: str | None = None,
        route: Literal["auto", "edge", "central"] | None = None,
        latency_budget_ms: float | None = None,
    ) -> GenerateResponse:
        """Generate text (optionally about an image), or an image when modality="image"."""
        item: dict[str, Any] = {"task": "generate", "modality": modality}
        if text is not None:
            item["text"] = text
        if messages is not None:
            item["messages"] = [dict(m) for m in messages]
        if image is not None:
            item["image"] = base64.b64encode(image).decode()
        if image_url is not None:
            item["image_url"] = image_url
        parameters = _drop_none(
            max_tokens=max_tokens,
            temperature=temperature,
            top_p=top_p,
            route=route,
            latency_budget_ms=latency_budget_ms,
            response_format=response_format if modality == "image" else None,
        )
        body, headers = await self._v3(model, item, parameters)
        output = body["outputs"][0]
        return GenerateResponse(
            text=output.get("text"),
            image_url=output.get("image_url"),
            image_base64=output.get("image_base64"),
            route=str(body.get("route") or headers.get("X-Route", "")),
            route_reason=str(body.get("route_reason") or headers.get("X-Route-Reason", "")),
            model=str(body.get("model", "")),
            finish_reason=output.get("finish_reason"),
            usage=dict(body.get("usage") or {}),
            request_id=headers.get("X-Request-Id"),
            raw=body,
        )

    async def embed(self, texts: str | Sequence[str], *, model: str = "auto") -> list[list[float]]:
        """One vector per text, in order."""
        items = [texts] if isinstance(texts, str) else list(texts)
        if not items:
            return []
        body, _ = await self._v3(model, [{"text": t, "task": "embed"} for t in items], {})
        return [[float(x) for x in output["embedding"]] for output in body["outputs"]]

    async def classify(
        self, text: str, labels: Sequence[str], *, model: str = "auto"
    ) -> list[Label]:
        """Scores of `labels` for `text`, highest first."""
        body, _ = await self._v3(
            model, {"text": text, "task": "classify"}, {"labels": list(labels)}
        )
        return _labels(body["outputs"][0])

    async def classify_image(
        self, image: bytes, *, top_k: int = 5, model: str = "auto"
    ) -> list[Label]:
        """The image's top-k ImageNet labels."""
        item = {"image": base64.b64encode(image).decode(), "task": "classify_image"}
        body, _ = await self._v3(model, item, {"top_k": top_k})
        return _labels(body["outputs"][0])

    async def detect_speech(self, wav: bytes, *, model: str = "auto") -> list[Segment]:
        """Speech segments of a WAV recording."""
        item = {"audio": base64.b64encode(wav).decode(), "task": "detect_speech"}
        body, _ = await self._v3(model, item, {})
        return [
            Segment(float(s["start_s"]), float(s["end_s"])) for s in body["outputs"][0]["segments"]
        ]

    async def stream(
        self,
        text: str | None = None,
        *,
        messages: Sequence[Message] | None = None,
        model: str = "auto",
        max_tokens: int | None = None,
        temperature: float | None = None,
        top_p: float | None = None,
    ) -> AsyncIterator[str]:
        """The reply piece by piece, via `/v1/chat/completions` server-sent events."""
        if (text is None) == (messages is None):
            raise ValueError("pass exactly one of `text` or `messages`")
        turns = (
            [dict(m) for m in messages]
            if messages is not None
            else [{"role": "user", "content": text}]
        )
        payload = {
            "model": model,
            "messages": turns,
            "stream": True,
            **_drop_none(max_tokens=max_tokens, temperature=temperature, top_p=top_p),
        }
        response = await self._send("POST", "/v1/chat/completions", payload)
        try:
            async for raw in response.content:
                line = raw.decode("utf-8", "replace").strip()
                if not line.startswith("data:"):
                    continue
                data = line[5:].strip()
                if data == "[DONE]":
                    return
                event = json.loads(data)
                if "error" in event:
                    raise error_from_payload(event["error"], None)
                for choice in event.get("choices") or ():
                    piece = (choice.get("delta") or {}).get("content")
                    if piece:
                        yield piece
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise ConnectionFailed(f"stream broke: {exc.__class__.__name__}") from exc
        finally:
            response.close()

    # --- batches ------------------------------------------------------------------------------

    async def embed_many(
        self, texts: Sequence[str], *, batch_size: int = 32, concurrency: int = 4
    ) -> list[list[float]]:
        """Embed many texts in batches, at most `concurrency` requests at a time; in order."""
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        batches = [texts[i : i + batch_size] for i in range(0, len(texts), batch_size)]
        results = await bounded(concurrency, [lambda b=b: self.embed(b) for b in batches])
        return [vector for batch in results for vector in batch]

    async def generate_many(
        self, texts: Sequence[str], *, concurrency: int = 4, **options: Any
    ) -> list[GenerateResponse]:
        """`generate` for each text, at most `concurrency` at a time; in order."""
        return await bounded(concurrency, [lambda t=t: self.generate(t, **options) for t in texts])

    # --- HTTP ---------------------------------------------------------------------------------

    async def _v3(
        self, model: str, inputs: Any, parameters: dict[str, Any]
    ) -> tuple[dict[str, Any], Mapping[str, str]]:
        """POST the seed API; the JSON body and the headers."""
        payload = {"inputs": inputs, "parameters": parameters}
        response = await self._send("POST", f"/v3/models/{model}/generate", payload)
        try:
            body = await response.json()
        except (aiohttp.ClientError, ValueError, TimeoutError) as exc:
            raise ConnectionFailed(f"unreadable answer: {exc.__class__.__name__}") from exc
        finally:
            response.release()
        if not isinstance(body, dict) or not isinstance(body.get("outputs"), list):
            raise HybridRouterError("the router answered without `outputs`", body=body)
        return body, response.headers

    async def _send(
        self, method: str, path: str, payload: dict[str, Any]
    ) -> aiohttp.ClientResponse:
        """Send with retries on 429/503 and lost connections; a 200 response, unread."""
        retry = 0
        while True:
            try:
                response = await self._http().request(
                    method, self._endpoint + path, json=payload, headers=self._headers
                )
            except (aiohttp.ClientError, TimeoutError) as exc:
                error: HybridRouterError = ConnectionFailed(
                    f"could not reach {self._endpoint}: {exc.__class__.__name__}: {exc}"
                )
                cause: BaseException | None = exc
            else:
                if response.status < 400:
                    return response
                retry_after = parse_retry_after(response.headers.get("Retry-After"))
                try:
                    raw = await response.read()
                finally:
                    response.release()
                error = error_from_response(
                    response.status, raw, response.headers.get("X-Request-Id"), retry_after
                )
                cause = None
                if response.status not in RETRY_STATUSES:
                    raise error
            retry += 1
            if retry > self._retry.max_retries:
                raise error from cause
            await self._sleep(self._retry.delay(retry, error.retry_after_s))


async def bounded(concurrency: int, calls: Sequence[Callable[[], Awaitable[T]]]) -> list[T]:
    """Run the calls with at most `concurrency` in flight; results in order, first error raised."""
    if concurrency < 1:
        raise ValueError("concurrency must be >= 1")
    gate = asyncio.Semaphore(concurrency)

    async def one(call: Callable[[], Awaitable[T]]) -> T:
        async with gate:
            return await call()

    tasks = [asyncio.ensure_future(one(call)) for call in calls]
    try:
        return list(await asyncio.gather(*tasks))
    finally:
        for task in tasks:
            task.cancel()  # no-op for finished tasks; stops the rest after a failure


def _labels(output: Mapping[str, Any]) -> list[Label]:
    """Labels of one output."""
    return [Label(str(x["label"]), float(x["score"])) for x in output["labels"]]


def _drop_none(**values: Any) -> dict[str, Any]:
    """The keyword arguments that are not None."""
    return {k: v for k, v in values.items() if v is not None}
