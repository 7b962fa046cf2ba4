"""Cache and privacy through the real edge node: X-Route cache, redaction before the central."""

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from router.app import create_app
from router.keys import EDGE
from tests.servers import edge_settings, serve

GEN = "/v3/models/{model}/generate"


async def generate(
    http: aiohttp.ClientSession,
    url: str,
    body: dict[str, Any],
    model: str = "auto",
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, Any], Any]:
    async with http.post(url + GEN.format(model=model), json=body, headers=headers) as response:
        return response.status, await response.json(), response.headers


async def test_second_identical_embed_is_a_cache_hit(
    http: aiohttp.ClientSession, edge_url: str
) -> None:
    body = {"inputs": {"text": f"cache me {uuid.uuid4()}", "task": "embed"}}
    _, first, headers1 = await generate(http, edge_url, body)
    _, second, headers2 = await generate(http, edge_url, body)
    assert headers1["X-Route"] == "edge"
    assert headers2["X-Route"] == "cache"
    assert headers2["X-Route-Reason"] == "cache:exact"
    assert second["outputs"] == first["outputs"]


async def test_changed_parameter_misses(http: aiohttp.ClientSession, edge_url: str) -> None:
    text = f"classify me {uuid.uuid4()}"
    body = {"inputs": {"text": text}, "parameters": {"labels": ["a", "b"], "route": "edge"}}
    await generate(http, edge_url, body)
    other = {"inputs": {"text": text}, "parameters": {"labels": ["a", "c"], "route": "edge"}}
    _, _, headers = await generate(http, edge_url, other)
    assert headers["X-Route"] == "edge"


async def test_no_store_and_no_cache_are_respected(
    http: aiohttp.ClientSession, edge_url: str
) -> None:
    body = {"inputs": {"text": f"fresh {uuid.uuid4()}", "task": "embed"}}
    await generate(http, edge_url, body, headers={"Cache-Control": "no-store"})
    _, _, headers = await generate(http, edge_url, body)
    assert headers["X-Route"] == "edge"  # the no-store answer was not kept
    _, _, headers = await generate(http, edge_url, body, headers={"Cache-Control": "no-cache"})
    assert headers["X-Route"] == "edge"  # no-cache does not read


async def test_generate_at_temperature_zero_is_not_proof_enough_to_cache(
    http: aiohttp.ClientSession, edge_url: str
) -> None:
    """Greedy decoding still differs between batched and single calls: the central must vouch
    (`"deterministic": true` on its outputs) or the caller must ask (`cache: true`)."""
    body = {
        "inputs": {"text": f"Say hi to {uuid.uuid4().hex[:6]}."},
        "parameters": {"max_tokens": 4, "temperature": 0},
    }
    _, _, h1 = await generate(http, edge_url, body)
    _, _, h2 = await generate(http, edge_url, body)
    assert (h1["X-Route"], h2["X-Route"]) == ("central", "central")
    body["parameters"]["cache"] = True
    _, first, h3 = await generate(http, edge_url, body)
    _, second, h4 = await generate(http, edge_url, body)
    assert (h3["X-Route"], h4["X-Route"]) == ("central", "cache")
    assert first["outputs"] == second["outputs"]
    body["parameters"] = {"max_tokens": 4, "temperature": 0.9}
    _, _, h5 = await generate(http, edge_url, body)
    assert h5["X-Route"] == "central"


async def stream_back(request: web.Request, text: str) -> web.StreamResponse:
    """Echo `text` as server-sent events three characters at a time (splitting placeholders)."""
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await response.prepare(request)
    for start in range(0, len(text), 3):
        await response.write(f"data: {json.dumps({'text': text[start : start + 3]})}\n\n".encode())
    final = {
        "text": "",
        "finish_reason": "stop",
        "usage": {"prompt_tokens": 1, "completion_tokens": 1},
    }
    await response.write(f"data: {json.dumps(final)}\n\ndata: [DONE]\n\n".encode())
    return response


