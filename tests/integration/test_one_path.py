"""One path for every transport: /v3, OpenAI, SSE and gRPC give the same route, one metric
increment with the right status, and one call-log line with the right caller, task and tokens."""

import asyncio
import json
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import grpc
import pytest
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families

from router.app import create_app
from router.calllog import CallLogSettings
from router.calllog_app import register
from router.grpc_server import grpc_ctx
from router.keys import EDGE, RECORDER
from router.proto import multimodal_pb2 as pb
from router.proto import multimodal_pb2_grpc as pb_grpc
from tests.servers import edge_settings, free_port, serve

KEY = "alice-key-0123456789abcdef0123456789"
AUTH = {"Authorization": f"Bearer {KEY}"}
GRPC_AUTH = (("authorization", f"Bearer {KEY}"),)
Key = tuple[str, str, str]


@dataclass
class Edge:
    """A running edge node: HTTP base URL, gRPC stub, the app and its call log."""

    url: str
    stub: pb_grpc.MultimodalServiceStub
    app: web.Application
    log_path: Path
    http: aiohttp.ClientSession


@pytest.fixture(scope="module")
async def edge(central_url: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Edge]:
    """An edge with an API key for `alice`, gRPC and the call log on, wired to the real central."""
    log_path = tmp_path_factory.mktemp("calls") / "calls.jsonl"
    port = free_port()
    app = create_app(edge_settings(central_url, access={"api_keys": {"alice": KEY}}))
    register(app, CallLogSettings(enabled=True, path=log_path))
    app.cleanup_ctx.append(grpc_ctx(port))
    async with serve(app) as url, aiohttp.ClientSession(headers=AUTH) as http:
        await asyncio.wait_for(app[EDGE].wait_ready(), 120)
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield Edge(url, pb_grpc.MultimodalServiceStub(channel), app, log_path, http)


async def request_counts(edge: Edge) -> Counter[Key]:
    """`edge_requests_total` by (route, task, status), read from /metrics."""
    async with edge.http.get(edge.url + "/metrics") as response:
        text = await response.text()
    counts: Counter[Key] = Counter()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "edge_requests_total":
                labels = sample.labels
                counts[(labels["route"], labels["task"], labels["status"])] += sample.value
    return counts


async def log_line(edge: Edge, request_id: str) -> dict[str, Any]:
    """The one call-log line of a request (after the writer caught up)."""
    call_log = edge.app[RECORDER].call_log
    assert call_log is not None
    await asyncio.to_thread(call_log.flush)
    lines = [json.loads(x) for x in edge.log_path.read_text().splitlines()]
    matching = [x for x in lines if x["request_id"] == request_id]
    assert len(matching) == 1, matching
    return matching[0]


async def counted(edge: Edge, send: Any) -> tuple[Any, dict[Key, float]]:
    """Send one request; its answer and the change it made to `edge_requests_total`."""
    before = await request_counts(edge)
    answer = await send()
    after = await request_counts(edge)
    delta = {k: v - before.get(k, 0) for k, v in after.items() if v != before.get(k, 0)}
    return answer, delta


async def post(edge: Edge, path: str, body: dict[str, Any], rid: str) -> tuple[int, Any, Any]:
    headers = {"X-Request-Id": rid, "Cache-Control": "no-store"}
    async with edge.http.post(edge.url + path, json=body, headers=headers) as response:
        text = await response.text()
        return response.status, response.headers, text


async def test_embed_is_one_path_over_v3_openai_and_grpc(edge: Edge) -> None:
    answers = {}
    v3 = {"inputs": [{"text": "one path v3", "task": "embed"}]}
    answers["v3"] = await counted(
        edge, lambda: post(edge, "/v3/models/auto/generate", v3, "embed-v3")
    )
    answers["openai"] = await counted(
        edge,
        lambda: post(edge, "/v1/embeddings", {"model": "auto", "input": "one path oa"}, "embed-oa"),
    )

    async def grpc_embed() -> tuple[int, dict[str, str], str]:
        reply = await edge.stub.Embed(
            pb.EmbedRequest(texts=["one path gr"], model="auto"),
            metadata=(*GRPC_AUTH, ("x-request-id", "embed-gr")),
        )
        return 200, {"X-Route": reply.route, "X-Route-Reason": reply.route_reason}, ""

    answers["grpc"] = await counted(edge, grpc_embed)
    assert {a[0][0] for a in answers.values()} == {200}
    routes = {(a[0][1]["X-Route"], a[0][1]["X-Route-Reason"]) for a in answers.values()}
    assert len(routes) == 1 and next(iter(routes))[0] == "edge", routes
    for name, (_, delta) in answers.items():
        assert delta == {("edge", "embed", "200"): 1.0}, (name, delta)
    for rid in ("embed-v3", "embed-oa", "embed-gr"):
        line = await log_line(edge, rid)
        assert (line["caller"], line["task"], line["route"], line["status"]) == (
            "alice",
            "embed",
            "edge",
            200,
        )
        assert line["reason"] == next(iter(routes))[1] and line["query_hash"]


