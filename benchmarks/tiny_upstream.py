"""A minimal `/v3` upstream that answers at once, to isolate the router's own cost.

`python -m benchmarks.tiny_upstream --port P` serves `POST /v3/models/{model}/generate`
(one `{"text": "ok"}` output per input, no auth), `GET /v1/models` and `GET /healthz`.
"""

import argparse
import json
from typing import Any

from aiohttp import web

TASKS = ["generate", "embed", "classify"]


async def generate(request: web.Request) -> web.Response:
    """One short text output per input, without looking at anything else."""
    try:
        body: Any = json.loads(await request.read())
    except ValueError:
        return web.json_response({"error": {"type": "bad_request", "code": "bad_json"}}, status=400)
    inputs = body.get("inputs") if isinstance(body, dict) else None
    count = len(inputs) if isinstance(inputs, list) else 1
    return web.json_response(
        {
            "id": "gen-tiny",
            "model": request.match_info["model"],
            "route": "central",
            "outputs": [{"text": "ok", "finish_reason": "length"}] * count,
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
    app.router.add_post("/v3/models/{model}/generate", generate)
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
