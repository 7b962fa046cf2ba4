"""Drain that load balancers see (F8): `/readyz` says 503 for the whole drain delay, whose default
covers the readiness probe period of the shipped Kubernetes manifests."""

import asyncio
import signal
from pathlib import Path

import aiohttp
import pytest
import yaml

from router.app import create_app
from router.serve import serve_until_signal
from router.settings import ServerSettings
from tests.servers import edge_settings, free_port

MANIFESTS = sorted(Path(__file__).parents[2].joinpath("deploy", "k8s").glob("edge-*.yaml"))
DRAIN_S = 1.5


def readiness_periods() -> list[int]:
    """`readinessProbe.periodSeconds` of every container in the shipped edge manifests."""
    periods = []
    for manifest in MANIFESTS:
        for doc in yaml.safe_load_all(manifest.read_text()):
            containers = (
                (doc or {}).get("spec", {}).get("template", {}).get("spec", {}).get("containers")
            )
            for container in containers or []:
                probe = container.get("readinessProbe")
                if probe:
                    periods.append(int(probe.get("periodSeconds", 10)))
    return periods


def test_the_default_drain_delay_covers_the_readiness_probe_period() -> None:
    periods = readiness_periods()
    assert periods, MANIFESTS
    assert ServerSettings().drain_delay_s >= max(periods)


async def test_readyz_is_503_through_the_drain_delay_then_the_listener_closes() -> None:
    settings = edge_settings(models={"tasks": ["embed"]}, routing={"warmup_probe": False})
    app = create_app(settings)
    port = free_port()
    url = f"http://127.0.0.1:{port}/readyz"
    server = asyncio.create_task(serve_until_signal([(app, "127.0.0.1", port)], 1.0, DRAIN_S))
    statuses: list[int] = []
    async with aiohttp.ClientSession() as http:
        async with asyncio.timeout(120):
            while True:  # ready once the models are loaded
                try:
                    async with http.get(url) as response:
                        if response.status == 200:
                            break
                except aiohttp.ClientConnectionError:
                    pass
                await asyncio.sleep(0.2)
        signal.raise_signal(signal.SIGTERM)  # serve_until_signal's handler, not the default
        refused = False
        async with asyncio.timeout(DRAIN_S + 30):
            while not refused:
                try:
                    async with http.get(url, headers={"Connection": "close"}) as response:
                        statuses.append(response.status)
                except aiohttp.ClientConnectionError:
                    refused = True
                await asyncio.sleep(0.05)
    await asyncio.wait_for(server, 30)
    assert refused
    assert len(statuses) >= 5  # answers kept coming during the delay
    assert statuses[-1] == 503 and set(statuses[1:]) == {503}


@pytest.fixture(autouse=True)
def _restore_sigterm() -> object:
    previous = signal.getsignal(signal.SIGTERM)
    yield
    signal.signal(signal.SIGTERM, previous)
