"""OpenAI-compatible `POST /v1/chat/completions` on the edge, with SSE streaming.

The request becomes one `generate` Job and goes through the same pipeline as `/v3`.
Streaming asks `pipeline.decide` first (a rejection is a JSON error), then relays the
central's events as OpenAI chunks. An upstream error before the first piece is a JSON
error; one after it is reported in-band (`data: {"error": ...}`) before `[DONE]`. When the
client goes away the upstream generator is closed, which closes the central's response and
stops its generation.
"""

import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from common.errors import REQUEST_ID_HEADER, ApiError, BadRequest, NotFound
from common.http import read_json, request_id_of
from router.api_v3 import deadline_of
from router.auth import ANONYMOUS, PRINCIPAL, TASK_ACTIONS
from router.jobs import Job, JobInput, JobParams, decode_base64
from router.keys import ACCESS, METRICS, PIPELINE, SETTINGS
from router.observe import run_job
from router.pipeline import Pipeline, Result

CHAT_PATH = "/v1/chat/completions"
ROLES = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant"}


class ImageUrl(BaseModel):
    """An image part's URL: http(s) or a `data:` URL with base64 content."""

    model_config = ConfigDict(extra="ignore")

    url: str = Field(min_length=1, max_length=20_000_000)
    detail: str | None = None


class ContentPart(BaseModel):
    """One part of a message's content: text or an image."""

    model_config = ConfigDict(extra="ignore")

    type: Literal["text", "image_url"]
    text: str | None = Field(None, max_length=1_000_000)
    image_url: ImageUrl | None = None


class ChatTurn(BaseModel):
    """One message of the conversation."""

    model_config = ConfigDict(extra="ignore")

    role: Literal["system", "developer", "user", "assistant"]
    content: str | list[ContentPart] | None = None
    name: str | None = None


class StreamOptions(BaseModel):
    """OpenAI's `stream_options`."""

    model_config = ConfigDict(extra="ignore")

    include_usage: bool = False


class ChatCompletionRequest(BaseModel):
    """OpenAI's chat completion body (the fields this router honours; others are ignored)."""

    model_config = ConfigDict(extra="ignore", allow_inf_nan=False)

    model: str = "auto"
    messages: list[ChatTurn] = Field(min_length=1, max_length=256)
    stream: bool = False
    stream_options: StreamOptions | None = None
    max_tokens: int | None = Field(None, ge=1, le=4096)
    max_completion_tokens: int | None = Field(None, ge=1, le=4096)
    temperature: float = Field(0.7, ge=0.0, le=2.0)
    top_p: float = Field(0.95, gt=0.0, le=1.0)
    n: int = Field(1, ge=1, le=1, description="only 1 is supported")
    stop: str | list[str] | None = Field(None, description="accepted and ignored")
    user: str | None = None
    route: Literal["auto", "edge", "central"] = Field("auto", description="router extension")
    latency_budget_ms: float | None = Field(None, gt=0, le=600_000, description="router extension")


def split_content(turn: ChatTurn, index: int) -> tuple[str, list[str]]:
    """A message's text and its image URLs."""
    if turn.content is None or isinstance(turn.content, str):
        return turn.content or "", []
    texts: list[str] = []
    images: list[str] = []
    for part in turn.content:
        if part.type == "text":
            texts.append(part.text or "")
        elif part.image_url is None:
            raise BadRequest(f"messages[{index}]: image_url part without a url", "missing_image")
        else:
            images.append(part.image_url.url)
    return "\n".join(texts), images


def chat_input(body: ChatCompletionRequest, max_text_chars: int) -> JobInput:
    """The conversation as one generate input; an image part goes to image / image_url."""
    messages: list[tuple[str, str]] = []
    images: list[str] = []
    for index, turn in enumerate(body.messages):
        text, urls = split_content(turn, index)
        if urls and turn.role != "user":
            raise BadRequest(f"messages[{index}]: only user messages may hold images", "image_role")
        images.extend(urls)
        messages.append((ROLES[turn.role], text))
    if len(messages) >= 2 and messages[-1][0] == messages[-2][0] == "assistant":
        raise BadRequest(
            "the conversation may end with at most one assistant message (a prefill)",
            "trailing_assistant_messages",
        )
    if len(images) > 1:
        raise BadRequest("at most one image per conversation", "too_many_images")
    if sum(len(content) for _, content in messages) > max_text_chars:
        raise BadRequest(f"messages are over {max_text_chars} characters", "text_too_long")
    if not images:
        return JobInput(messages=tuple(messages))
    prompt = next((c for role, c in reversed(messages) if role == "user" and c), None)
    url = images[0]
    if url.startswith("data:"):
        return JobInput(text=prompt, image=decode_base64(url, "image", 0), messages=tuple(messages))
    if not url.startswith(("http://", "https://")):
        raise BadRequest("image_url must be http(s) or a data: URL", "invalid_image_url")
    return JobInput(text=prompt, image_url=url, messages=tuple(messages))


def chat_job(request: web.Request, body: ChatCompletionRequest) -> Job:
    """Validate the model name and build the generate job."""
    settings = request.app[SETTINGS]
    if body.model not in ("auto", settings.central.model):
        known = ["auto", settings.central.model]
        raise NotFound(f"unknown chat model {body.model!r}; available: {known}", "unknown_model")
    max_tokens = body.max_completion_tokens or body.max_tokens or JobParams.max_tokens
    request.app[ACCESS].authorize(request, TASK_ACTIONS["generate"], f"model/{body.model}")
    return Job(
        request_id=request_id_of(request),
        model=body.model,
        task="generate",
        inputs=(chat_input(body, settings.server.max_text_chars),),
        params=JobParams(
            max_tokens=max_tokens,
            temperature=body.temperature,
            top_p=body.top_p,
            route=body.route,
            stream=body.stream,
        ),
        tenant=request.get(PRINCIPAL, ANONYMOUS),
        deadline=deadline_of(request, body.latency_budget_ms, time.monotonic()),
    )


