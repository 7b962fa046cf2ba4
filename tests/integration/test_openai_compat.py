"""The real `openai` SDK against the edge: chat (sync, async, streamed), embeddings, models."""

import asyncio
import base64
import json
import re
from collections.abc import AsyncIterator

import aiohttp
import numpy as np
import openai
import pytest
from aiohttp import web

from central_service.keys import ENGINE
from central_service.llm import LlmEngine
from central_service.service import create_central_app
from router.app import create_app
from router.keys import EDGE
from tests.servers import central_settings, edge_settings, serve

SMALL = {"max_tokens": 8, "temperature": 0.0}
HELLO = [{"role": "user", "content": "Say hello in one word."}]
DECODES = re.compile(r"^llamacpp:n_decode_total\s+(\S+)$", re.MULTILINE)


@pytest.fixture
def sync_client(edge_url: str) -> openai.OpenAI:
    """The blocking SDK client (call it from a thread: the edge runs on this loop)."""
    return openai.OpenAI(base_url=edge_url + "/v1", api_key="unused", max_retries=0)


@pytest.fixture
async def async_client(edge_url: str) -> AsyncIterator[openai.AsyncOpenAI]:
    """The asyncio SDK client."""
    client = openai.AsyncOpenAI(base_url=edge_url + "/v1", api_key="unused", max_retries=0)
    yield client
    await client.close()


async def test_sync_chat_completion(sync_client: openai.OpenAI) -> None:
    raw = await asyncio.to_thread(
        sync_client.chat.completions.with_raw_response.create,
        model="auto",
        messages=HELLO,
        **SMALL,
    )
    completion = raw.parse()
    assert raw.headers["X-Route"] == "central"
    assert raw.headers["X-Route-Reason"]
    assert completion.object == "chat.completion"
    assert completion.choices[0].message.role == "assistant"
    assert completion.choices[0].message.content
    assert completion.choices[0].finish_reason in ("stop", "length")
    assert completion.usage is not None
    assert 0 < completion.usage.completion_tokens <= 8
    assert completion.usage.total_tokens == (
        completion.usage.prompt_tokens + completion.usage.completion_tokens
    )


async def test_async_chat_completion_with_system_and_parts(
    async_client: openai.AsyncOpenAI,
) -> None:
    completion = await async_client.chat.completions.create(
        model="auto",
        messages=[
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": [{"type": "text", "text": "Name a colour."}]},
        ],
        **SMALL,
    )
    assert completion.choices[0].message.content
    assert completion.id.startswith("chatcmpl-")


async def test_streamed_chat_concatenates_to_text(async_client: openai.AsyncOpenAI) -> None:
    stream = await async_client.chat.completions.create(
        model="auto",
        messages=HELLO,
        stream=True,
        stream_options={"include_usage": True},
        **SMALL,
    )
    pieces: list[str] = []
    finishes: list[str] = []
    usage = None
    async for chunk in stream:
        assert chunk.object == "chat.completion.chunk"
        for choice in chunk.choices:
            pieces.append(choice.delta.content or "")
            if choice.finish_reason is not None:
                finishes.append(choice.finish_reason)
        usage = chunk.usage or usage
    assert "".join(pieces).strip()
    assert finishes in (["stop"], ["length"])
    assert usage is not None and 0 < usage.completion_tokens <= 8


async def test_stream_matches_non_streamed_greedy_text(async_client: openai.AsyncOpenAI) -> None:
    whole = await async_client.chat.completions.create(model="auto", messages=HELLO, **SMALL)
    stream = await async_client.chat.completions.create(
        model="auto", messages=HELLO, stream=True, **SMALL
    )
    text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    assert text == whole.choices[0].message.content


