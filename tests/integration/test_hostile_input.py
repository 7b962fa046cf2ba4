"""The edge node under hostile clients: huge headers, deep JSON, slowloris, slow bodies.

The app is the real edge (`create_app`, real embedding model) with `router.limits` installed
and the server handler args passed to its runner, the way the CLI serves it.
"""

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import pytest
from aiohttp import web

from router.app import create_app
from router.keys import EDGE
from router.limits import ServerLimits
from tests.servers import edge_settings, free_port

LIMITS = ServerLimits(max_headers=50, header_timeout_s=3.0, body_timeout_s=2.0, max_json_depth=32)
EMBED = "/v3/models/all-minilm-l6-v2/generate"
SLOWLORIS_CONNECTIONS = 50


@dataclass(frozen=True)
class Edge:
    """Where the hardened edge listens."""

    url: str
    port: int


@pytest.fixture(scope="module")
async def edge() -> AsyncIterator[Edge]:
    settings = edge_settings(
        models={"tasks": ["embed"]},
        routing={"warmup_probe": False},
        server={
            "max_headers": LIMITS.max_headers,
            "header_timeout_s": LIMITS.header_timeout_s,
            "body_timeout_s": LIMITS.body_timeout_s,
            "max_json_depth": LIMITS.max_json_depth,
        },
    )
    app = create_app(settings)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        await asyncio.wait_for(app[EDGE].wait_ready(), 120)
        yield Edge(f"http://127.0.0.1:{port}", port)
    finally:
        await runner.cleanup()


async def embed_ok(edge: Edge) -> list[float]:
    """A normal request on a fresh connection; its embedding."""
    async with (
        aiohttp.ClientSession() as http,
        http.post(edge.url + EMBED, json={"inputs": {"text": "hello there"}}) as response,
    ):
        assert response.status == 200, await response.text()
        return (await response.json())["outputs"][0]["embedding"]


async def raw_exchange(edge: Edge, request: bytes, bound_s: float = 10) -> tuple[bytes, bool]:
    """Send raw bytes; everything the server answers, and whether it then closed the socket."""
    reader, writer = await asyncio.open_connection("127.0.0.1", edge.port)
    try:
        with contextlib.suppress(ConnectionResetError, BrokenPipeError):
            writer.write(request)
            await writer.drain()
        answer = b""
        async with asyncio.timeout(bound_s):
            while chunk := await reader.read(65536):
                answer += chunk
        return answer, reader.at_eof()
    finally:
        writer.close()


def status_of(answer: bytes) -> int:
    """The status code of a raw HTTP/1.1 answer."""
    return int(answer.split(b" ", 2)[1])


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20_000 + b"\r\n\r\n",
        b"GET /healthz?" + b"q" * 20_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: x\r\n"
        + b"".join(b"X-H%d: v\r\n" % i for i in range(200))
        + b"\r\n",
    ],
    ids=["huge-header", "huge-request-line", "too-many-headers"],
)
async def test_oversized_head_is_refused_and_the_server_keeps_serving(
    edge: Edge, request_bytes: bytes
) -> None:
    answer, closed = await raw_exchange(edge, request_bytes)
    assert status_of(answer) in (400, 431), answer[:200]
    assert closed
    assert len(await embed_ok(edge)) == 384


@pytest.mark.parametrize("depth", [33, 10_000, 200_000])
async def test_deep_json_is_a_json_400(edge: Edge, depth: int) -> None:
    labels = "[" * depth + "]" * depth
    body = f'{{"inputs": {{"text": "hi"}}, "parameters": {{"labels": {labels}}}}}'
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            edge.url + EMBED, data=body, headers={"Content-Type": "application/json"}
        ) as response,
    ):
        assert response.status == 400
        error = (await response.json())["error"]
    assert error["code"] == "json_too_deep"
    assert error["request_id"] == response.headers["X-Request-Id"]


async def test_json_within_the_depth_limit_reaches_validation(edge: Edge) -> None:
    deep_but_allowed = json.loads("[" * 30 + "]" * 30)
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            edge.url + EMBED,
            json={"inputs": {"text": "hi"}, "parameters": {"labels": deep_but_allowed}},
        ) as response,
    ):
        assert response.status == 400
        assert (await response.json())["error"]["code"] == "invalid_request"


async def slowloris(port: int, opened: asyncio.Event, closed_by_server: list[bool]) -> None:
    """Open a connection and send one more header byte every second until the server hangs up."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        await writer.drain()
        opened.set()
        for byte in b"X-Slow: " + b"z" * 1000:
            try:
                got = await asyncio.wait_for(reader.read(1), 1.0)
            except TimeoutError:
                writer.write(bytes([byte]))
                await writer.drain()
                continue
            closed_by_server.append(got == b"")  # EOF, not an answer
            return
    except (ConnectionResetError, BrokenPipeError):
        closed_by_server.append(True)
    finally:
        writer.close()


async def test_slowloris_neither_blocks_others_nor_lives_forever(edge: Edge) -> None:
    closed: list[bool] = []
    events = [asyncio.Event() for _ in range(SLOWLORIS_CONNECTIONS)]
    tasks = [asyncio.create_task(slowloris(edge.port, e, closed)) for e in events]
    try:
        await asyncio.wait_for(asyncio.gather(*(e.wait() for e in events)), 5)
        await asyncio.sleep(1)  # every connection has sent partial headers for a while
        assert len(await embed_ok(edge)) == 384
        still_open_when_answered = SLOWLORIS_CONNECTIONS - len(closed)
        async with asyncio.timeout(15):
            await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
    assert still_open_when_answered > 0  # the answer did not wait for the slow clients
    assert closed == [True] * SLOWLORIS_CONNECTIONS  # each was hung up on, none answered
    assert len(await embed_ok(edge)) == 384


async def test_slow_body_gets_a_json_408(edge: Edge) -> None:
    body = json.dumps({"inputs": {"text": "hello there"}}).encode()
    reader, writer = await asyncio.open_connection("127.0.0.1", edge.port)
    try:
        writer.write(
            b"POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n" % (EMBED.encode(), len(body))
        )
        head = b""
        async with asyncio.timeout(15):
            for byte in body:
                writer.write(bytes([byte]))
                await writer.drain()
                with contextlib.suppress(TimeoutError):
                    head += await asyncio.wait_for(reader.read(65536), 0.5)
                if head:
                    break
            while chunk := await reader.read(65536):
                head += chunk
    finally:
        writer.close()
    assert status_of(head) == 408, head[:300]
    payload = json.loads(head.split(b"\r\n\r\n", 1)[1])
    assert payload["error"]["code"] == "body_timeout"
    assert len(await embed_ok(edge)) == 384
