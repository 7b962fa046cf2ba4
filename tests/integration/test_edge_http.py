"""The edge node over HTTP on the real models: every task, bad input, readiness, concurrency."""

import asyncio
import base64
import io
import json
import threading
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import numpy as np
import pytest
from PIL import Image
from skimage import data as photos

from benchmarks.loadgen import server_ms
from edge_models.registry import EdgeModelsConfig, EdgeRegistry, load_models
from edge_models.sessions import SessionOptions
from edge_models.text import TextEncoder
from router.app import create_app
from router.keys import EDGE
from tests.servers import edge_settings, serve
from tests.speech_fixtures import render_speech_wav, require_espeak, wav_bytes

GENERATE = "/v3/models/{model}/generate"


def png(array: np.ndarray) -> str:
    """Base64 PNG of an image array."""
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


@pytest.fixture(scope="module")
def cat_png() -> str:
    return png(photos.chelsea())


@pytest.fixture(scope="module")
def speech_wav() -> str:
    require_espeak()
    return base64.b64encode(render_speech_wav(lead_silence_s=0.5)).decode()


async def post(
    http: aiohttp.ClientSession, url: str, body: Any, model: str = "auto", **kwargs: Any
) -> tuple[int, dict[str, Any], aiohttp.typedefs.LooseHeaders]:
    """POST a generate request and return status, JSON body and headers."""
    async with http.post(url + GENERATE.format(model=model), json=body, **kwargs) as response:
        return response.status, await response.json(), response.headers


async def test_embed_pinned_to_edge_model(http: aiohttp.ClientSession, edge_url: str) -> None:
    status, body, headers = await post(
        http, edge_url, {"inputs": {"text": "hello edge"}}, model="all-minilm-l6-v2"
    )
    assert status == 200
    assert headers["X-Route"] == "edge"
    assert headers["X-Route-Reason"] == "pinned:edge"
    assert len(headers["X-Request-Id"]) >= 8
    assert len(body["outputs"][0]["embedding"]) == 384
    assert body["route"] == "edge"


async def test_answers_carry_the_edge_time_in_server_timing(
    http: aiohttp.ClientSession, edge_url: str
) -> None:
    """`Server-Timing: edge;dur=ms` lets a caller split its latency into edge and network."""
    for model, body in (
        ("all-minilm-l6-v2", {"inputs": {"text": "timed"}, "parameters": {"cache": False}}),
        ("all-minilm-l6-v2", {"inputs": []}),  # errors are timed too
    ):
        started = time.perf_counter()
        status, _, headers = await post(http, edge_url, body, model=model)
        client_ms = (time.perf_counter() - started) * 1000
        edge_ms = server_ms(headers["Server-Timing"])
        assert edge_ms is not None, headers["Server-Timing"]
        assert 0 < edge_ms <= client_ms, (status, edge_ms, client_ms)


async def test_classify_routes_to_edge(http: aiohttp.ClientSession, edge_url: str) -> None:
    status, body, headers = await post(
        http,
        edge_url,
        {
            "inputs": [
                {"text": "The striker scored a goal"},
                {"text": "Bake the bread for an hour"},
            ],
            "parameters": {"labels": ["sports", "cooking"]},
        },
    )
    assert status == 200, body
    assert headers["X-Route"] == "edge"
    assert [o["labels"][0]["label"] for o in body["outputs"]] == ["sports", "cooking"]


async def test_classify_image_on_a_real_photo(
    http: aiohttp.ClientSession, edge_url: str, cat_png: str
) -> None:
    status, body, _ = await post(
        http, edge_url, {"inputs": {"image": cat_png}, "parameters": {"top_k": 5}}
    )
    assert status == 200, body
    labels = [x["label"] for x in body["outputs"][0]["labels"]]
    assert len(labels) == 5
    assert {"tabby", "tiger cat", "Egyptian cat"} & set(labels[:3])


async def test_detect_speech_in_real_speech(
    http: aiohttp.ClientSession, edge_url: str, speech_wav: str
) -> None:
    status, body, _ = await post(http, edge_url, {"inputs": {"audio": speech_wav}})
    assert status == 200, body
    segments = body["outputs"][0]["segments"]
    assert segments and segments[0]["start_s"] >= 0.3


async def test_no_speech_in_silence(http: aiohttp.ClientSession, edge_url: str) -> None:
    silence = base64.b64encode(wav_bytes(np.zeros(16000, dtype=np.float32), 16000)).decode()
    status, body, _ = await post(http, edge_url, {"inputs": {"audio": silence}})
    assert status == 200
    assert body["outputs"][0]["segments"] == []


