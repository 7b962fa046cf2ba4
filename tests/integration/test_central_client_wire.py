"""The central client over real HTTP: body limits, streams, concurrency and fallback."""

import asyncio
import base64
import json
from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp
import pytest
from aiohttp import web

from central_client.adapters import CentralCall
from central_client.client import CentralClient
from central_client.config import ClientConfig, ProviderConfig
from central_client.factory import build_client, central_client
from central_client.settings import CentralClientSettings
from central_client.transport import AiohttpTransport
from common.errors import BadUpstream
from router.app import create_app
from tests.openai_upstream import Upstream, upstream_app
from tests.servers import TEST_KEY_ID, TEST_SECRET, edge_settings, free_port, serve
from tests.unit.test_client_adapters import wav_bytes


def v3_sized_app(size: int, chunked: bool) -> web.Application:
    """A /v3 upstream whose JSON answer is exactly `size` bytes."""
    empty = len(json.dumps({"outputs": [{"text": ""}]}).encode())
    body = json.dumps({"outputs": [{"text": "x" * (size - empty)}]}).encode()
    assert len(body) == size

    async def handler(request: web.Request) -> web.StreamResponse:
        if not chunked:
            return web.Response(body=body, content_type="application/json")
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        for start in range(0, len(body), 50_000):
            await response.write(body[start : start + 50_000])
        await response.write_eof()
        return response

    app = web.Application()
    app.router.add_post("/v3/models/{model}/generate", handler)
    return app


def v3_client(session: aiohttp.ClientSession, url: str, limit: int) -> CentralClient:
    provider = ProviderConfig("central", "v3", url, "m", key_id=TEST_KEY_ID, secret=TEST_SECRET)
    config = ClientConfig(providers=(provider,), max_response_bytes=limit, batch_size=1)
    return build_client(config, AiohttpTransport(session))


def call(text: str = "hi", task: str = "generate", **item: object) -> CentralCall:
    return CentralCall(task, ({"text": text, **item},), (("max_tokens", 8),), "r")


@pytest.mark.parametrize("chunked", [False, True])
async def test_answers_are_read_whole_up_to_the_limit_and_not_a_byte_more(chunked: bool) -> None:
    limit = 300_000  # well over what aiohttp buffers at once
    async with aiohttp.ClientSession() as session:
        async with serve(v3_sized_app(limit, chunked)) as url:
            answer = await v3_client(session, url, limit).call(call())
            assert len(answer.outputs[0]["text"]) > 290_000
        async with serve(v3_sized_app(limit + 1, chunked)) as url:
            with pytest.raises(BadUpstream) as err:
                await v3_client(session, url, limit).call(call())
            assert err.value.code == "upstream_too_large"


async def test_a_10_mb_valid_answer_arrives() -> None:
    async with aiohttp.ClientSession() as session, serve(v3_sized_app(10_000_000, True)) as url:
        answer = await v3_client(session, url, 16 * 1024 * 1024).call(call())
    assert len(answer.outputs[0]["text"]) > 9_900_000


@pytest.fixture
async def openai_upstream() -> AsyncIterator[tuple[str, Upstream]]:
    state = Upstream(api_key="sk-upstream-key-123456")
    async with serve(upstream_app(state)) as url:
        yield url, state


def openai_settings(url: str, **extra: object) -> CentralClientSettings:
    entry = {
        "name": "oa",
        "protocol": "openai",
        "url": url,
        "model": "m",
        "api_key": "sk-upstream-key-123456",
        "transcription_model": "whisper-x",
        "image_model": "img-x",
        **extra,
    }
    return CentralClientSettings(providers=[entry])


