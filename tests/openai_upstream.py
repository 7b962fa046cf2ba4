"""A scripted OpenAI-compatible upstream for tests: echoes, streams, and fails on purpose.

Chat answers `echo: <last user text>`; streams it word by word with a usage chunk after the
finish chunk (as OpenAI does); embeddings are deterministic; transcription reports what file
it got; image generation answers b64_json or url. `Upstream.mode` switches on faults.
"""

import asyncio
import base64
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

PNG_1PX = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


@dataclass
class Upstream:
    """State and knobs of one scripted upstream."""

    api_key: str | None = None
    mode: str = "ok"  # ok | status | garbage-json | wrong-shape | html | long-line | truncated
    status: int = 503
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    seen: list[dict[str, Any]] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    name: str = "scripted"


def _last_user_text(messages: list[dict[str, Any]]) -> str:
    for message in reversed(messages):
        if message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, list):
                return " ".join(p.get("text", "") for p in content if p.get("type") == "text")
            return str(content)
    return ""


def vector(text: str, dims: int = 8) -> list[float]:
    """A deterministic embedding of `text`."""
    digest = hashlib.sha256(text.encode()).digest()
    return [b / 255 for b in digest[:dims]]


async def _sse(request: web.Request, chunks: list[bytes]) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await response.prepare(request)
    for chunk in chunks:
        await response.write(chunk)
        await asyncio.sleep(0)
    await response.write_eof()
    return response


def _chunk(model: str, delta: dict[str, Any], finish: str | None = None) -> bytes:
    body = {
        "id": "chatcmpl-x",
        "object": "chat.completion.chunk",
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return f"data: {json.dumps(body)}\n\n".encode()


def upstream_app(state: Upstream) -> web.Application:
    """The aiohttp app serving `state`'s script."""

    @web.middleware
    async def gate(request: web.Request, handler: Any) -> web.StreamResponse:
        state.paths.append(request.path)
        if state.api_key is not None and request.headers.get("Authorization") != (
            f"Bearer {state.api_key}"
        ):
            return web.json_response(
                {"error": {"message": "Incorrect API key provided", "type": "auth"}}, status=401
            )
        if state.delay_s:
            await asyncio.sleep(state.delay_s)
        if state.mode == "status":
            return web.json_response(
                {"error": {"message": f"scripted {state.status}", "type": "server_error"}},
                status=state.status,
                headers=state.headers,
            )
        return await handler(request)

    async def chat(request: web.Request) -> web.StreamResponse:
        body = await request.json()
        state.seen.append(body)
        text = f"echo: {_last_user_text(body['messages'])}"
        model = str(body.get("model", "m"))
        if not body.get("stream"):
            return web.json_response(
                {
                    "id": "chatcmpl-x",
                    "object": "chat.completion",
                    "model": model,
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": text},
                            "finish_reason": "stop",
                        }
                    ],
                    "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
                }
            )
        faults = {
            "garbage-json": [b"data: {not json\n\n"],
            "wrong-shape": [b'data: {"foo": 1}\n\n'],
            "html": [b"<html><body>502 Bad Gateway</body></html>\n"],
            "long-line": [b"data: " + b"x" * (600 * 1024) + b"\n\n"],
            "truncated": [_chunk(model, {"role": "assistant", "content": "par"})],
        }
        if state.mode in faults:
            return await _sse(request, faults[state.mode])
        words = text.split(" ")
        chunks = [_chunk(model, {"role": "assistant", "content": ""})]
        chunks += [_chunk(model, {"content": (" " if i else "") + w}) for i, w in enumerate(words)]
        chunks.append(_chunk(model, {}, "stop"))
        usage = {"prompt_tokens": 3, "completion_tokens": len(words), "total_tokens": 3}
        chunks.append(f"data: {json.dumps({'choices': [], 'usage': usage})}\n\n".encode())
        chunks.append(b"data: [DONE]\n\n")
        return await _sse(request, chunks)

    async def embeddings(request: web.Request) -> web.Response:
        body = await request.json()
        state.seen.append(body)
        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        rows = [
            {"object": "embedding", "index": i, "embedding": vector(t)}
            for i, t in enumerate(inputs)
        ]
        return web.json_response(
            {"object": "list", "model": body.get("model"), "data": rows[::-1], "usage": {}}
        )

    async def transcriptions(request: web.Request) -> web.Response:
        form = await request.post()
        upload = form["file"]
        assert isinstance(upload, web.FileField)
        data = upload.file.read()
        state.seen.append({"model": form.get("model"), "type": upload.content_type})
        return web.json_response(
            {"text": f"{len(data)} bytes of {upload.content_type} as {upload.filename}"}
        )

    async def images(request: web.Request) -> web.Response:
        body = await request.json()
        state.seen.append(body)
        if body.get("response_format") == "b64_json":
            return web.json_response({"data": [{"b64_json": base64.b64encode(PNG_1PX).decode()}]})
        return web.json_response({"data": [{"url": "https://images.example/1.png"}]})

    async def models(request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [{"id": "m", "object": "model"}]})

    app = web.Application(middlewares=[gate], client_max_size=64 * 1024 * 1024)
    app.router.add_post("/v1/chat/completions", chat)
    app.router.add_post("/v1/embeddings", embeddings)
    app.router.add_post("/v1/audio/transcriptions", transcriptions)
    app.router.add_post("/v1/images/generations", images)
    app.router.add_get("/v1/models", models)
    return app
