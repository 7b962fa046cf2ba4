"""OpenAI-compatible `POST /v1/chat/completions` on the edge, with SSE streaming: a thin codec.

The request becomes one `generate` Job built by the one job builder and goes through the same
pipeline as `/v3`. Streaming opens the pipeline's stream first (a rejection is a JSON error),
then relays the central's events as OpenAI chunks. `tools`, `tool_choice` and
`response_format` are passed to a provider speaking the openai protocol, else refused (400).

An upstream error before the first piece is a JSON
error; one after it is reported in-band (`data: {"error": ...}`) before `[DONE]`. When the
client goes away the upstream generator is closed, which closes the central's response and
stops its generation.
"""

import time
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from central_client.settings import CentralClientSettings
from common.errors import REQUEST_ID_HEADER, ApiError, BadRequest
from common.http import dumps, json_response, read_json
from router.chat_request import ChatCompletionRequest, chat_input
from router.context import CallContext
from router.http_codec import context_of, route_headers
from router.jobs import Job, JobParams
from router.keys import BUILDER, PIPELINE, SETTINGS
from router.pipeline import Result
from router.responses import AssistantMessage, ChatChoice, ChatCompletion, ChatUsage, shape

CHAT_PATH = "/v1/chat/completions"


def speaks_openai(central: CentralClientSettings) -> bool:
    """Whether a configured central provider takes OpenAI's tools and response_format."""
    providers = getattr(central, "providers", None) or []
    if providers:
        return any(p.protocol != "v3" for p in providers)
    return central.protocol != "v3"


def chat_job(request: web.Request, ctx: CallContext, body: ChatCompletionRequest) -> Job:
    """Build the generate job; OpenAI extras only where a provider can honour them."""
    settings = request.app[SETTINGS]
    extras = body.passthrough()
    if extras and not speaks_openai(settings.central):
        names = ", ".join(sorted(k.removeprefix("chat_") for k in extras))
        raise BadRequest(
            f"{names}: the configured central protocol cannot honour these; configure a "
            "provider with protocol openai, or leave them out",
            "unsupported_parameter",
        )
    max_tokens = body.max_completion_tokens or body.max_tokens or JobParams.max_tokens
    params = JobParams(
        max_tokens=max_tokens,
        temperature=body.temperature,
        top_p=body.top_p,
        route=body.route,
        stream=body.stream,
        **extras,
    )
    inputs = (chat_input(body, settings.server.max_text_chars),)
    return request.app[BUILDER].for_task(ctx, body.model, "generate", inputs, params)


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
    tool_calls = output.get("tool_calls") or None  # from a provider that honoured `tools`
    if content is None and tool_calls is None:
        content = output.get("image_url") or output.get("image_base64") or ""
    usage = usage_of(result.usage)
    return shape(
        ChatCompletion,
        id=completion_id,
        created=int(time.time()),
        model=result.model,
        choices=[
            shape(
                ChatChoice,
                index=0,
                message=shape(AssistantMessage, content=content, tool_calls=tool_calls),
                finish_reason=output.get("finish_reason") or "stop",
            )
        ],
        usage=shape(ChatUsage, **usage),
    )


class ChunkWriter:
    """Writes OpenAI `chat.completion.chunk` events for one completion."""

    def __init__(self, response: web.StreamResponse, completion_id: str, model: str) -> None:
        self._response = response
        self._id = completion_id
        self._model = model
        self._created = int(time.time())

    async def event(self, data: dict[str, Any] | str) -> None:
        """One `data:` line (a dict as JSON)."""
        payload = data.encode() if isinstance(data, str) else dumps(data)
        await self._response.write(b"data: " + payload + b"\n\n")

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
    ctx: CallContext | None = None,
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
        if ctx is not None:
            ctx.trace.error_code = exc.code
        await writer.event(error_event(exc, request_id))
        return
    await writer.chunk({}, finish)
    if include_usage:
        await writer.chunk({}, usage=usage)


async def stream_completion(
    request: web.Request, ctx: CallContext, job: Job, body: ChatCompletionRequest
) -> web.StreamResponse:
    """Open the pipeline's stream, then relay it as server-sent events."""
    events, decision = await request.app[PIPELINE].open_stream(ctx, job)
    try:
        first = await anext(events, None)  # errors before any output are plain JSON errors
    except BaseException:
        await events.aclose()
        raise
    if first is None:
        first = {}
    completion_id = f"chatcmpl-{job.request_id}"
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-cache",
            "X-Route": "central",
            # the decision's reason, with the provider that answers (known from the first event)
            "X-Route-Reason": ctx.trace.reason or decision.reason,
            REQUEST_ID_HEADER: job.request_id,
        }
    )
    try:
        await response.prepare(request)
        writer = ChunkWriter(response, completion_id, body.model)
        await writer.chunk({"role": "assistant", "content": ""})
        include_usage = body.stream_options is not None and body.stream_options.include_usage
        await relay(writer, first, events, include_usage, job.request_id, ctx)
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
    ctx = context_of(request, "sse" if body.stream else "openai", body.latency_budget_ms)
    ctx.trace.task, ctx.trace.model = "generate", body.model
    job = chat_job(request, ctx, body)
    if body.stream:
        return await stream_completion(request, ctx, job, body)
    result = await request.app[PIPELINE].handle(ctx, job)
    return json_response(
        completion_body(f"chatcmpl-{ctx.request_id}", result), headers=route_headers(result)
    )


def register(app: web.Application) -> None:
    """Add `POST /v1/chat/completions` to the edge app."""
    app.router.add_post(CHAT_PATH, chat_completions)
