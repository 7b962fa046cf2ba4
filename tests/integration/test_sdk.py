"""The Python SDK against the real edge node, and against a scripted server for retries."""

import asyncio
import io
import json
from collections.abc import AsyncIterator
from dataclasses import FrozenInstanceError

import numpy as np
import pytest
import skimage.data
from aiohttp import web
from PIL import Image

from hybrid_router_sdk import (
    BadRequestError,
    ConnectionFailed,
    GenerateResponse,
    HybridRouterError,
    MultimodalClient,
    NotFoundError,
    RateLimitError,
    ServiceUnavailableError,
    SyncMultimodalClient,
)
from tests.servers import free_port, serve
from tests.speech_fixtures import render_speech_wav

SMALL = {"max_tokens": 8, "temperature": 0.0}


@pytest.fixture
async def client(edge_url: str) -> AsyncIterator[MultimodalClient]:
    """An SDK client for the running edge."""
    async with MultimodalClient(endpoint=edge_url, max_retries=0) as sdk:
        yield sdk


async def test_generate_returns_a_typed_response(client: MultimodalClient) -> None:
    answer = await client.generate("Say hi.", **SMALL)
    assert isinstance(answer, GenerateResponse)
    assert answer.text
    assert answer.route == "central"
    assert answer.route_reason
    assert answer.model
    assert 0 < answer.usage["completion_tokens"] <= 8
    assert answer.image_url is None and answer.image_base64 is None
    assert answer.raw["outputs"][0]["text"] == answer.text
    assert answer.request_id
    with pytest.raises(FrozenInstanceError):
        answer.text = "changed"  # type: ignore[misc]


async def test_embed_returns_unit_vectors_in_order(client: MultimodalClient) -> None:
    vectors = await client.embed(["a cat on a mat", "stock markets fell", "a kitten on a rug"])
    assert [len(v) for v in vectors] == [384, 384, 384]
    a, b, c = (np.asarray(v) for v in vectors)
    assert np.linalg.norm(a) == pytest.approx(1.0, abs=1e-3)
    assert a @ c > a @ b  # the kitten is closer to the cat than the stock market is
    assert await client.embed("a cat on a mat") == [vectors[0]]


async def test_embed_many_matches_one_request(edge_url: str) -> None:
    texts = [f"sentence number {i}" for i in range(10)]
    # Default retries: the edge may shed concurrent batches with 429 + Retry-After.
    async with MultimodalClient(endpoint=edge_url) as client:
        together = await client.embed(texts)
        batched = await client.embed_many(texts, batch_size=3, concurrency=2)
    np.testing.assert_allclose(np.asarray(batched), np.asarray(together), atol=1e-5)


async def test_classify_ranks_the_fitting_label_first(client: MultimodalClient) -> None:
    labels = await client.classify(
        "The striker scored twice in the final match.", ["sports", "cooking", "finance"]
    )
    assert labels[0].label == "sports"
    assert sorted(x.label for x in labels) == ["cooking", "finance", "sports"]
    assert labels[0].score >= labels[-1].score


async def test_classify_image_finds_the_cat(client: MultimodalClient) -> None:
    buffer = io.BytesIO()
    Image.fromarray(skimage.data.chelsea()).save(buffer, format="PNG")
    labels = await client.classify_image(buffer.getvalue(), top_k=3)
    assert len(labels) == 3
    assert {"tabby", "tiger cat", "Egyptian cat"} & {x.label for x in labels}


async def test_detect_speech_finds_speech_after_the_silence(client: MultimodalClient) -> None:
    wav = render_speech_wav(rate=16_000, lead_silence_s=1.0)
    segments = await client.detect_speech(wav)
    assert segments
    assert 0.6 < segments[0].start_s < 1.5
    assert segments[-1].end_s > segments[0].start_s


async def test_stream_yields_pieces_of_the_reply(client: MultimodalClient) -> None:
    pieces = [p async for p in client.stream("Say hello.", **SMALL)]
    assert len(pieces) >= 2
    assert "".join(pieces).strip()


async def test_generate_many_keeps_order(client: MultimodalClient) -> None:
    prompts = ["Say one.", "Say two."]
    answers = await client.generate_many(prompts, concurrency=2, max_tokens=4, temperature=0.0)
    single = await client.generate("Say two.", max_tokens=4, temperature=0.0)
    assert len(answers) == 2 and all(a.text for a in answers)
    assert answers[1].text == single.text


async def test_errors_are_typed(client: MultimodalClient, edge_url: str) -> None:
    with pytest.raises(NotFoundError) as missing:
        await client.generate("hi", model="no-such-model", max_tokens=1)
    assert missing.value.status == 404
    assert missing.value.code == "unknown_model"
    assert missing.value.request_id
    with pytest.raises(BadRequestError) as bad:
        await client.classify("text", ["only-one-label"])
    assert bad.value.status == 400 and bad.value.code == "invalid_request"
    assert isinstance(bad.value, HybridRouterError)