async def test_generate_is_one_path_over_v3_openai_sse_and_grpc(edge: Edge) -> None:
    params = {"max_tokens": 4, "temperature": 0}
    chat = {"model": "auto", **params}

    def message(text: str) -> list[dict[str, str]]:
        return [{"role": "user", "content": text}]

    async def sse() -> tuple[int, Any, str]:
        body = {**chat, "messages": message("Say B."), "stream": True}
        body["stream_options"] = {"include_usage": True}
        return await post(edge, "/v1/chat/completions", body, "gen-sse")

    async def grpc_generate() -> tuple[int, dict[str, str], str]:
        reply = await edge.stub.Generate(
            pb.GenerateRequest(text="Say C.", max_tokens=4, temperature=0),
            metadata=(*GRPC_AUTH, ("x-request-id", "gen-grpc")),
        )
        return 200, {"X-Route": reply.route, "X-Route-Reason": reply.route_reason}, reply.text

    async def grpc_stream() -> tuple[int, dict[str, str], str]:
        request = pb.GenerateRequest(text="Say D.", max_tokens=4, temperature=0)
        chunks = [
            c
            async for c in edge.stub.GenerateStream(
                request, metadata=(*GRPC_AUTH, ("x-request-id", "gen-grpc-stream"))
            )
        ]
        head = {"X-Route": chunks[0].route, "X-Route-Reason": chunks[0].route_reason}
        return 200, head, "".join(c.text for c in chunks)

    v3 = {"inputs": {"text": "Say A.", "task": "generate"}, "parameters": params}
    sends = {
        "gen-v3": lambda: post(edge, "/v3/models/auto/generate", v3, "gen-v3"),
        "gen-openai": lambda: post(
            edge, "/v1/chat/completions", {**chat, "messages": message("Say E.")}, "gen-openai"
        ),
        "gen-sse": sse,
        "gen-grpc": grpc_generate,
        "gen-grpc-stream": grpc_stream,
    }
    routes = set()
    for rid, send in sends.items():
        (status, headers, _), delta = await counted(edge, send)
        assert status == 200, rid
        routes.add((headers["X-Route"], headers["X-Route-Reason"]))
        assert delta == {("central", "generate", "200"): 1.0}, (rid, delta)
        line = await log_line(edge, rid)
        assert (line["caller"], line["task"], line["route"], line["status"]) == (
            "alice",
            "generate",
            "central",
            200,
        ), rid
        assert line["prompt_tokens"] > 0 and 0 < line["completion_tokens"] <= 4, (rid, line)
        assert line["cost"] > 0  # the routing price list prices the call log: one cost model
    assert len(routes) == 1, routes


async def test_failures_are_counted_and_logged_with_the_caller(edge: Edge) -> None:
    body = {"inputs": {"text": "x"}}
    (status, headers, _), delta = await counted(
        edge, lambda: post(edge, "/v3/models/no-such-model/generate", body, "bad-v3")
    )
    assert status == 404 and headers["x-should-retry"] == "false"
    assert delta == {("none", "unknown", "404"): 1.0}
    line = await log_line(edge, "bad-v3")
    assert (line["caller"], line["status"], line["reason"]) == ("alice", 404, "unknown_model")

    chat = {
        "model": "auto",
        "messages": [{"role": "user", "content": "weather?"}],
        "tools": [{"type": "function", "function": {"name": "weather", "parameters": {}}}],
    }
    (status, headers, text), delta = await counted(
        edge, lambda: post(edge, "/v1/chat/completions", chat, "bad-tools")
    )
    assert status == 400 and headers["x-should-retry"] == "false"
    assert json.loads(text)["error"]["code"] == "unsupported_parameter"
    assert delta == {("none", "generate", "400"): 1.0}
    line = await log_line(edge, "bad-tools")
    assert (line["caller"], line["task"], line["status"]) == ("alice", "generate", 400)

    async def grpc_unknown() -> grpc.StatusCode:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await edge.stub.Embed(
                pb.EmbedRequest(texts=["x"], model="no-such-model"),
                metadata=(*GRPC_AUTH, ("x-request-id", "bad-grpc")),
            )
        return caught.value.code()

    code, delta = await counted(edge, grpc_unknown)
    assert code == grpc.StatusCode.NOT_FOUND
    assert delta == {("none", "embed", "404"): 1.0}
    line = await log_line(edge, "bad-grpc")
    assert (line["caller"], line["task"], line["status"]) == ("alice", "embed", 404)

    async def unauthenticated() -> int:
        headers = {"Authorization": "Bearer wrong-key", "X-Request-Id": "bad-key"}
        async with (
            aiohttp.ClientSession() as anonymous,
            anonymous.post(
                edge.url + "/v1/embeddings", json={"input": "x"}, headers=headers
            ) as response,
        ):
            return response.status

    status, delta = await counted(edge, unauthenticated)
    assert status == 401 and delta == {("none", "unknown", "401"): 1.0}
    line = await log_line(edge, "bad-key")
    assert (line["caller"], line["status"]) == ("anonymous", 401)


async def test_a_request_without_a_deadline_gets_the_server_default() -> None:
    settings = edge_settings(server={"request_timeout_s": 1e-9}, models={"tasks": ["embed"]})
    app = create_app(settings)
    async with serve(app) as url, aiohttp.ClientSession() as http:
        await asyncio.wait_for(app[EDGE].wait_ready(), 120)
        async with http.post(url + "/v1/embeddings", json={"input": "hello"}) as response:
            body = await response.json()
    assert response.status == 504, body
    assert body["error"]["code"] == "deadline_exceeded"
    assert response.headers["x-should-retry"] == "false"


async def test_grpc_errors_carry_retry_advice_and_are_recorded(edge: Edge) -> None:
    async def bad_key() -> grpc.aio.AioRpcError:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await edge.stub.Embed(
                pb.EmbedRequest(texts=["x"]),
                metadata=(("authorization", "Bearer wrong"), ("x-request-id", "grpc-401")),
            )
        return caught.value

    error, delta = await counted(edge, bad_key)
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED
    trailing = dict(error.trailing_metadata() or ())
    assert trailing["x-should-retry"] == "false" and trailing["error-code"] == "invalid_credentials"
    assert delta == {("none", "embed", "401"): 1.0}
    line = await log_line(edge, "grpc-401")
    assert (line["caller"], line["status"], line["path"]) == (
        "anonymous",
        401,
        "/hybrid_router.MultimodalService/Embed",
    )