def usage_of(raw: dict[str, Any]) -> dict[str, int]:
    """OpenAI's usage object from the central's token counts."""
    prompt = int(raw.get("prompt_tokens", 0))
    completion = int(raw.get("completion_tokens", 0))
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def completion_body(completion_id: str, result: Result) -> dict[str, Any]:
    """The non-streaming response."""
    output = result.outputs[0] if result.outputs else {}
    content = output.get("text")
    if content is None:
        content = output.get("image_url") or output.get("image_base64") or ""
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": result.model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": output.get("finish_reason") or "stop",
                "logprobs": None,
            }
        ],
        "usage": usage_of(result.usage),
    }


class ChunkWriter:
    """Writes OpenAI `chat.completion.chunk` events for one completion."""

    def __init__(self, response: web.StreamResponse, completion_id: str, model: str) -> None:
        self._response = response
        self._id = completion_id
        self._model = model
        self._created = int(time.time())

    async def event(self, data: dict[str, Any] | str) -> None:
        """One `data:` line (a dict as JSON)."""
        text = data if isinstance(data, str) else json.dumps(data)
        await self._response.write(f"data: {text}\n\n".encode())

    async def chunk(
        self,
        delta: dict[str, Any],
        finish_reason: str | None = None,
        usage: dict[str, int] | None = None,
    ) -> None:
        """A chunk with one choice (or none, for the trailing usage chunk)."""
        choices = (
            []
            if usage is not None
            else [{"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": None}]
        )
        body: dict[str, Any] = {
            "id": self._id,
            "object": "chat.completion.chunk",
            "created": self._created,
            "model": self._model,
            "choices": choices,
        }
        if usage is not None:
            body["usage"] = usage
        await self.event(body)


def error_event(error: ApiError, request_id: str) -> dict[str, Any]:
    """An in-band error, in the same shape as a JSON error response."""
    return {
        "error": {
            "type": error.type,
            "code": error.code,
            "message": error.message,
            "request_id": request_id,
            "status": error.status,
        }
    }


async def relay(
    writer: ChunkWriter,
    first: dict[str, Any],
    events: AsyncIterator[dict[str, Any]],
    include_usage: bool,
    request_id: str,
) -> None:
    """Turn the central's events into chunks until its final event, an error, or the end."""
    finish = "stop"
    usage: dict[str, int] = {}
    event: dict[str, Any] | None = first
    try:
        while event is not None:
            if "error" in event:
                upstream = event["error"] if isinstance(event["error"], dict) else {}
                await writer.event({"error": {**upstream, "request_id": request_id}})
                return
            if event.get("text"):
                await writer.chunk({"content": event["text"]})
            if event.get("finish_reason"):
                finish = str(event["finish_reason"])
                usage = usage_of(event.get("usage") or {})
            event = await anext(events, None)
    except ApiError as exc:
        await writer.event(error_event(exc, request_id))
        return
    await writer.chunk({}, finish)
    if include_usage:
        await writer.chunk({}, usage=usage)


async def stream_completion(
    request: web.Request, job: Job, body: ChatCompletionRequest
) -> web.StreamResponse:
    """Decide, open the central's stream, then relay it as server-sent events."""
    pipeline: Pipeline = request.app[PIPELINE]
    events, decision = await pipeline.open_stream(job)
    try:
        first = await anext(events, None)  # errors before any output are plain JSON errors
    except BaseException:
        await events.aclose()
        raise
    if first is None:
        first = {}
    completion_id = f"chatcmpl-{uuid.uuid4().hex}"
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-cache",
            "X-Route": "central",
            "X-Route-Reason": decision.reason,
            REQUEST_ID_HEADER: job.request_id,
        }
    )
    try:
        await response.prepare(request)
        writer = ChunkWriter(response, completion_id, body.model)
        await writer.chunk({"role": "assistant", "content": ""})
        include_usage = body.stream_options is not None and body.stream_options.include_usage
        await relay(writer, first, events, include_usage, job.request_id)
        await writer.event("[DONE]")
        await response.write_eof()
    except ConnectionResetError:
        pass  # the client left; closing `events` below stops the central's generation
    finally:
        await events.aclose()
    return response


async def chat_completions(request: web.Request) -> web.StreamResponse:
    """`POST /v1/chat/completions`: route one conversation; stream it when asked."""
    body = await read_json(request, ChatCompletionRequest)
    job = chat_job(request, body)
    if not body.stream:
        result = await run_job(request, job)
        return web.json_response(
            completion_body(f"chatcmpl-{uuid.uuid4().hex}", result),
            headers={"X-Route": result.route, "X-Route-Reason": result.reason},
        )
    started = time.monotonic()
    metrics = request.app[METRICS]
    status = "500"
    try:
        response = await stream_completion(request, job, body)
        status = str(response.status)
        return response
    except ApiError as exc:
        status = str(exc.status)
        raise
    finally:
        metrics.requests.labels("central", job.task, status).inc()
        if status == "200":
            metrics.latency.labels("central", job.task).observe(time.monotonic() - started)


def register(app: web.Application) -> None:
    """Add `POST /v1/chat/completions` to the edge app."""
    app.router.add_post(CHAT_PATH, chat_completions)