async def test_openai_embeddings_float_and_base64_agree(
    http: aiohttp.ClientSession, edge_url: str
) -> None:
    request = {"input": ["first text", "second text"], "model": "all-minilm-l6-v2"}
    async with http.post(edge_url + "/v1/embeddings", json=request) as response:
        floats = await response.json()
    async with http.post(
        edge_url + "/v1/embeddings", json={**request, "encoding_format": "base64"}
    ) as response:
        encoded = await response.json()
    assert [d["index"] for d in floats["data"]] == [0, 1]
    for plain, packed in zip(floats["data"], encoded["data"], strict=True):
        decoded = np.frombuffer(base64.b64decode(packed["embedding"]), dtype="<f4")
        np.testing.assert_allclose(decoded, plain["embedding"], rtol=1e-6)


async def test_long_text_is_truncated_and_flagged(
    http: aiohttp.ClientSession, edge_url: str
) -> None:
    status, body, _ = await post(
        http, edge_url, {"inputs": {"text": "token " * 2000}}, model="all-minilm-l6-v2"
    )
    assert status == 200
    assert body["outputs"][0]["truncated"] is True


BAD_BODIES = [
    ({"inputs": {"text": "x", "task": "translate"}}, "invalid_request"),
    ({"inputs": {"task": "embed"}}, "missing_text"),
    ({"inputs": {"text": "", "task": "embed"}}, "missing_text"),
    ({"inputs": []}, "invalid_request"),  # the schema says minItems 1
    ({"inputs": [{"text": "x", "task": "embed"}] * 65}, "too_many_inputs"),
    ({"inputs": {"image": "not base64!!"}}, "invalid_base64"),
    (
        {"inputs": {"image": base64.b64encode(b"plain text, not an image").decode()}},
        "invalid_image",
    ),
    (
        {"inputs": {"image": base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\0" * 40).decode()}},
        "invalid_image",
    ),
    ({"inputs": {"audio": base64.b64encode(b"RIFF1234WAVEjunk").decode()}}, "invalid_audio"),
    (
        {"inputs": {"audio": base64.b64encode(wav_bytes(np.zeros(0, np.float32), 16000)).decode()}},
        "invalid_audio",
    ),
    ({"inputs": {"text": "x"}, "parameters": {"temperature": 1e308 * 10}}, "number_too_large"),
    ({"inputs": {"text": "x"}, "parameters": {"max_tokens": 10**12}}, "invalid_request"),
    ({"inputs": {"text": "x"}, "parameters": {"top_k": -1}}, "invalid_request"),
    ({"inputs": {"text": "x"}, "parameters": {"labels": ["only"]}}, "invalid_request"),
    ({"inputs": {"text": "x"}, "unexpected": 1}, "invalid_request"),
    (
        {"inputs": [{"text": "x", "task": "embed"}, {"text": "y", "task": "classify"}]},
        "mixed_tasks",
    ),
]


@pytest.mark.parametrize(("body", "code"), BAD_BODIES)
async def test_bad_input_gets_400_json(
    http: aiohttp.ClientSession, edge_url: str, body: dict[str, Any], code: str
) -> None:
    raw = json.dumps(body).replace("Infinity", "1e999")
    async with http.post(
        edge_url + GENERATE.format(model="auto"),
        data=raw,
        headers={"Content-Type": "application/json"},
    ) as response:
        assert response.status == 400
        error = (await response.json())["error"]
    assert error["code"] == code, error
    assert error["request_id"] == response.headers["X-Request-Id"]


async def test_nan_is_rejected(http: aiohttp.ClientSession, edge_url: str) -> None:
    raw = '{"inputs": {"text": "x"}, "parameters": {"temperature": NaN}}'
    async with http.post(
        edge_url + GENERATE.format(model="auto"),
        data=raw,
        headers={"Content-Type": "application/json"},
    ) as response:
        assert response.status == 400


@pytest.mark.parametrize(
    ("data", "content_type", "status", "type_"),
    [
        ("{not json", "application/json", 400, "invalid_request_error"),
        ("text=hello", "application/x-www-form-urlencoded", 415, "unsupported_media_type"),
        ("[" * 100_000 + "]" * 100_000, "application/json", 400, "invalid_request_error"),
    ],
)
async def test_malformed_bodies(
    http: aiohttp.ClientSession,
    edge_url: str,
    data: str,
    content_type: str,
    status: int,
    type_: str,
) -> None:
    async with http.post(
        edge_url + GENERATE.format(model="auto"), data=data, headers={"Content-Type": content_type}
    ) as response:
        assert response.status == status
        assert (await response.json())["error"]["type"] == type_


async def test_body_over_limit_is_413(http: aiohttp.ClientSession, edge_url: str) -> None:
    big = json.dumps({"inputs": {"text": "x" * (11 * 1024 * 1024)}})
    async with http.post(
        edge_url + GENERATE.format(model="auto"),
        data=big,
        headers={"Content-Type": "application/json"},
    ) as response:
        assert response.status == 413
        assert (await response.json())["error"]["type"] == "request_too_large"


async def test_unknown_model_and_route(http: aiohttp.ClientSession, edge_url: str) -> None:
    status, body, _ = await post(http, edge_url, {"inputs": {"text": "x"}}, model="gpt-9")
    assert status == 404 and body["error"]["code"] == "unknown_model"
    async with http.get(edge_url + "/nope") as response:
        assert response.status == 404
        assert response.content_type == "application/json"


async def test_server_keeps_serving_after_bad_input(
    http: aiohttp.ClientSession, edge_url: str
) -> None:
    for _ in range(3):
        await post(http, edge_url, {"inputs": {"image": "@@@"}})
    status, _, _ = await post(http, edge_url, {"inputs": {"text": "still here", "task": "embed"}})
    assert status == 200


async def test_metrics_expose_requests_and_batches(
    http: aiohttp.ClientSession, edge_url: str
) -> None:
    await post(http, edge_url, {"inputs": {"text": "count me", "task": "embed"}})
    async with http.get(edge_url + "/metrics") as response:
        text = await response.text()
    assert 'edge_requests_total{route="edge",status="200",task="embed"}' in text
    assert 'edge_batch_size_count{model="all-minilm-l6-v2"}' in text
    assert "edge_queue_depth" in text


@pytest.fixture(scope="module")
async def burst_edge(central_url: str) -> AsyncIterator[str]:
    """An edge node sized to absorb a burst: admission allows 10 s of queued work."""
    app = create_app(
        edge_settings(
            central_url,
            models={"max_queue_delay_ms": 10_000, "latency_target_factor": 1000},
            routing={"warmup_probe": False},
        )
    )
    async with serve(app) as url:
        await asyncio.wait_for(app[EDGE].wait_ready(), 120)
        yield url


async def test_200_concurrent_mixed_requests_each_get_their_own_answer(
    http: aiohttp.ClientSession, burst_edge: str, cat_png: str, speech_wav: str
) -> None:
    edge_url = burst_edge
    encoder = TextEncoder.load(SessionOptions())
    texts = [
        f"request number {i} is about {['cats', 'money', 'rain', 'code'][i % 4]}"
        for i in range(120)
    ]
    expected = encoder.embed(texts)
    topics = ["sports", "weather"]

    async def one(i: int) -> tuple[str, int, dict[str, Any]]:
        if i < 120:
            status, body, _ = await post(
                http, edge_url, {"inputs": {"text": texts[i], "task": "embed"}}
            )
            return "embed", i, body if status == 200 else {"status": status}
        if i < 160:
            text = "Heavy snow is forecast" if i % 2 else "The team won the match"
            status, body, _ = await post(
                http,
                edge_url,
                {"inputs": {"text": text}, "parameters": {"labels": topics, "route": "edge"}},
            )
            return "classify", i, body if status == 200 else {"status": status}
        if i < 185:
            status, body, _ = await post(http, edge_url, {"inputs": {"image": cat_png}})
            return "image", i, body if status == 200 else {"status": status}
        status, body, _ = await post(http, edge_url, {"inputs": {"audio": speech_wav}})
        return "speech", i, body if status == 200 else {"status": status}

    results = await asyncio.gather(*(one(i) for i in range(200)))
    assert len(results) == 200
    for kind, i, body in results:
        assert "outputs" in body, (kind, i, body)
        output = body["outputs"][0]
        if kind == "embed":
            assert float(np.dot(output["embedding"], expected[i])) > 0.999
        elif kind == "classify":
            want = "weather" if i % 2 else "sports"
            assert output["labels"][0]["label"] == want
        elif kind == "image":
            assert output["labels"][0]["label"] in {"tabby", "tiger cat", "Egyptian cat"}
        else:
            assert output["segments"]


@pytest.fixture
async def gated_edge() -> AsyncIterator[tuple[str, threading.Event]]:
    """An edge node whose model loading waits until the test opens the gate."""
    gate = threading.Event()

    def slow_loader(config: EdgeModelsConfig) -> EdgeRegistry:
        gate.wait(30)
        return load_models(config)

    settings = edge_settings(models={"tasks": ["embed"]})
    async with serve(create_app(settings, edge_loader=slow_loader)) as url:
        yield url, gate
        gate.set()


async def test_readyz_is_503_until_models_are_warm(
    http: aiohttp.ClientSession, gated_edge: tuple[str, threading.Event]
) -> None:
    url, gate = gated_edge
    async with http.get(url + "/healthz") as response:
        assert response.status == 200
    async with http.get(url + "/readyz") as response:
        assert response.status == 503
        assert (await response.json())["reason"] == "loading"
    status, body, _ = await post(http, url, {"inputs": {"text": "x"}}, model="all-minilm-l6-v2")
    assert status == 503 and body["error"]["code"] == "not_ready"
    gate.set()
    for _ in range(200):
        async with http.get(url + "/readyz") as response:
            if response.status == 200:
                break
        await asyncio.sleep(0.05)
    assert response.status == 200
    status, _, _ = await post(http, url, {"inputs": {"text": "x"}}, model="all-minilm-l6-v2")
    assert status == 200
