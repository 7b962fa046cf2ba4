"""The edge node under hostile clients: huge headers, deep JSON, slowloris, slow bodies, and
input that cannot be parsed or encoded (issue 16: F3, F4, F9, F11).

The app is the real edge (`create_app`, real embedding model) with `router.limits` installed,
served by `JsonErrorAppRunner` the way the CLI serves it.
"""

import asyncio
import contextlib
import gzip
import json
import zlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from common.http import JsonErrorAppRunner
from router.app import create_app
from router.keys import EDGE
from router.limits import ServerLimits
from tests.servers import edge_settings, free_port

LIMITS = ServerLimits(max_headers=50, header_timeout_s=3.0, body_timeout_s=2.0, max_json_depth=32)
MAX_TEXT_CHARS = 2_000
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
            "max_text_chars": MAX_TEXT_CHARS,
        },
    )
    app = create_app(settings)
    runner = JsonErrorAppRunner(app, access_log=None, shutdown_timeout=1)
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
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 9_000 + b"\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: x\r\n"
        + b"".join(b"X-H%d: v\r\n" % i for i in range(150))
        + b"\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Bad\x01Name: v\r\n\r\n",
    ],
    ids=["huge-header", "huge-request-line", "too-many-headers", "9kB", "150", "bad-name"],
)
async def test_oversized_head_is_refused_and_the_server_keeps_serving(
    edge: Edge, request_bytes: bytes
) -> None:
    answer, closed = await raw_exchange(edge, request_bytes)
    assert status_of(answer) in (400, 431), answer[:200]
    assert closed
    head, _, body = answer.partition(b"\r\n\r\n")
    assert b"content-type: application/json" in head.lower()  # F9: not aiohttp's text/plain
    error = json.loads(body)["error"]
    assert error["code"] == "bad_http_request"
    assert error["request_id"]
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


async def post_raw(
    edge: Edge, path: str, body: bytes, headers: dict[str, str] | None = None
) -> tuple[int, dict, str]:
    """POST raw bytes as JSON; the status, the parsed JSON answer and its content type."""
    all_headers = {"Content-Type": "application/json", **(headers or {})}
    async with (
        aiohttp.ClientSession(auto_decompress=False) as http,
        http.post(edge.url + path, data=body, headers=all_headers) as response,
    ):
        text = await response.text()
        assert response.content_type == "application/json", text[:200]
        return response.status, json.loads(text), response.content_type


LONE_SURROGATE = '"text \\ud800 here"'
SURROGATE_BODIES = {
    EMBED: b'{"inputs": {"text": %s}}',
    "/v1/embeddings": b'{"model": "all-minilm-l6-v2", "input": [%s]}',
    "/v1/chat/completions": b'{"messages": [{"role": "user", "content": %s}]}',
    "/v1/route": b'{"inputs": {"text": %s}}',
    "/v3/models/minilm-zero-shot/generate": b'{"inputs": {"text": %s},'
    b' "parameters": {"labels": ["a", "b"]}}',
}


@pytest.mark.parametrize("path", sorted(SURROGATE_BODIES))
async def test_a_lone_surrogate_is_a_json_400_on_every_path(edge: Edge, path: str) -> None:
    """F4: text that cannot be encoded fails at parse time, before any model sees it."""
    body = SURROGATE_BODIES[path] % LONE_SURROGATE.encode()
    status, answer, _ = await post_raw(edge, path, body)
    assert status == 400, answer
    assert answer["error"]["code"] == "invalid_unicode"


async def test_a_lone_surrogate_fails_only_its_own_request_not_its_batch_mates(edge: Edge) -> None:
    """F4: three requests batched together; the bad one fails alone."""
    good = json.dumps({"inputs": {"text": "an innocent sentence"}, "parameters": {"cache": False}})
    bad = SURROGATE_BODIES[EMBED] % LONE_SURROGATE.encode()
    results = await asyncio.gather(
        post_raw(edge, EMBED, good.encode()),
        post_raw(edge, EMBED, bad),
        post_raw(edge, EMBED, good.replace("innocent", "harmless").encode()),
    )
    assert [status for status, _, _ in results] == [200, 400, 200]
    assert len(results[0][1]["outputs"][0]["embedding"]) == 384


