"""Running servers: the edge, the central, or both together on loopback (`up`)."""

import asyncio
import logging
import secrets
import signal
from collections.abc import Callable

from aiohttp import web
from pydantic import SecretStr

from common import event_loop
from common.gc_freeze import freeze_startup_heap
from common.http import JsonErrorAppRunner
from common.malloc_tuning import fix_mmap_threshold
from edge_models.registry import EdgeModelsConfig, EdgeRegistry, load_models
from router.app import create_app
from router.auth import AccessControl, check_bind
from router.keys import DRAINING
from router.settings import Settings

log = logging.getLogger(__name__)

EdgeLoader = Callable[[EdgeModelsConfig], EdgeRegistry]


def with_dev_secret(settings: Settings) -> Settings:
    """Settings where edge and central share a fresh secret, unless one is configured."""
    secret = settings.central.secret_value()
    keys = settings.central_service.key_secrets()
    if secret is None:
        secret = keys.get(settings.central.key_id) or secrets.token_urlsafe(48)
    central = settings.central.model_copy(update={"secret": SecretStr(secret), "secret_file": None})
    service = settings.central_service.model_copy(
        update={
            "keys": {
                settings.central.key_id: SecretStr(secret),
                **{k: SecretStr(v) for k, v in keys.items()},
            }
        }
    )
    return settings.model_copy(update={"central": central, "central_service": service})


async def serve_until_signal(
    apps: list[tuple[web.Application, str, int]], grace_s: float, drain_delay_s: float = 0.0
) -> None:
    """Start each app on its host/port (in order), wait for SIGINT/SIGTERM, stop in reverse.

    Stopping: `/readyz` turns 503 ("draining") so load balancers stop sending, then after
    `drain_delay_s` the listeners close and in-flight requests get `grace_s` to finish.
    """
    fix_mmap_threshold()  # before the apps allocate their first big buffers
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    runners: list[JsonErrorAppRunner] = []
    try:
        for app, host, port in apps:
            runner = JsonErrorAppRunner(app, access_log=None, shutdown_timeout=grace_s)
            await runner.setup()
            runners.append(runner)
            site = web.TCPSite(runner, host, port)
            await site.start()
            print(f"listening on http://{host}:{port}", flush=True)
        print(f"event loop: {event_loop.loop_name()}", flush=True)
        freeze_startup_heap()  # after the apps are built, before traffic
        await stop.wait()
        log.info("draining for %.1f s, then stopping", drain_delay_s)
        for app, _, _ in apps:
            if DRAINING in app:
                app[DRAINING].set()
        await asyncio.sleep(drain_delay_s)
    finally:
        for runner in reversed(runners):
            try:
                await runner.cleanup()
            except Exception:  # keep stopping the others; say what went wrong
                log.exception("error while stopping a server")


def run_up(
    settings: Settings,
    edge_host: str,
    edge_port: int,
    central_port: int,
    grpc_port: int = 0,
    edge_loader: EdgeLoader = load_models,
) -> None:
    """The embedded default: central then edge, on loopback, with a dev secret."""
    check_bind(AccessControl.from_settings(settings.access), edge_host)
    settings = with_dev_secret(settings)
    central_url = f"http://127.0.0.1:{central_port}"
    central = settings.central.model_copy(update={"url": central_url})
    settings = settings.model_copy(update={"central": central})
    print(f"central: {central_url}\nedge:    http://{edge_host}:{edge_port}", flush=True)
    if grpc_port:
        print(f"grpc:    {edge_host}:{grpc_port}", flush=True)
    from central_service.service import create_central_app  # only `up` and `central` need it

    edge = create_app(settings, edge_loader, grpc_port=grpc_port, grpc_host=edge_host)
    apps = [
        (create_central_app(settings.central_service), "127.0.0.1", central_port),
        (edge, edge_host, edge_port),
    ]
    event_loop.run(
        serve_until_signal(apps, settings.server.shutdown_grace_s, settings.server.drain_delay_s),
        settings.server.event_loop,
    )


def run_central(settings: Settings, host: str, port: int, enable_faults: bool) -> None:
    """The central service alone."""
    from central_service.service import create_central_app

    app = create_central_app(settings.central_service, enable_faults=enable_faults)
    event_loop.run(
        serve_until_signal(
            [(app, host, port)], settings.server.shutdown_grace_s, settings.server.drain_delay_s
        ),
        settings.server.event_loop,
    )


def run_edge(
    settings: Settings,
    host: str,
    port: int,
    grpc_port: int = 0,
    edge_loader: EdgeLoader = load_models,
) -> None:
    """The edge node alone."""
    check_bind(AccessControl.from_settings(settings.access), host)
    app = create_app(settings, edge_loader, grpc_port=grpc_port, grpc_host=host)
    event_loop.run(
        serve_until_signal(
            [(app, host, port)], settings.server.shutdown_grace_s, settings.server.drain_delay_s
        ),
        settings.server.event_loop,
    )