async def test_openai_tasks_over_http(openai_upstream: tuple[str, Upstream]) -> None:
    url, state = openai_upstream
    async with central_client(openai_settings(url)) as client:
        assert client is not None
        chat = await client.call(call("hello"))
        assert chat.outputs[0]["text"] == "echo: hello" and chat.provider == "oa"
        pieces = [e async for e in client.stream(call("one two three"))]
        assert "".join(e["text"] for e in pieces) == "echo: one two three"
        assert pieces[-1]["finish_reason"] == "stop" and pieces[-1]["usage"]["completion_tokens"]
        audio = base64.b64encode(wav_bytes()).decode()
        heard = await client.call(CentralCall("transcribe", ({"audio": audio},), (), "r"))
        assert heard.outputs[0]["text"].endswith("of audio/wav as audio.wav")
        image = CentralCall(
            "generate",
            ({"text": "a cat", "modality": "image"},),
            (("response_format", "base64"),),
            "r",
        )
        assert "image_base64" in (await client.call(image)).outputs[0]
    assert {"model": "whisper-x", "type": "audio/wav"} in state.seen


@pytest.mark.parametrize(
    ("mode", "code"),
    [
        ("garbage-json", "upstream_garbage"),
        ("wrong-shape", "bad_upstream_shape"),
        ("html", "upstream_truncated"),
        ("long-line", "upstream_line_too_long"),
        ("truncated", "upstream_truncated"),
    ],
)
async def test_streamed_garbage_raises_a_typed_error(
    openai_upstream: tuple[str, Upstream], mode: str, code: str
) -> None:
    url, state = openai_upstream
    state.mode = mode
    async with central_client(openai_settings(url)) as client:
        assert client is not None
        with pytest.raises(BadUpstream) as err:
            [e async for e in client.stream(call("x"))]
    assert err.value.code == code


async def test_200_overlapping_chats_with_default_settings_all_answer(
    openai_upstream: tuple[str, Upstream],
) -> None:
    url, _ = openai_upstream
    settings = CentralClientSettings(
        protocol="openai", url=url, model="m", api_key="sk-upstream-key-123456"
    )
    async with central_client(settings) as client:
        assert client is not None
        answers = await asyncio.gather(
            *(client.call(call(f"caller {i}")) for i in range(200)), return_exceptions=True
        )
        errors = [(a, a.__cause__) for a in answers if isinstance(a, BaseException)]
        assert errors == []
        assert [a.outputs[0]["text"] for a in answers] == [f"echo: caller {i}" for i in range(200)]

        async def one_stream(i: int) -> str:
            return "".join([e["text"] async for e in client.stream(call(f"stream {i} words"))])

        texts = await asyncio.gather(*(one_stream(i) for i in range(40)))
        assert texts == [f"echo: stream {i} words" for i in range(40)]


async def test_stop_provider_one_mid_run_then_bring_it_back() -> None:
    first, second = Upstream(name="p1"), Upstream(name="p2")
    port = free_port()
    settings = CentralClientSettings(
        providers=[
            {"name": "p1", "url": f"http://127.0.0.1:{port}", "model": "m"},
            {"name": "p2", "url": "http://127.0.0.1:9", "model": "m"},  # replaced below
        ],
        breaker={"failure_threshold": 2, "recovery_timeout_s": 0.5},
        hedge={"enabled": False},
    )
    lost: list[BaseException] = []
    answered_by: list[str] = []

    async def traffic(client: CentralClient, n: int) -> None:
        loop = asyncio.get_running_loop()
        for i in range(n):
            deadline = loop.time() + 2.0
            job = CentralCall("generate", ({"text": f"r{i}"},), (), "r", deadline)
            try:
                answer = await client.call(job)
                answered_by.append(answer.provider)
                assert answer.outputs[0]["text"] == f"echo: r{i}"
            except Exception as exc:
                lost.append(exc)
            await asyncio.sleep(0.005)

    async with serve(upstream_app(second)) as url2:
        settings.providers[1].url = url2
        async with central_client(settings) as client:
            assert client is not None
            async with serve(upstream_app(first), port=port):
                await traffic(client, 20)
            assert answered_by[-1] == "p1"
            answered_by.clear()
            await traffic(client, 30)  # provider 1 is gone
            assert set(answered_by) == {"p2"}
            async with serve(upstream_app(first), port=port):
                for _ in range(200):  # poll until the breaker lets a probe through
                    await traffic(client, 1)
                    if answered_by[-1] == "p1":
                        break
                    await asyncio.sleep(0.05)
                assert answered_by[-1] == "p1"
                await traffic(client, 5)
                assert answered_by[-5:] == ["p1"] * 5
    assert lost == []