async def test_a_valid_surrogate_pair_is_text(edge: Edge) -> None:
    status, answer, _ = await post_raw(edge, EMBED, b'{"inputs": {"text": "emoji \\ud83d\\ude00"}}')
    assert status == 200, answer


@pytest.mark.parametrize("digits", [4_301, 50_000])
async def test_a_huge_integer_is_a_json_400(edge: Edge, digits: int) -> None:
    """F4: past Python's 4300-digit int limit the old parser raised ValueError (a 500)."""
    body = b'{"inputs": {"text": "hi"}, "parameters": {"top_k": %s}}' % (b"7" * digits)
    status, answer, _ = await post_raw(edge, EMBED, body)
    assert status == 400, answer
    assert answer["error"]["code"] == "number_too_large"


@pytest.mark.parametrize("encoding", ["deflate", "gzip", "x-gzip"])
async def test_a_body_that_does_not_decompress_is_a_json_400(edge: Edge, encoding: str) -> None:
    """F4: a bad `Content-Encoding` body raised aiohttp's ContentEncodingError (a 500)."""
    status, answer, _ = await post_raw(
        edge, EMBED, b"this is not compressed at all", {"Content-Encoding": encoding}
    )
    assert status == 400, answer
    assert answer["error"]["code"] == "invalid_body_encoding"


async def test_an_unsupported_content_coding_is_a_json_415(edge: Edge) -> None:
    status, answer, _ = await post_raw(edge, EMBED, b"\x8b\x00", {"Content-Encoding": "br"})
    assert status == 415, answer
    assert answer["error"]["code"] == "unsupported_content_encoding"


async def test_a_big_corrupt_body_is_a_400_on_a_connection_that_keeps_serving(edge: Edge) -> None:
    """The parser used to decode as the body arrived and drop the connection on the first bad
    block: a client still sending 200 kB saw a reset, not the 400."""
    connections: list[object] = []
    trace = aiohttp.TraceConfig()

    async def created(*args: object) -> None:
        connections.append(args)

    trace.on_connection_create_end.append(created)
    headers = {"Content-Type": "application/json"}
    good = json.dumps({"inputs": {"text": "after the bad one"}}).encode()
    async with aiohttp.ClientSession(trace_configs=[trace]) as http:
        async with http.post(
            edge.url + EMBED,
            data=b"\x00corrupt" * 20_000,
            headers={**headers, "Content-Encoding": "deflate"},
        ) as response:
            answer = await response.json()
            assert response.status == 400, answer
            assert answer["error"]["code"] == "invalid_body_encoding"
        async with http.post(edge.url + EMBED, data=good, headers=headers) as response:
            assert response.status == 200, await response.text()
    assert len(connections) == 1  # the second request reused the first one's connection


@pytest.mark.parametrize(
    ("coding", "compress"),
    [
        ("deflate", zlib.compress),
        ("deflate", lambda b: zlib.compress(b, wbits=-zlib.MAX_WBITS)),  # raw, no zlib header
        ("gzip", gzip.compress),
        ("gzip, deflate", lambda b: zlib.compress(gzip.compress(b))),
    ],
    ids=["deflate", "raw-deflate", "gzip", "gzip-then-deflate"],
)
async def test_a_compressed_body_is_read(edge: Edge, coding: str, compress: Any) -> None:
    body = compress(json.dumps({"inputs": {"text": "compressed hello"}}).encode())
    status, answer, _ = await post_raw(edge, EMBED, body, {"Content-Encoding": coding})
    assert status == 200, answer
    assert len(answer["outputs"][0]["embedding"]) == 384


async def test_a_compression_bomb_is_refused_at_the_body_limit(edge: Edge) -> None:
    """11 MB of zeros gzip to 11 kB; decoding stops one byte past `max_body_bytes` (413)."""
    bomb = gzip.compress(b"0" * 11 * 1024 * 1024)
    assert len(bomb) < 64 * 1024
    status, answer, _ = await post_raw(edge, EMBED, bomb, {"Content-Encoding": "gzip"})
    assert status == 413, answer
    assert answer["error"]["code"] == "body_too_large"


