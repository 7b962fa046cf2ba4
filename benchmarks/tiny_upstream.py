"""A minimal `/v3` upstream that answers at once, to isolate the router's own cost.

`python -m benchmarks.tiny_upstream --port P` serves `POST /v3/models/{model}/generate`
(one `{"text": "ok"}` output per input, no auth), `GET /v1/models` and `GET /healthz`.
`POST /admin/fault {"mode": ...}` makes it fail on purpose, for the hardening benchmark:
`flap` (2 s healthy, 2 s 503), `slow` (answers after 5 s), `reset` (drops every other
connection mid-request), `storm429` (429 with Retry-After: 30), `hang` (never answers),
`garbage` (200 with an HTML page), `big` (each output is `size` characters), `none`.
"""

import argparse
import asyncio
import itertools
import json
import time
from typing import Any

from aiohttp import web

FAULT = web.AppKey("fault", dict)
FAULT_MODES = ("none", "flap", "slow", "reset", "storm429", "hang", "garbage", "big")

TASKS = ["generate", "embed", "classify"]


async def misbehave(request: web.Request) -> web.Response | None:
    """The configured fault's answer, or None to answer normally."""
    fault = request.app[FAULT]
    mode = fault["mode"]
    if mode == "flap" and int(time.monotonic() / 2) % 2:
        return web.json_response({"error": {"message": "flapping"}}, status=503)
    if mode == "slow":
        await asyncio.sleep(5)
    if mode == "reset" and next(fault["counter"]) % 2:
        assert request.transport is not None
        request.transport.close()
        raise asyncio.CancelledError  # the connection is gone; nothing to answer
    if mode == "hang":
        await asyncio.Event().wait()
    if mode == "garbage":
        return web.Response(text="<html><body>502 Bad Gateway</body></html>", status=200)
    if mode == "storm429":
        return web.json_response(
            {"error": {"message": "quota"}}, status=429, headers={"Retry-After": "30"}
        )
    return None


async def set_fault(request: web.Request) -> web.Response:
    """Switch the fault mode."""
    mode = (await request.json()).get("mode", "none")
    if mode not in FAULT_MODES:
        return web.json_response({"error": {"message": f"modes: {FAULT_MODES}"}}, status=400)
    request.app[FAULT]["mode"] = mode
    request.app[FAULT]["size"] = int((await request.json()).get("size", 64_000))
    return web.json_response({"mode": mode})


async def generate(request: web.Request) -> web.Response:
    """One short text output per input, without looking at anything else."""
    faulty = await misbehave(request)
    if faulty is not None:
        return faulty
    try:
        body: Any = json.loads(await request.read())
    except ValueError:
        return web.json_response({"error": {"type": "bad_request", "code": "bad_json"}}, status=400)
    inputs = body.get("inputs") if isinstance(body, dict) else None
    count = len(inputs) if isinstance(inputs, list) else 1
    fault = request.app[FAULT]
    text = "x" * fault["size"] if fault["mode"] == "big" else "ok"
    return web.json_response(
        {
            "id": "gen-tiny",
            "model": request.match_info["model"],
            "route": "central",
            "outputs": [{"text": text, "finish_reason": "length"}] * count,
            "usage": {"prompt_tokens": 1, "completion_tokens": 1},
        }
    )


async def models(request: web.Request) -> web.Response:
    """The one model and its tasks."""
    return web.json_response(
        {"object": "list", "data": [{"id": "multimodal-pro", "object": "model", "tasks": TASKS}]}
    )


async def healthz(request: web.Request) -> web.Response:
    """Alive."""
    return web.json_response({"status": "ok"})


def create_tiny_app() -> web.Application:
    """The tiny upstream's routes."""
    app = web.Application()
    app[FAULT] = {"mode": "none", "counter": itertools.count(), "size": 64_000}
    app.router.add_post("/v3/models/{model}/generate", generate)
    app.router.add_post("/admin/fault", set_fault)
    app.router.add_get("/v1/models", models)
    app.router.add_get("/healthz", healthz)
    return app


def main() -> None:
    """Serve on loopback until interrupted."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    web.run_app(create_tiny_app(), host="127.0.0.1", port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
