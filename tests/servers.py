"""Helpers to run the real edge and central apps on free loopback ports inside tests."""

import contextlib
import socket
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr

from central_service.settings import CentralServiceSettings
from common.http import JsonErrorAppRunner
from router.settings import Settings

TEST_KEY_ID = "edge-test"
TEST_SECRET = "test-secret-0123456789-abcdefghijklmnopqrstuvwxyz"


def free_port() -> int:
    """A loopback port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.asynccontextmanager
async def serve(app: web.Application, port: int | None = None) -> AsyncIterator[str]:
    """Run `app` on loopback and yield its base URL; clean up on exit."""
    runner = JsonErrorAppRunner(app, access_log=None, shutdown_timeout=1)
    await runner.setup()
    port = port or free_port()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


def central_settings(**overrides: object) -> CentralServiceSettings:
    """Central service settings with the test key."""
    fields: dict[str, object] = {"keys": {TEST_KEY_ID: SecretStr(TEST_SECRET)}, **overrides}
    return CentralServiceSettings(**fields)


def edge_settings(central_url: str = "http://127.0.0.1:9", **sections: dict) -> Settings:
    """Edge settings pointing at `central_url` with the test key; `sections` override config."""
    central = {
        "url": central_url,
        "key_id": TEST_KEY_ID,
        "secret": TEST_SECRET,
        **sections.pop("central", {}),
    }
    # CI boxes run many suites on two cores: a request that names no deadline gets a roomy
    # one here (the production default is 30 s; tests of deadlines set their own).
    server = {"request_timeout_s": 300.0, **sections.pop("server", {})}
    return Settings(central=central, server=server, **sections)


async def requests_with_status(edge_url: str, status: str) -> float:
    """`edge_requests_total` summed over routes and tasks for one status."""
    async with aiohttp.ClientSession() as http, http.get(edge_url + "/metrics") as response:
        text = await response.text()
    return sum(
        s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == "edge_requests_total" and s.labels["status"] == status
    )
