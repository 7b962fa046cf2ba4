"""The central's `POST /v3/models/{model}/generate`: one input or a batch, or one streamed."""

import asyncio
import json
import time
import uuid
from typing import Any

from aiohttp import web

from central_service import api_audio
from central_service.faults import apply_faults
from central_service.keys import ENGINE, LATENCY, PROVIDER, SETTINGS
from central_service.llm_types import Completion, GenerationParams, LlmError, PromptTooLong
from common.errors import ApiError, BadRequest, NotFound, Unavailable
from common.http import json_response, read_json
from common.schema import GenerateRequest, InputItem, Parameters, infer_task

CENTRAL_TASKS = ("generate", "embed", "classify")


def generation_params(params: Parameters) -> GenerationParams:
    """The LLM's sampling settings from request parameters."""
    return GenerationParams(
        max_tokens=params.max_tokens, temperature=params.temperature, top_p=params.top_p
    )


def chat_messages(item: InputItem) -> list[dict[str, str]]:
    """The conversation to answer: explicit messages, or the text as one user turn."""
    if item.messages:
        if len(item.messages) >= 2 and item.messages[-1].role == item.messages[-2].role == (
            "assistant"
        ):
            raise BadRequest(
                "a conversation cannot end with two assistant turns", "trailing_assistant_messages"
            )
        return [{"role": m.role, "content": m.content} for m in item.messages]
    if not item.text or not item.text.strip():
        raise BadRequest("generate needs `text` or `messages`", "missing_text")
    return [{"role": "user", "content": item.text}]


def completion_output(completion: Completion) -> tuple[dict[str, Any], dict[str, int]]:
    """A text output and its usage."""
    return (
        {"text": completion.text, "finish_reason": completion.finish_reason},
        {
            "prompt_tokens": completion.prompt_tokens,
            "completion_tokens": completion.completion_tokens,
        },
    )


async def run_item(
    app: web.Application, item: InputItem, params: Parameters
) -> tuple[dict[str, Any], dict[str, int]]:
    """Answer one input with the LLM or the image provider."""
    engine = app[ENGINE]
    task = infer_task(item, params)
    try:
        if task == "generate":
            image = item.image_url or (
                f"data:image/png;base64,{item.image}" if item.image is not None else None
            )
            if image is not None:
                text, usage = await app[PROVIDER].describe_image(
                    item.text or "Describe this image.",
                    image,
                    params.max_tokens,
                    params.temperature,
                )
                return {"text": text}, usage
            if item.modality == "image":
                return await app[PROVIDER].generate_image(
                    item.text or "", params.response_format
                ), {}
            return completion_output(
                await engine.chat(chat_messages(item), generation_params(params))
            )
        if task == "embed":
            if not item.text:
                raise BadRequest("embed needs `text`", "missing_text")
            vectors = await engine.embed([item.text])
            return {"embedding": vectors[0]}, {}
        if task == "transcribe":
            return await api_audio.transcribe_item(app, item), {}
        if task == "classify":
            if not item.text or not params.labels:
                raise BadRequest("classify needs `text` and `parameters.labels`", "missing_labels")
            scored = await engine.classify(item.text, params.labels)
            return {"labels": [{"label": label, "score": s} for label, s in scored]}, {}
    except PromptTooLong as exc:
        raise BadRequest(str(exc), "prompt_too_long") from None
    except LlmError as exc:
        raise Unavailable(f"model error: {exc}", "model_error", retry_after_s=1) from exc
    raise BadRequest(
        f"the central does not serve task {task!r}; it serves {CENTRAL_TASKS}", "unsupported_task"
    )


def error_output(error: ApiError) -> dict[str, Any]:
    """A failed item inside a batch answer."""
    return {
        "error": {
            "type": error.type,
            "code": error.code,
            "message": error.message,
            "status": error.status,
        }
    }


async def generate(request: web.Request) -> web.StreamResponse:
    """`POST /v3/models/{model}/generate`: one input, or a batch answered in order."""
    app = request.app
    settings = app[SETTINGS]
    model = request.match_info["model"]
    if model not in ("auto", settings.model_name):
        raise NotFound(
            f"unknown model {model!r}; available: ['{settings.model_name}']", "unknown_model"
        )
    body = await read_json(request, GenerateRequest)
    items = body.input_list()
    if not items:
        raise BadRequest("`inputs` must not be empty", "empty_inputs")
    if len(items) > settings.max_batch_inputs:
        raise BadRequest(f"at most {settings.max_batch_inputs} inputs", "too_many_inputs")
    await apply_faults(app)
    if body.parameters.stream:
        if isinstance(body.inputs, list):
            raise BadRequest("streaming takes exactly one input", "stream_batch")
        return await stream_generate(request, items[0], body.parameters)
    started = time.monotonic()
    if isinstance(body.inputs, list):
        results = await asyncio.gather(
            *(run_item(app, item, body.parameters) for item in items), return_exceptions=True
        )
        outputs: list[dict[str, Any]] = []
        usage = {"prompt_tokens": 0, "completion_tokens": 0}
        for result in results:
            if isinstance(result, ApiError):
                outputs.append(error_output(result))
            elif isinstance(result, BaseException):
                raise result
            else:
                outputs.append(result[0])
                for key in usage:
                    usage[key] += result[1].get(key, 0)
    else:
        output, usage = await run_item(app, items[0], body.parameters)
        outputs = [output]
    usage["total_tokens"] = usage.get("prompt_tokens", 0) + usage.get("completion_tokens", 0)
    app[LATENCY].observe(time.monotonic() - started)
    return json_response(
        {
            "id": f"gen-{uuid.uuid4().hex}",
            "model": settings.model_name,
            "route": "central",
            "outputs": outputs,
            "usage": usage,
        }
    )


async def stream_generate(
    request: web.Request, item: InputItem, params: Parameters
) -> web.StreamResponse:
    """Server-sent events: `data: {"text": ...}` per piece, a final chunk, then `[DONE]`."""
    engine = request.app[ENGINE]
    messages = chat_messages(item)
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-cache",
        }
    )
    await response.prepare(request)
    try:
        async for delta in engine.stream_chat(messages, generation_params(params)):
            event: dict[str, Any] = {"text": delta.text}
            if delta.finish_reason is not None and delta.usage is not None:
                event["finish_reason"] = delta.finish_reason
                event["usage"] = {
                    "prompt_tokens": delta.usage.prompt_tokens,
                    "completion_tokens": delta.usage.completion_tokens,
                }
            await response.write(f"data: {json.dumps(event)}\n\n".encode())
    except LlmError as exc:
        error = {"error": {"type": "model_error", "code": "model_error", "message": str(exc)}}
        await response.write(f"data: {json.dumps(error)}\n\n".encode())
    await response.write(b"data: [DONE]\n\n")
    await response.write_eof()
    return response