class RecordingCentral:
    """A central stand-in that records every input it receives and echoes the text back."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def app(self) -> web.Application:
        async def handler(request: web.Request) -> web.StreamResponse:
            body = await request.json()
            inputs = body["inputs"] if isinstance(body["inputs"], list) else [body["inputs"]]
            self.seen.extend(json.dumps(i) for i in inputs)  # everything that left the edge
            if body["parameters"].get("stream"):
                said = inputs[0].get("text") or inputs[0]["messages"][-1]["content"]
                return await stream_back(request, f"You said: {said}")
            return web.json_response(
                {
                    "model": "recorder",
                    "outputs": [{"text": f"You said: {i.get('text', '')}"} for i in inputs],
                }
            )

        async def models(request: web.Request) -> web.Response:
            return web.json_response({"data": [{"id": "recorder", "tasks": ["generate"]}]})

        app = web.Application()
        app.router.add_post("/v3/models/{model}/generate", handler)
        app.router.add_get("/v1/models", models)
        return app


@pytest.fixture(scope="module")
async def redacting_edge() -> AsyncIterator[tuple[str, RecordingCentral]]:
    recorder = RecordingCentral()
    async with serve(recorder.app()) as central:
        app = create_app(
            edge_settings(
                central,
                models={"tasks": ["embed"]},
                routing={"privacy_mode": "redact", "warmup_probe": False},
                central={"batch": {"enabled": False}},
            )
        )
        async with serve(app) as url:
            await asyncio.wait_for(app[EDGE].wait_ready(), 60)
            yield url, recorder


def cn_id(region: int, year: int, month: int, day: int, seq: int) -> str:
    body = f"{region:06d}{year:04d}{month:02d}{day:02d}{seq:03d}"
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    check = "10X98765432"[sum(int(c) * w for c, w in zip(body, weights, strict=True)) % 11]
    return body + check


def luhn_card(prefix: str) -> str:
    digits = [int(c) for c in prefix]
    total = 0
    for i, d in enumerate(reversed(digits)):
        total += d if i % 2 else (d * 2 - 9 if d * 2 > 9 else d * 2)
    return prefix + str((10 - total % 10) % 10)


pii_values = st.one_of(
    st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True),
    st.from_regex(r"[a-z]{3,8}\.[a-z]{2,6}@[a-z]{3,8}\.(com|org|cn)", fullmatch=True),
    st.builds(
        cn_id,
        st.sampled_from([110101, 310104, 440305, 510107, 650102]),  # real region codes
        st.integers(1950, 2005),
        st.integers(1, 12),
        st.integers(1, 28),
        st.integers(0, 999),
    ),
    st.builds(luhn_card, st.from_regex(r"6222[0-9]{11}", fullmatch=True)),
    st.from_regex(r"\+44 20 [0-9]{4} [0-9]{4}", fullmatch=True),
)
filler = st.text(alphabet="abcdefghij klmnop,.!?你好世界", max_size=20)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(before=filler, value=pii_values, after=filler)
async def test_pii_never_reaches_the_central_and_round_trips(
    redacting_edge: tuple[str, RecordingCentral], before: str, value: str, after: str
) -> None:
    url, recorder = redacting_edge
    text = f"{before} {value} {after}"
    async with aiohttp.ClientSession() as http:
        status, body, headers = await generate(
            http,
            url,
            {
                "inputs": {"text": text},
                "parameters": {"temperature": 0.5},
            },
        )
    assert status == 200, body
    assert headers["X-Route"] == "central"
    sent = recorder.seen[-1]
    assert value not in sent
    assert "[" in sent  # a placeholder went instead
    assert body["outputs"][0]["text"] == f"You said: {text}"


async def test_pii_pinned_to_the_edge_in_pin_mode(http: aiohttp.ClientSession) -> None:
    recorder = RecordingCentral()
    async with serve(recorder.app()) as central:
        app = create_app(
            edge_settings(
                central,
                models={"tasks": ["embed", "classify"]},
                routing={"privacy_mode": "pin", "warmup_probe": False},
            )
        )
        async with serve(app) as url:
            await asyncio.wait_for(app[EDGE].wait_ready(), 60)
            status, body, _ = await generate(
                http,
                url,
                {
                    "inputs": {"text": "mail me at li.lei@example.com please"},
                },
            )
            assert status == 403 and body["error"]["code"] == "privacy:pii-blocked"
            status, _, headers = await generate(
                http,
                url,
                {
                    "inputs": {"text": "mail me at li.lei@example.com"},
                    "parameters": {"labels": ["contact", "weather"]},
                },
            )
            assert status == 200 and headers["X-Route"] == "edge"
    assert recorder.seen == []


async def test_streamed_chat_is_redacted_and_restored(
    redacting_edge: tuple[str, RecordingCentral],
) -> None:
    url, recorder = redacting_edge
    text = "call me on 13812345678 or mail li.lei@example.com"
    pieces = []
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            url + "/v1/chat/completions",
            json={
                "model": "auto",
                "stream": True,
                "messages": [{"role": "user", "content": text}],
            },
        ) as response,
    ):
        assert response.status == 200, await response.text()
        async for line in response.content:
            data = line.decode().strip()
            if data.startswith("data: {"):
                for choice in json.loads(data[6:]).get("choices", []):
                    pieces.append(choice.get("delta", {}).get("content") or "")
    assert "13812345678" not in recorder.seen[-1]
    assert "li.lei@example.com" not in recorder.seen[-1]
    assert "".join(pieces) == f"You said: {text}"
