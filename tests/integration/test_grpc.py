"""The gRPC API with a real grpcio aio client, through the same router path as HTTP."""

import asyncio
from collections.abc import AsyncIterator

import grpc
import pytest

from router.app import create_app
from router.grpc_server import grpc_ctx
from router.keys import EDGE
from router.proto import multimodal_pb2 as pb
from router.proto import multimodal_pb2_grpc as pb_grpc
from tests.servers import edge_settings, free_port, serve


@pytest.fixture(scope="module")
async def stub(central_url: str) -> AsyncIterator[pb_grpc.MultimodalServiceStub]:
    """A stub connected to an edge node serving gRPC, wired to the real central."""
    port = free_port()
    app = create_app(edge_settings(central_url))
    app.cleanup_ctx.append(grpc_ctx(port))
    async with serve(app):
        await asyncio.wait_for(app[EDGE].wait_ready(), 120)
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield pb_grpc.MultimodalServiceStub(channel)


async def test_generate_goes_to_the_central(stub: pb_grpc.MultimodalServiceStub) -> None:
    answer = await stub.Generate(pb.GenerateRequest(text="Say hi.", max_tokens=8, temperature=0))
    assert answer.text
    assert answer.route == "central"
    assert answer.route_reason
    assert answer.model
    assert 0 < answer.usage.completion_tokens <= 8
    assert answer.usage.total_tokens == answer.usage.prompt_tokens + answer.usage.completion_tokens
    assert answer.finish_reason in ("stop", "length")


async def test_request_id_is_echoed(stub: pb_grpc.MultimodalServiceStub) -> None:
    answer = await stub.Embed(
        pb.EmbedRequest(texts=["hello"]), metadata=(("x-request-id", "grpc-req-7"),)
    )
    assert answer.request_id == "grpc-req-7"


async def test_embed_runs_on_the_edge(stub: pb_grpc.MultimodalServiceStub) -> None:
    answer = await stub.Embed(pb.EmbedRequest(texts=["a cat", "a kitten", "tax law"]))
    assert answer.route == "edge"
    assert [len(e.values) for e in answer.embeddings] == [384, 384, 384]
    cat, kitten, tax = (list(e.values) for e in answer.embeddings)
    dot = lambda a, b: sum(x * y for x, y in zip(a, b, strict=True))  # noqa: E731
    assert dot(cat, kitten) > dot(cat, tax)


async def test_stream_pieces_join_to_the_greedy_reply(stub: pb_grpc.MultimodalServiceStub) -> None:
    request = pb.GenerateRequest(text="Say hello.", max_tokens=8, temperature=0)
    chunks = [chunk async for chunk in stub.GenerateStream(request)]
    whole = await stub.Generate(request)
    assert chunks[0].route == "central" and chunks[0].route_reason
    assert chunks[-1].finish_reason in ("stop", "length")
    assert 0 < chunks[-1].usage.completion_tokens <= 8
    assert all(not c.finish_reason for c in chunks[:-1])
    assert "".join(c.text for c in chunks) == whole.text


@pytest.mark.parametrize(
    ("request_", "code", "error_code"),
    [
        (pb.GenerateRequest(text="hi", model="nope"), grpc.StatusCode.NOT_FOUND, "unknown_model"),
        (
            pb.GenerateRequest(text="hi", modality="video"),
            grpc.StatusCode.INVALID_ARGUMENT,
            "invalid_request",
        ),
        (
            pb.GenerateRequest(text="hi", max_tokens=0),
            grpc.StatusCode.INVALID_ARGUMENT,
            "invalid_request",
        ),
        (
            pb.GenerateRequest(text="hi", route="edge", max_tokens=1),
            grpc.StatusCode.INVALID_ARGUMENT,
            "pinned:edge-unable",
        ),
    ],
)
async def test_errors_map_to_grpc_status_codes(
    stub: pb_grpc.MultimodalServiceStub,
    request_: pb.GenerateRequest,
    code: grpc.StatusCode,
    error_code: str,
) -> None:
    for call in (stub.Generate(request_), stub.GenerateStream(request_)):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            if isinstance(call, grpc.aio.UnaryStreamCall):
                [chunk async for chunk in call]
            else:
                await call
        assert caught.value.code() == code
        metadata = dict(caught.value.trailing_metadata() or ())
        assert metadata["error-code"] == error_code
        assert metadata["x-request-id"]


async def test_embed_of_an_unknown_model_is_not_found(stub: pb_grpc.MultimodalServiceStub) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.Embed(pb.EmbedRequest(texts=["x"], model="text-embedding-3-large"))
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND


async def test_api_key_is_required_when_configured_and_central_outage_is_unavailable() -> None:
    port = free_port()
    dead_central = f"http://127.0.0.1:{free_port()}"
    settings = edge_settings(
        dead_central,
        central={"retry": {"max_attempts": 1}},
        models={"tasks": []},
        access={"api_keys": {"app-1": "key-0123456789abcdef"}},
    )
    app = create_app(settings)
    app.cleanup_ctx.append(grpc_ctx(port))
    request = pb.GenerateRequest(text="hi", max_tokens=1)
    async with serve(app), grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = pb_grpc.MultimodalServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as anonymous:
            await stub.Generate(request)
        with pytest.raises(grpc.aio.AioRpcError) as wrong:
            await stub.Embed(pb.EmbedRequest(texts=["x"]), metadata=(("x-api-key", "nope"),))
        with pytest.raises(grpc.aio.AioRpcError) as outage:
            await stub.Generate(
                request, metadata=(("authorization", "Bearer key-0123456789abcdef"),)
            )
    assert anonymous.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert dict(anonymous.value.trailing_metadata() or ())["error-code"] == "missing_credentials"
    assert wrong.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert outage.value.code() == grpc.StatusCode.UNAVAILABLE
    metadata = dict(outage.value.trailing_metadata() or ())
    assert metadata["error-code"] == "central_unreachable"
    assert int(metadata["retry-after"]) >= 1