async def test_a_utf16_body_with_a_lone_surrogate_is_a_json_400(edge: Edge) -> None:
    raw = '{"inputs": {"text": "x'.encode("utf-16-le") + b"\x00\xd8" + '"}}'.encode("utf-16-le")
    status, answer, _ = await post_raw(edge, EMBED, raw)
    assert status == 400, answer
    assert answer["error"]["code"] == "invalid_unicode"


async def test_embeddings_honour_max_text_chars(edge: Edge) -> None:
    """F3: `/v1/embeddings` used to embed any length (10 MB: 200 after 22 s); now the limit."""
    over = {"model": "all-minilm-l6-v2", "input": ["ok", "x" * (MAX_TEXT_CHARS + 1)]}
    status, answer, _ = await post_raw(edge, "/v1/embeddings", json.dumps(over).encode())
    assert status == 400, answer
    assert answer["error"]["code"] == "text_too_long"
    assert "max_text_chars" in answer["error"]["message"]
    at_limit = {"model": "all-minilm-l6-v2", "input": "y " * (MAX_TEXT_CHARS // 2)}
    status, answer, _ = await post_raw(edge, "/v1/embeddings", json.dumps(at_limit).encode())
    assert status == 200, answer


@pytest.mark.parametrize(
    ("path", "body"),
    [
        (EMBED, {"inputs": [{"text": f"t{i}"} for i in range(65)]}),
        ("/v1/embeddings", {"model": "all-minilm-l6-v2", "input": [f"t{i}" for i in range(65)]}),
    ],
    ids=["v3", "openai"],
)
async def test_every_endpoint_has_the_same_input_count_limit(
    edge: Edge, path: str, body: dict
) -> None:
    status, answer, _ = await post_raw(edge, path, json.dumps(body).encode())
    assert status == 400, answer
    assert answer["error"]["code"] == "too_many_inputs"
    assert "max_inputs" in answer["error"]["message"]


async def test_a_body_over_the_size_limit_is_a_json_413_naming_it(edge: Edge) -> None:
    body = json.dumps({"inputs": {"text": "z" * (11 * 1024 * 1024)}}).encode()
    status, answer, _ = await post_raw(edge, EMBED, body)
    assert status == 413, answer
    assert answer["error"]["code"] == "body_too_large"
    assert "max_body_bytes" in answer["error"]["message"]


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [("GET", EMBED, "POST"), ("DELETE", "/v1/embeddings", "POST"), ("POST", "/healthz", "GET")],
)
async def test_a_405_carries_allow(edge: Edge, method: str, path: str, allowed: str) -> None:
    """F11: RFC 9110 requires `Allow` on a 405."""
    async with (
        aiohttp.ClientSession() as http,
        http.request(method, edge.url + path) as response,
    ):
        assert response.status == 405
        assert allowed in response.headers["Allow"]
        assert (await response.json())["error"]["code"] == "method_not_allowed"


async def test_the_schema_says_what_the_server_refuses(edge: Edge) -> None:
    """F11: `inputs: []` and `input: ""` are 400, and the schema says so (minItems/minLength)."""
    async with aiohttp.ClientSession() as http, http.get(edge.url + "/openapi.json") as response:
        spec = await response.json()
    schemas = spec["components"]["schemas"]
    inputs = schemas["GenerateRequest"]["properties"]["inputs"]
    arrays = [s for s in inputs.get("anyOf", [inputs]) if s.get("type") == "array"]
    assert arrays and all(s.get("minItems", 0) >= 1 for s in arrays)
    embedding_input = schemas["EmbeddingsRequest"]["properties"]["input"]
    variants = embedding_input.get("anyOf", [embedding_input])
    for variant in variants:
        if variant.get("type") == "string":
            assert variant.get("minLength", 0) >= 1
        if variant.get("type") == "array":
            assert variant.get("minItems", 0) >= 1
            assert variant["items"].get("minLength", 0) >= 1
    for path, body in ((EMBED, {"inputs": []}), ("/v1/embeddings", {"input": ""})):
        status, answer, _ = await post_raw(edge, path, json.dumps(body).encode())
        assert status == 400, answer
