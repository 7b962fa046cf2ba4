"""The central model service (`hybrid-router central`): the `/v3` API over a real LLM."""

import asyncio
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)

from central_client.providers import OpenAICompatibleProvider, ProviderConfig
from central_service import api_audio
from central_service.auth import CentralAuth
from central_service.llm import Completion, GenerationParams, LlmEngine, LlmError, PromptTooLong
from central_service.settings import CentralServiceSettings
from common.access_log import CALLER, make_access_log_middleware
from common.errors import (
    ApiError,
    BadRequest,
    NotFound,
    Unavailable,
    make_error_middleware,
)
from common.http import json_response, read_json, request_id_of
from common.schema import GenerateRequest, InputItem, Parameters, infer_task
from common.secrets import read_secret

log = logging.getLogger(__name__)

SETTINGS = web.AppKey("central_settings", CentralServiceSettings)
ENGINE = web.AppKey("engine", LlmEngine)
PROVIDER = web.AppKey("provider", OpenAICompatibleProvider)
AUTH = web.AppKey("auth", CentralAuth)
REGISTRY = web.AppKey("registry", CollectorRegistry)
REQUESTS = web.AppKey("requests", Counter)
LATENCY = web.AppKey("latency", Histogram)
FAULTS = web.AppKey("faults", dict)

CENTRAL_TASKS = ("generate", "embed", "classify")
PUBLIC_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})


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


async def apply_faults(app: web.Application) -> None:
    """Test hook (off unless enabled): delay or fail requests on purpose."""
    faults = app[FAULTS]
    if faults.get("delay_ms"):
        await asyncio.sleep(faults["delay_ms"] / 1000)
    if faults.get("fail_status"):
        raise Unavailable("injected fault", "injected_fault", retry_after_s=1)


async def set_faults(request: web.Request) -> web.Response:
    """`POST /admin/faults` `{"delay_ms": 300, "fail_status": 503}`; `{}` clears."""
    data = await request.json()
    request.app[FAULTS].clear()
    request.app[FAULTS].update({k: data[k] for k in ("delay_ms", "fail_status") if k in data})
    return web.json_response(request.app[FAULTS])


async def healthz(request: web.Request) -> web.Response:
    """Alive."""
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """Ready when the LLM is loaded (it loads before the server accepts connections)."""
    app = request.app
    return web.json_response(
        {
            "status": "ready",
            "model": app[SETTINGS].model_name,
            "tasks": [*CENTRAL_TASKS, *api_audio.transcribe_tasks(app)],
            "image_provider": app[PROVIDER].configured,
        }
    )


async def models(request: web.Request) -> web.Response:
    """The models and tasks this central serves (the edge reads them for routing)."""
    settings = request.app[SETTINGS]
    tasks = [*CENTRAL_TASKS, *api_audio.transcribe_tasks(request.app)]
    return web.json_response(
        {
            "object": "list",
            "data": [
                {
                    "id": settings.model_name,
                    "object": "model",
                    "owned_by": "central",
                    "tasks": tasks,
                    "image_input": request.app[PROVIDER].configured,
                    "image_output": request.app[PROVIDER].configured,
                },
            ],
        }
    )


async def metrics(request: web.Request) -> web.Response:
    """Prometheus text exposition."""
    return web.Response(
        body=generate_latest(request.app[REGISTRY]), headers={"Content-Type": CONTENT_TYPE_LATEST}
    )


def auth_middleware() -> Callable[..., Awaitable[web.StreamResponse]]:
    """Verify the Bearer JWT and enforce the caller's quota, except on ops endpoints."""

    @web.middleware
    async def middleware(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if request.path in PUBLIC_PATHS:
            return await handler(request)
        auth = request.app[AUTH]
        claims = auth.authenticate(request.headers.get("Authorization"))
        request[CALLER] = claims.key_id  # for the access log; key ids are not secrets
        async with auth.admit(claims.key_id):
            response = await handler(request)
        request.app[REQUESTS].labels(str(response.status)).inc()
        return response

    return middleware


async def engine_ctx(app: web.Application) -> AsyncIterator[None]:
    """Load the LLM in a thread before serving; free it at shutdown."""
    settings = app[SETTINGS]
    loop = asyncio.get_running_loop()
    engine = await loop.run_in_executor(
        None,
        lambda: LlmEngine.load(
            settings.model_path,
            n_threads=settings.n_threads,
            n_ctx=settings.n_ctx,
            n_parallel=settings.n_parallel,
        ),
    )
    app[ENGINE] = engine
    log.info("central model %s loaded", engine.model_name())
    yield
    await loop.run_in_executor(None, engine.close)


async def provider_ctx(app: web.Application) -> AsyncIterator[None]:
    """The upstream provider's HTTP session."""
    provider = app[SETTINGS].provider
    config = None
    if provider.url:
        config = ProviderConfig(
            url=provider.url,
            api_key=read_secret(provider.api_key, provider.api_key_file),
            chat_model=provider.chat_model,
            image_model=provider.image_model,
            timeout_s=provider.timeout_s,
        )
    async with aiohttp.ClientSession() as session:
        app[PROVIDER] = OpenAICompatibleProvider(session, config)
        yield


def create_central_app(
    settings: CentralServiceSettings, enable_faults: bool = False
) -> web.Application:
    """Build the central service; the LLM loads on startup."""
    keys = settings.key_secrets()
    if not keys:
        raise ValueError(
            "the central service needs at least one key: set HYBRID_ROUTER_CENTRAL_SERVICE__KEYS "
            "(JSON {kid: secret}) or central_service.keys_file"
        )
    registry = CollectorRegistry()
    app = web.Application(
        client_max_size=settings.max_body_bytes,
        middlewares=[
            make_access_log_middleware(),
            make_error_middleware(request_id_of),
            auth_middleware(),
        ],
    )
    app[SETTINGS] = settings
    app[AUTH] = CentralAuth(keys, settings.audience, settings.leeway_s, settings.quota)
    app[REGISTRY] = registry
    app[REQUESTS] = Counter(
        "central_requests", "Authenticated requests", ["status"], registry=registry
    )
    app[LATENCY] = Histogram(
        "central_generate_latency_seconds", "Non-streamed generate latency", registry=registry
    )
    app[FAULTS] = {}
    app.cleanup_ctx.append(engine_ctx)
    app.cleanup_ctx.append(provider_ctx)
    api_audio.register(app, settings, registry)
    app.router.add_post("/v3/models/{model}/generate", generate)
    app.router.add_get("/v1/models", models)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    if enable_faults:
        app.router.add_post("/admin/faults", set_faults)
    return app
