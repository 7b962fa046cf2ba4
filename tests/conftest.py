"""Shared fixtures: the real central service (real LLM), the real edge node, real Redis."""

import asyncio
import os
import shutil
import subprocess
import time
from collections.abc import AsyncIterator, Iterator

import aiohttp
import pytest
import redis

from central_service.service import create_central_app
from router.app import create_app
from router.keys import EDGE
from tests.servers import central_settings, edge_settings, free_port, serve


def _redis_answers(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_timeout=0.5).ping())
    except redis.RedisError:
        return False


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """REDIS_URL (default the local Redis, db 15), or a redis-server started for the session."""
    url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/15")
    if _redis_answers(url):
        yield url
        return
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("no Redis answers at REDIS_URL and redis-server is not installed")
    port = free_port()
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/15"
    deadline = time.monotonic() + 10
    while not _redis_answers(url):
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail("redis-server did not start")
        time.sleep(0.05)
    yield url
    proc.terminate()
    proc.wait(5)


@pytest.fixture(scope="session")
async def central_url() -> AsyncIterator[str]:
    """The real central service with its real LLM, fault hooks on."""
    async with serve(create_central_app(central_settings(), enable_faults=True)) as url:
        yield url


@pytest.fixture(scope="session")
async def edge_url(central_url: str) -> AsyncIterator[str]:
    """The real edge node with every model loaded, talking to the real central."""
    app = create_app(edge_settings(central_url))
    async with serve(app) as url:
        await asyncio.wait_for(app[EDGE].wait_ready(), 120)
        yield url


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """A plain HTTP client session."""
    async with aiohttp.ClientSession() as session:
        yield session
