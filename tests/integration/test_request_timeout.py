"""Every request gets a deadline (F6): without one from the caller, `server.request_timeout_s`.

Before, a hung upstream was answered after 180 s (3 attempts x 60 s read timeout); now the
request ends with a JSON 504 at the server's default deadline, retries included.
"""

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from router.app import create_app
from router.keys import EDGE
from router.settings import ServerSettings
from tests.servers import edge_settings, serve

REQUEST_TIMEOUT_S = 1.5


def hanging_central() -> web.Application:
    """A central that accepts every generate call and never answers."""

    async def hang(request: web.Request) -> web.Response:
        await request.read()
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    async def healthz(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    app = web.Application()
    app.router.add_post("/v3/models/{model}/generate", hang)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", healthz)
    return app


@pytest.fixture
async def edge_url() -> AsyncIterator[str]:
    async with serve(hanging_central()) as central_url:
        settings = edge_settings(
            central_url,
            models={"tasks": ["embed"]},
            routing={"warmup_probe": False},
            server={"request_timeout_s": REQUEST_TIMEOUT_S},
        )
        app = create_app(settings)
        async with serve(app) as url:
            await asyncio.wait_for(app[EDGE].wait_ready(), 120)
            yield url


def test_the_default_request_timeout_is_30_s() -> None:
    assert ServerSettings().request_timeout_s == 30.0


async def test_a_hung_upstream_without_a_caller_deadline_ends_in_a_json_504(edge_url: str) -> None:
    body = {"inputs": {"text": "hello", "task": "generate"}, "parameters": {"cache": False}}
    async with aiohttp.ClientSession() as http:
        async with asyncio.timeout(REQUEST_TIMEOUT_S + 30):  # never the old 180 s
            async with http.post(edge_url + "/v3/models/auto/generate", json=body) as response:
                status, answer = response.status, await response.json()
    assert status == 504, answer
    assert answer["error"]["type"] == "deadline_exceeded"
