"""The edge node's aiohttp app factory; resources live in `cleanup_ctx`, torn down in reverse."""

import asyncio
import logging
from collections.abc import AsyncIterator, Callable

from aiohttp import web

from central_client.breaker import BreakerState
from central_client.factory import central_client
from common.errors import make_error_middleware
from common.http import request_id_of
from edge_models.registry import EdgeModelsConfig, EdgeRegistry, load_models
from edge_models.runtime import EdgeRuntime
from router import api_chat, api_openai, api_v3, calllog, openapi, ops
from router.auth import AccessControl, make_auth_middleware
from router.cache import EdgeCache, ResponseCache
from router.cache_backends import RedisCache
from router.fetch import open_image_fetcher
from router.grpc_server import grpc_ctx
from router.keys import ACCESS, CACHE, DRAINING, EDGE, METRICS, PIPELINE, SETTINGS
from router.latency import LatencyEstimator
from router.limits import install as install_limits
from router.limits import server_handler_args
from router.metrics import EdgeMetrics
from router.pipeline import Pipeline
from router.policy import PolicyChain
from router.privacy import CustomPattern, Redactor
from router.semantic_cache import SemanticCache, runtime_embed
from router.settings import Settings

log = logging.getLogger(__name__)

BREAKER_LEVELS = {BreakerState.CLOSED: 0, BreakerState.HALF_OPEN: 1, BreakerState.OPEN: 2}


def edge_models_ctx(
    loader: Callable[[EdgeModelsConfig], EdgeRegistry],
) -> Callable[[web.Application], AsyncIterator[None]]:
    """Load edge models in the background; stop batchers and threads at shutdown."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        settings = app[SETTINGS]
        metrics = app[METRICS]
        runtime = EdgeRuntime(
            settings.models.edge_config(),
            settings.models.batch_policy(),
            threads=settings.models.inference_threads,
            on_batch=lambda model, size: metrics.batch_size.labels(model).observe(size),
            loader=loader,
        )
        app[EDGE] = runtime
        runtime.start()
        yield
        await runtime.close()

    return ctx


async def pipeline_ctx(app: web.Application) -> AsyncIterator[None]:
    """The central client (pool warmed, closed last) and the routing pipeline over both paths."""
    settings = app[SETTINGS]
    metrics = app[METRICS]
    async with (
        open_image_fetcher(
            max_bytes=settings.server.max_body_bytes, timeout_s=settings.server.fetch_timeout_s
        ) as fetcher,
        central_client(
            settings.central,
            on_breaker_change=lambda old, new: metrics.central_breaker_state.set(
                BREAKER_LEVELS[new]
            ),
            on_attempt=lambda outcome: metrics.central_attempts.labels(outcome).inc(),
            on_quota_degraded=lambda degraded: metrics.central_quota_degraded.set(int(degraded)),
        ) as client,
    ):
        pipeline = Pipeline(
            app[EDGE],
            client,
            PolicyChain.from_names(settings.routing.policies),
            metrics,
            routing=settings.routing.config(),
            redactor=Redactor(
                [CustomPattern(p.name, p.regex) for p in settings.privacy.custom_patterns]
            ),
            estimator=LatencyEstimator(settings.routing.latency_window),
            cache=app[CACHE],
            fetcher=fetcher,
        )
        app[PIPELINE] = pipeline
        probe = None
        if settings.routing.warmup_probe:
            probe = asyncio.create_task(pipeline.warm_up_probe())
        yield
        if probe is not None and not probe.done():
            probe.cancel()


async def cache_ctx(app: web.Application) -> AsyncIterator[None]:
    """The exact (memory or Redis) and semantic response caches."""
    config = app[SETTINGS].cache
    metrics = app[METRICS]

    def event(backend: str, outcome: str) -> None:
        metrics.cache_events.labels(backend, outcome).inc()

    if not config.enabled:
        app[CACHE] = None
        yield
        return
    backend = config.build_backend(on_bypass=lambda reason: event(config.backend, "bypass"))
    semantic = SemanticCache(
        runtime_embed(app[EDGE]),
        config.semantic_threshold,
        config.semantic_max_entries,
        config.semantic_ttl_s,
        on_event=event,
    )
    app[CACHE] = EdgeCache(
        ResponseCache(backend, config.ttl_s, event, config.max_value_bytes),
        config.salt_bytes(),
        semantic,
    )
    yield
    if isinstance(backend, RedisCache):
        await backend.close()


def create_app(
    settings: Settings,
    edge_loader: Callable[[EdgeModelsConfig], EdgeRegistry] = load_models,
    grpc_port: int = 0,
    grpc_host: str = "127.0.0.1",
) -> web.Application:
    """Build the edge node; nothing is loaded until the app starts."""
    access = AccessControl.from_settings(settings.access)
    limits = settings.server.limits()
    app = web.Application(
        client_max_size=settings.server.max_body_bytes,
        middlewares=[make_error_middleware(request_id_of), make_auth_middleware(access)],
        handler_args=server_handler_args(limits),
    )
    install_limits(app, limits)
    app[SETTINGS] = settings
    app[ACCESS] = access
    app[DRAINING] = asyncio.Event()
    app[METRICS] = EdgeMetrics.create()
    app.cleanup_ctx.append(edge_models_ctx(edge_loader))
    app.cleanup_ctx.append(cache_ctx)
    app.cleanup_ctx.append(pipeline_ctx)
    if grpc_port:
        app.cleanup_ctx.append(grpc_ctx(grpc_port, grpc_host))
    app.router.add_post("/v3/models/{model}/generate", api_v3.generate)
    app.router.add_post("/v1/embeddings", api_openai.embeddings)
    app.router.add_get("/v1/models", api_openai.models)
    app.router.add_post("/v1/route", api_v3.route)
    api_chat.register(app)
    openapi.register(app)
    calllog.register(app, settings.call_log)
    app.router.add_get("/healthz", ops.healthz)
    app.router.add_get("/readyz", ops.readyz)
    app.router.add_get("/metrics", ops.metrics)
    return app