async def test_sync_client_works_from_a_thread(edge_url: str) -> None:
    def work() -> tuple[list[list[float]], list[str]]:
        with SyncMultimodalClient(endpoint=edge_url) as sync:
            return sync.embed(["hello"]), list(sync.stream("Say hi.", **SMALL))

    vectors, pieces = await asyncio.to_thread(work)
    assert len(vectors[0]) == 384
    assert "".join(pieces).strip()


# --- retries and transport failures, against a scripted server --------------------------------

V3_OK = {
    "id": "gen-1",
    "model": "all-minilm-l6-v2",
    "route": "edge",
    "route_reason": "default:edge-capable",
    "outputs": [{"embedding": [0.5, 0.5]}],
    "usage": {},
}


def scripted(answers: list[web.Response], seen: list[web.Request]) -> web.Application:
    """A server that answers each request with the next scripted response."""

    async def handler(request: web.Request) -> web.Response:
        seen.append(request)
        return answers.pop(0)

    app = web.Application()
    app.router.add_post("/v3/models/{model}/generate", handler)
    return app


def error(status: int, retry_after: str | None = None) -> web.Response:
    """A JSON error in the router's shape."""
    headers = {"X-Request-Id": "req-1", **({"Retry-After": retry_after} if retry_after else {})}
    body = {"error": {"type": "t", "code": f"code_{status}", "message": "m", "request_id": "req-1"}}
    return web.json_response(body, status=status, headers=headers)


class Sleeps:
    """An injected sleep that records its delays and returns at once."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


async def test_retry_honours_retry_after_and_sends_the_key() -> None:
    seen: list[web.Request] = []
    sleeps = Sleeps()
    app = scripted([error(429, "1"), web.json_response(V3_OK)], seen)
    async with (
        serve(app) as url,
        MultimodalClient(api_key="k-123", endpoint=url, sleep=sleeps) as sdk,
    ):
        vectors = await sdk.embed(["x"])
    assert vectors == [[0.5, 0.5]]
    assert sleeps.delays == [1.0]
    assert len(seen) == 2
    assert {r.headers["Authorization"] for r in seen} == {"Bearer k-123"}


async def test_503_is_retried_until_max_retries_then_raised() -> None:
    seen: list[web.Request] = []
    sleeps = Sleeps()
    app = scripted([error(503, "2"), error(503), error(503, "7")], seen)
    async with (
        serve(app) as url,
        MultimodalClient(endpoint=url, max_retries=2, sleep=sleeps) as sdk,
    ):
        with pytest.raises(ServiceUnavailableError) as caught:
            await sdk.embed(["x"])
    assert len(seen) == 3
    assert sleeps.delays == [2.0, 1.0]  # Retry-After, then backoff (0.5 * 2) without one
    assert caught.value.retry_after_s == 7.0
    assert caught.value.code == "code_503" and caught.value.request_id == "req-1"


async def test_other_errors_are_not_retried() -> None:
    seen: list[web.Request] = []
    sleeps = Sleeps()
    app = scripted([error(400), web.json_response(V3_OK)], seen)
    async with serve(app) as url, MultimodalClient(endpoint=url, sleep=sleeps) as sdk:
        with pytest.raises(BadRequestError):
            await sdk.embed(["x"])
    assert len(seen) == 1 and sleeps.delays == []


async def test_rate_limit_error_after_retries_carries_retry_after() -> None:
    seen: list[web.Request] = []
    app = scripted([error(429, "3")], seen)
    async with serve(app) as url, MultimodalClient(endpoint=url, max_retries=0) as sdk:
        with pytest.raises(RateLimitError) as caught:
            await sdk.embed(["x"])
    assert caught.value.status == 429 and caught.value.retry_after_s == 3.0


async def test_non_json_error_body_is_still_typed() -> None:
    seen: list[web.Request] = []
    app = scripted([web.Response(status=404, text="nope")], seen)
    async with serve(app) as url, MultimodalClient(endpoint=url) as sdk:
        with pytest.raises(NotFoundError) as caught:
            await sdk.embed(["x"])
    assert caught.value.message == "nope" and caught.value.code is None


async def test_unreachable_router_is_a_connection_failure() -> None:
    sleeps = Sleeps()
    endpoint = f"http://127.0.0.1:{free_port()}"
    async with MultimodalClient(endpoint=endpoint, max_retries=1, sleep=sleeps) as sdk:
        with pytest.raises(ConnectionFailed) as caught:
            await sdk.embed(["x"])
    assert caught.value.status is None
    assert sleeps.delays == [0.5]


async def test_stream_reports_an_in_band_error_as_typed() -> None:
    async def chat(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        chunk = {"choices": [{"index": 0, "delta": {"content": "Hel"}}]}
        failure = {"error": {"code": "central_error", "message": "boom", "status": 503}}
        for event in (chunk, failure):
            await response.write(f"data: {json.dumps(event)}\n\n".encode())
        await response.write(b"data: [DONE]\n\n")
        return response

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    pieces: list[str] = []
    async with serve(app) as url, MultimodalClient(endpoint=url) as sdk:
        with pytest.raises(ServiceUnavailableError) as caught:
            async for piece in sdk.stream("hi"):
                pieces.append(piece)
    assert pieces == ["Hel"]
    assert caught.value.code == "central_error"
