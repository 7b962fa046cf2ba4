"""The edge node's aiohttp app factory; resources live in `cleanup_ctx`, torn down in reverse."""

import asyncio
import logging
from collections.abc import AsyncIterator, Callable

from aiohttp import web

from central_client.breaker import BreakerState
from central_client.config import Runtime
from central_client.factory import central_client
from common.errors import make_error_middleware
from common.http import request_id_of
from edge_models.registry import EdgeModelsConfig, EdgeRegistry, load_models
from edge_models.runtime import EdgeRuntime
from router import api_audio, api_chat, api_openai, api_v3, calllog_app, openapi, ops, status
from router.access_log import RecentRequests, make_access_log_middleware
from router.auth import AccessControl, make_auth_middleware
from router.cache import EdgeCache, ResponseCache
from router.cache_backends import RedisCache
from router.catalogue import Catalogue
from router.fetch import open_image_fetcher
from router.grpc_server import grpc_ctx
from router.job_builder import JobBuilder
from router.keys import (
    ACCESS,
    BUILDER,
    CACHE,
    DRAINING,
    EDGE,
    METRICS,
    PIPELINE,
    RECORDER,
    SETTINGS,
)
from router.latency import LatencyEstimator
from router.limits import install as install_limits
from router.limits import server_handler_args
from router.loop_lag import loop_lag_ctx
from router.metrics import EdgeMetrics, LabelCache
from router.pipeline import Pipeline, Stages
from router.policy import PolicyChain
from router.privacy import CustomPattern, Redactor
from router.privacy_stage import PrivacyStage
from router.recorder import Recorder, make_record_middleware
from router.semantic_cache import SemanticCache, runtime_embed
from router.semantic_guard import meaning_changed
from router.semantic_store import RedisStore
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
            settings.models,
            on_batch=lambda model, size: metrics.batch_size.labels(model).observe(size),
            loader=loader,
        )
        app[EDGE] = runtime
        runtime.start()
        yield
        await runtime.close()

    return ctx


def central_observers(metrics: EdgeMetrics) -> Runtime:
    """The central client's observers, feeding the edge's metrics (labelled by provider)."""

    child = LabelCache()

    def attempt(provider: str, outcome: str) -> None:
        child(metrics.central_attempts, outcome).inc()
        child(metrics.central_provider_attempts, provider, outcome).inc()

    def breaker(provider: str, old: BreakerState, new: BreakerState) -> None:
        child(metrics.central_provider_breaker, provider).set(BREAKER_LEVELS[new])
        metrics.central_breaker_state.set(BREAKER_LEVELS[new])

    return Runtime(
        on_attempt=attempt,
        on_breaker_change=breaker,
        on_answer=lambda provider, task: child(metrics.central_answers, provider, task).inc(),
    )


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
            central_observers(metrics),
            on_quota_degraded=lambda degraded: metrics.central_quota_degraded.set(int(degraded)),
        ) as client,
    ):
        routing = settings.routing
        redactor = Redactor(
            [CustomPattern(p.name, p.regex) for p in settings.privacy.custom_patterns],
            strict=settings.privacy.strict,
            phone_regions=settings.privacy.phone_regions,
        )
        pipeline = Pipeline(
            app[EDGE],
            client,
            PolicyChain.from_names(settings.routing.policies),
            routing,
            app[RECORDER],
            Stages(
                privacy=PrivacyStage(redactor, routing.privacy_mode),
                access=app[ACCESS],
                cache=app[CACHE],
                fetcher=fetcher,
            ),
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
    store = config.build_semantic_store(on_trouble=lambda reason: event("semantic", "error"))
    semantic = SemanticCache(
        runtime_embed(app[EDGE]),
        config.semantic_threshold,
        config.semantic_max_entries,
        config.semantic_ttl_s,
        on_event=event,
        store=store,
        verify=meaning_changed if config.semantic_verify else None,
    )
    app[CACHE] = EdgeCache(
        ResponseCache(backend, config.ttl_s, event, config.max_value_bytes),
        config.salt_bytes(),
        semantic,
        generate=config.generate,
    )
    yield
    if isinstance(backend, RedisCache):
        await backend.close()
    if isinstance(store, RedisStore):
        await store.close()


def create_app(
    settings: Settings,
    edge_loader: Callable[[EdgeModelsConfig], EdgeRegistry] = load_models,
    grpc_port: int = 0,
    grpc_host: str = "127.0.0.1",
) -> web.Application:
    """Build the edge node; nothing is loaded until the app starts."""
    access = AccessControl.from_settings(settings.access)
    limits = settings.server  # the server section is its ServerLimits
    recent = RecentRequests()
    app = web.Application(
        client_max_size=settings.server.max_body_bytes,
        middlewares=[
            make_access_log_middleware(recent),
            make_error_middleware(request_id_of),
            make_auth_middleware(access),
        ],
        handler_args=server_handler_args(limits),
    )
    install_limits(app, limits)
    app[SETTINGS] = settings
    app[ACCESS] = access
    app[DRAINING] = asyncio.Event()
    app[METRICS] = EdgeMetrics.create()
    app[RECORDER] = Recorder(
        app[METRICS],
        LatencyEstimator(settings.routing.latency_window),
        queue_depths=lambda: app[EDGE].queue_depths() if EDGE in app else {},
    )
    app[BUILDER] = JobBuilder(
        Catalogue(settings.central.model),
        max_inputs=settings.server.max_inputs,
        max_text_chars=settings.server.max_text_chars,
        presets=dict(settings.routing.presets),
    )
    app.middlewares.insert(0, make_record_middleware(lambda request: request.app[RECORDER]))
    app.cleanup_ctx.append(loop_lag_ctx(lambda a: a[METRICS].registry))
    app.cleanup_ctx.append(edge_models_ctx(edge_loader))
    app.cleanup_ctx.append(cache_ctx)
    app.cleanup_ctx.append(pipeline_ctx)
    if grpc_port:
        app.cleanup_ctx.append(grpc_ctx(grpc_port, grpc_host))
    app.router.add_post("/v3/models/{model}/generate", api_v3.generate)
    app.router.add_post("/v1/embeddings", api_openai.embeddings)
    app.router.add_get("/v1/models", api_openai.models)
    app.router.add_get("/v1/models/{id}", api_openai.model)
    app.router.add_post("/v1/route", api_v3.route)
    api_chat.register(app)
    api_audio.register(app)
    openapi.register(app)
    calllog_app.register(app, settings.call_log)
    app.router.add_get("/healthz", ops.healthz)
    app.router.add_get("/readyz", ops.readyz)
    app.router.add_get("/metrics", ops.metrics)
    status.register(app, recent)
    return app