async def test_unknown_model_is_a_typed_404(async_client: openai.AsyncOpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        await async_client.chat.completions.create(model="gpt-nonexistent", messages=HELLO)
    assert caught.value.status_code == 404
    assert "unknown_model" in str(caught.value.body)


async def test_n_above_one_is_rejected(async_client: openai.AsyncOpenAI) -> None:
    with pytest.raises(openai.BadRequestError):
        await async_client.chat.completions.create(model="auto", messages=HELLO, n=2, **SMALL)


async def test_embeddings_float_and_base64_agree(async_client: openai.AsyncOpenAI) -> None:
    texts = ["the cat sat on the mat", "quarterly revenue grew"]
    floats = await async_client.embeddings.create(model="all-minilm-l6-v2", input=texts)
    encoded = await async_client.with_options().embeddings.with_raw_response.create(
        model="all-minilm-l6-v2", input=texts, encoding_format="base64"
    )
    rows = json.loads(encoded.text)["data"]
    assert [d.index for d in floats.data] == [0, 1]
    for row, parsed in zip(rows, floats.data, strict=True):
        decoded = np.frombuffer(base64.b64decode(row["embedding"]), dtype="<f4")
        assert decoded.shape == (384,)
        np.testing.assert_allclose(decoded, np.asarray(parsed.embedding, dtype="<f4"))
    assert floats.data[0].embedding != floats.data[1].embedding


async def test_sdk_decodes_base64_embeddings_itself(sync_client: openai.OpenAI) -> None:
    # The SDK asks for base64 by default when numpy is present and decodes it: same vector.
    sdk = await asyncio.to_thread(
        sync_client.embeddings.create, model="all-minilm-l6-v2", input="hello world"
    )
    direct = await asyncio.to_thread(
        sync_client.embeddings.create,
        model="all-minilm-l6-v2",
        input="hello world",
        encoding_format="float",
    )
    np.testing.assert_allclose(sdk.data[0].embedding, direct.data[0].embedding, rtol=1e-6)


async def test_models_list(async_client: openai.AsyncOpenAI) -> None:
    page = await async_client.models.list()
    ids = {m.id for m in page.data}
    assert {"auto", "multimodal-pro", "all-minilm-l6-v2"} <= ids


# --- client disconnect stops the central's generation -------------------------------------


async def decodes(engine: LlmEngine) -> int:
    """llama.cpp's count of decode calls (one per generated token, cancelled runs included)."""
    text = await asyncio.get_running_loop().run_in_executor(
        None,
        engine._live_server().handle_metrics,  # the real llama.cpp counter
    )
    match = DECODES.search(str(text))
    assert match is not None
    return int(float(match.group(1)))


@pytest.fixture(scope="module")
async def own_stack() -> AsyncIterator[tuple[str, web.Application]]:
    """A central (one generation at a time) whose engine the test reads, and an edge before it."""
    central = create_central_app(central_settings(n_parallel=1))
    async with serve(central) as central_url:
        edge = create_app(edge_settings(central_url))
        async with serve(edge) as url:
            await asyncio.wait_for(edge[EDGE].wait_ready(), 120)
            yield url, central


LONG = {
    "model": "auto",
    "messages": [{"role": "user", "content": "Count from 1 to 500, separated by commas."}],
    "max_tokens": 96,
    "temperature": 0.0,
}


async def test_client_disconnect_stops_central_generation(
    own_stack: tuple[str, web.Application],
) -> None:
    url, central = own_stack
    engine = central[ENGINE]
    async with aiohttp.ClientSession() as http:
        # Reference: uninterrupted, this prompt generates all 96 tokens.
        async with http.post(url + "/v1/chat/completions", json=LONG) as response:
            body = await response.json()
        assert body["choices"][0]["finish_reason"] == "length"
        assert body["usage"]["completion_tokens"] == 96
        before = await decodes(engine)
        response = await http.post(url + "/v1/chat/completions", json={**LONG, "stream": True})
        assert response.status == 200
        seen = 0
        async for line in response.content:
            if line.startswith(b"data: {") and b'"content":' in line:
                seen += 1
            if seen == 3:
                break
        response.close()  # drop the connection mid-stream
        # A 1-token request queues behind the cancelled one on the engine's single worker,
        # so once it answers the cancelled generation has ended.
        async with http.post(url + "/v1/chat/completions", json={**LONG, "max_tokens": 1}) as probe:
            assert probe.status == 200
    after = await decodes(engine)
    generated = after - before - 2  # the probe: one prompt decode, one token
    assert 3 <= generated < 96 - 16


# --- streaming failures, against a scripted central (fakes for faults only) -------------------


def scripted_central(mode: str) -> web.Application:
    """A central that streams one piece and then fails as `mode` says, or refuses with 503."""

    async def generate(request: web.Request) -> web.StreamResponse:
        if mode == "refuse":
            body = {"error": {"type": "t", "code": "busy", "message": "busy", "request_id": "r"}}
            return web.json_response(body, status=503, headers={"Retry-After": "4"})
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(b'data: {"text": "Hel"}\n\n')
        if mode == "in-band":
            error = {"error": {"type": "model_error", "code": "model_error", "message": "boom"}}
            await response.write(f"data: {json.dumps(error)}\n\n".encode())
            await response.write(b"data: [DONE]\n\n")
        else:  # "drop": the connection dies mid-body
            assert request.transport is not None
            request.transport.close()
        return response

    app = web.Application()
    app.router.add_post("/v3/models/{model}/generate", generate)
    return app


async def edge_events(edge_url: str, payload: dict) -> tuple[aiohttp.ClientResponse, list[str]]:
    """POST a chat request; the response and its `data:` payloads."""
    async with (
        aiohttp.ClientSession() as http,
        http.post(edge_url + "/v1/chat/completions", json=payload) as response,
    ):
        lines = [line.decode().strip() async for line in response.content]
    return response, [line[5:].strip() for line in lines if line.startswith("data:")]


@pytest.mark.parametrize("mode", ["in-band", "drop"])
async def test_mid_stream_failure_is_reported_in_band(mode: str) -> None:
    async with serve(scripted_central(mode)) as central_url:
        edge = create_app(
            edge_settings(central_url, central={"retry": {"max_attempts": 1}}, models={"tasks": []})
        )
        async with serve(edge) as url:
            response, events = await edge_events(url, {**LONG, "stream": True})
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/event-stream")
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert chunks[1]["choices"][0]["delta"] == {"content": "Hel"}
    error = chunks[-1]["error"]
    assert error["code"] == ("model_error" if mode == "in-band" else "central_unreachable")
    assert error["request_id"] == response.headers["X-Request-Id"]
    assert not any(c.get("choices") and c["choices"][0]["finish_reason"] for c in chunks[:-1])


async def test_upstream_refusal_before_the_stream_is_a_json_error() -> None:
    async with serve(scripted_central("refuse")) as central_url:
        edge = create_app(
            edge_settings(central_url, central={"retry": {"max_attempts": 1}}, models={"tasks": []})
        )
        async with (
            serve(edge) as url,
            aiohttp.ClientSession() as http,
            http.post(url + "/v1/chat/completions", json={**LONG, "stream": True}) as response,
        ):
            body = await response.json()
    assert response.status == 503
    assert response.headers["Content-Type"].startswith("application/json")
    assert int(response.headers["Retry-After"]) >= 1
    assert body["error"]["code"] == "central_error"


async def test_rejected_stream_is_a_json_error_before_any_event(edge_url: str) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            edge_url + "/v1/chat/completions", json={**LONG, "stream": True, "route": "edge"}
        ) as response,
    ):
        body = await response.json()
    assert response.status == 400
    assert body["error"]["code"] == "pinned:edge-unable"


async def test_two_trailing_assistant_messages_are_a_400(async_client: openai.AsyncOpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        await async_client.chat.completions.create(
            model="auto",
            messages=[
                {"role": "user", "content": "hi"},
                {"role": "assistant", "content": "Hel"},
                {"role": "assistant", "content": "lo"},
            ],
            **SMALL,
        )
    assert "trailing_assistant_messages" in str(caught.value.body)
