"""OpenAI-compatible upstreams: the central's image provider, and the edge's `openai` protocol.

The upstream is a scripted stand-in: a real image model cannot run on this machine.
"""

import base64
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from central_service.service import create_central_app
from common.tokens import TokenMinter
from router.app import create_app
from tests.servers import TEST_KEY_ID, TEST_SECRET, central_settings, edge_settings, serve

AUD = "hybrid-router-central"


class OpenAIUpstream:
    """Records requests; answers chat completions, embeddings and image generations."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, Any], str]] = []

    def app(self) -> web.Application:
        async def record(request: web.Request) -> dict[str, Any]:
            body = await request.json()
            self.requests.append((request.path, body, request.headers.get("Authorization", "")))
            return body

        async def chat(request: web.Request) -> web.Response:
            body = await record(request)
            content = body["messages"][-1]["content"]
            described = (
                any(p.get("type") == "image_url" for p in content)
                if isinstance(content, list)
                else False
            )
            text = "a cat on a sofa" if described else f"echo: {content}"
            return web.json_response(
                {
                    "model": body["model"],
                    "choices": [
                        {"message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
                    ],
                    "usage": {"prompt_tokens": 5, "completion_tokens": 4},
                }
            )

        async def images(request: web.Request) -> web.Response:
            body = await record(request)
            item = (
                {"b64_json": "aW1hZ2U="}
                if body["response_format"] == "b64_json"
                else {"url": "https://images.example/1.png"}
            )
            return web.json_response({"data": [item]})

        async def embeddings(request: web.Request) -> web.Response:
            body = await record(request)
            return web.json_response(
                {
                    "model": body["model"],
                    "data": [
                        {"index": i, "embedding": [float(i), 1.0]}
                        for i in range(len(body["input"]))
                    ],
                }
            )

        app = web.Application()
        app.router.add_post("/v1/chat/completions", chat)
        app.router.add_post("/v1/images/generations", images)
        app.router.add_post("/v1/embeddings", embeddings)
        return app


@pytest.fixture(scope="module")
async def upstream() -> AsyncIterator[tuple[str, OpenAIUpstream]]:
    recorder = OpenAIUpstream()
    async with serve(recorder.app()) as url:
        yield url, recorder


async def test_central_uses_the_image_provider(
    http: aiohttp.ClientSession, upstream: tuple[str, OpenAIUpstream]
) -> None:
    url, recorder = upstream
    settings = central_settings(provider={"url": url, "api_key": "provider-key"})
    token = TokenMinter(TEST_KEY_ID, TEST_SECRET, AUD).token()
    headers = {"Authorization": f"Bearer {token}"}
    async with serve(create_central_app(settings)) as central:

        async def generate(inputs: dict[str, Any], **params: Any) -> dict[str, Any]:
            async with http.post(
                central + "/v3/models/multimodal-pro/generate",
                headers=headers,
                json={"inputs": inputs, "parameters": params},
            ) as response:
                assert response.status == 200, await response.text()
                return await response.json()

        jpeg = base64.b64encode(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(32)).decode()
        described = await generate({"text": "What is this?", "image": jpeg})
        assert described["outputs"][0]["text"] == "a cat on a sofa"
        path, body, auth = recorder.requests[-1]
        assert path == "/v1/chat/completions" and auth == "Bearer provider-key"
        url = body["messages"][0]["content"][1]["image_url"]["url"]
        assert url.startswith("data:image/jpeg;base64,")  # typed by its bytes, not assumed

        made = await generate({"text": "a red bicycle", "modality": "image"})
        assert made["outputs"][0] == {"image_url": "https://images.example/1.png"}
        made = await generate(
            {"text": "a red bicycle", "modality": "image"}, response_format="base64"
        )
        assert made["outputs"][0] == {"image_base64": "aW1hZ2U="}


async def test_edge_speaks_openai_to_an_openai_compatible_central(
    http: aiohttp.ClientSession, upstream: tuple[str, OpenAIUpstream]
) -> None:
    url, recorder = upstream
    app = create_app(
        edge_settings(
            url,
            models={"tasks": ["embed"]},
            central={"protocol": "openai", "model": "gpt-test", "api_key": "sk-provider-key"},
            routing={"warmup_probe": False},
        )
    )
    async with (
        serve(app) as edge,
        http.post(
            edge + "/v3/models/gpt-test/generate",
            json={
                "inputs": {"text": "hello upstream"},
                "parameters": {"max_tokens": 8},
            },
        ) as response,
    ):
        body = await response.json()
        assert response.status == 200, body
        assert response.headers["X-Route"] == "central"
        assert response.headers["X-Route-Reason"].endswith(";provider=central")
    assert body["outputs"][0]["text"] == "echo: hello upstream"
    path, sent, auth = recorder.requests[-1]
    assert path == "/v1/chat/completions" and sent["model"] == "gpt-test"
    assert sent["max_tokens"] == 8 and auth == "Bearer sk-provider-key"  # its key, not our JWT
