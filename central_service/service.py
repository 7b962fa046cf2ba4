"""The central model service app (`hybrid-router central`): middleware, lifecycle, routes."""

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp
from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Histogram

from central_client.providers import OpenAICompatibleProvider, ProviderConfig
from central_service import api_audio, ops
from central_service.auth import CentralAuth
from central_service.faults import set_faults
from central_service.generate import generate
from central_service.keys import (
    AUTH,
    ENGINE,
    FAULTS,
    LATENCY,
    PROVIDER,
    REGISTRY,
    REQUESTS,
    SETTINGS,
)
from central_service.llm import LlmEngine
from central_service.settings import CentralServiceSettings
from common.access_log import CALLER, make_access_log_middleware
from common.content_encoding import RAW_BODY_HANDLER_ARGS
from common.errors import make_error_middleware
from common.http import request_id_of
from common.secrets import read_secret

log = logging.getLogger(__name__)

PUBLIC_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})


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
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as session:
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
        handler_args=RAW_BODY_HANDLER_ARGS,
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
    app.router.add_get("/v1/models", ops.models)
    app.router.add_get("/healthz", ops.healthz)
    app.router.add_get("/readyz", ops.readyz)
    app.router.add_get("/metrics", ops.metrics)
    if enable_faults:
        app.router.add_post("/admin/faults", set_faults)
    return app