async def test_wrong_key_is_a_clear_502_without_the_key(
    openai_upstream: tuple[str, Upstream], caplog: pytest.LogCaptureFixture
) -> None:
    url, _ = openai_upstream
    wrong = "sk-wrong-key-abcdefghijklmnop"
    async with central_client(openai_settings(url, api_key=wrong)) as client:
        assert client is not None
        with pytest.raises(BadUpstream) as err:
            await client.call(call())
        assert err.value.code == "central_auth" and wrong not in err.value.message
        assert wrong not in json.dumps(client.describe())
    assert wrong not in caplog.text


@pytest.mark.parametrize("mode", ["truncated", "garbage-json", "html"])
async def test_the_edge_never_answers_garbage_with_a_silent_empty_stream(
    openai_upstream: tuple[str, Upstream], mode: str
) -> None:
    url, state = openai_upstream
    state.mode = mode
    central = {"providers": [openai_settings(url).providers[0].model_dump(mode="json")]}
    central["providers"][0]["api_key"] = "sk-upstream-key-123456"
    app = create_app(edge_settings(central=central, models={"tasks": []}))
    request = {"model": "auto", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    async with (
        serve(app) as edge,
        aiohttp.ClientSession() as http,
        http.post(edge + "/v1/chat/completions", json=request) as response,
    ):
        raw = (await response.read()).decode()
    if response.status == 200:  # text came first: the error is in-band, then the end
        events = [line[5:].strip() for line in raw.splitlines() if line.startswith("data:")]
        assert events[-1] == "[DONE]"
        assert json.loads(events[-2])["error"]["code"] == "upstream_truncated"
        assert "par" in raw
    else:  # nothing usable came: a JSON error before any event
        assert response.status == 502
        assert json.loads(raw)["error"]["code"] in ("upstream_garbage", "upstream_truncated")


async def test_200_overlapping_chats_through_the_edge_with_protocol_openai(
    openai_upstream: tuple[str, Upstream],
) -> None:
    url, _ = openai_upstream
    central = {"protocol": "openai", "url": url, "api_key": "sk-upstream-key-123456"}
    app = create_app(edge_settings(central=central, models={"tasks": []}))

    async def chat(http: aiohttp.ClientSession, edge: str, i: int) -> tuple[int, str, str]:
        body = {"model": "auto", "messages": [{"role": "user", "content": f"caller {i}"}]}
        async with http.post(edge + "/v1/chat/completions", json=body) as response:
            data = await response.json()
            reason = response.headers.get("X-Route-Reason", "")
        if response.status != 200:
            return response.status, json.dumps(data), reason
        return 200, data["choices"][0]["message"]["content"], reason

    async with serve(app) as edge, aiohttp.ClientSession() as http:
        results = await asyncio.gather(*(chat(http, edge, i) for i in range(200)))
    assert [r for r in results if r[0] != 200] == []
    assert [r[1] for r in results] == [f"echo: caller {i}" for i in range(200)]
    assert all(r[2].endswith(";provider=central") for r in results)


async def test_a_providers_cookie_never_rides_along_on_the_next_callers_call() -> None:
    # Providers behind a CDN set cookies; the edge calls for many callers, so none is kept.
    cookies_seen: list[str | None] = []

    @web.middleware
    async def set_cookie(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        cookies_seen.append(request.headers.get("Cookie"))
        response = await handler(request)
        response.set_cookie("caller", f"session-{len(cookies_seen)}", path="/")
        return response

    app = upstream_app(Upstream(api_key="sk-upstream-key-123456"))
    app.middlewares.append(set_cookie)
    async with serve(app) as url:  # by name: aiohttp's jar ignores cookies from IP addresses
        named = url.replace("127.0.0.1", "localhost")
        async with central_client(openai_settings(named)) as client:
            assert client is not None
            for text in ("first caller", "second caller"):
                answer = await client.call(call(text))
                assert answer.outputs[0]["text"] == f"echo: {text}"
    assert len(cookies_seen) >= 2 and set(cookies_seen) == {None}
