"""OpenAI-compatible endpoints on the edge: `/v1/embeddings`, `/v1/models`."""

import base64
import time

import numpy as np
from aiohttp import web

from common.errors import BadRequest, NotFound
from common.http import read_json, request_id_of
from common.schema import EmbeddingsRequest
from router.auth import ANONYMOUS, PRINCIPAL
from router.jobs import EDGE_MODEL_TASKS, Job, JobInput, JobParams
from router.keys import ACCESS, PIPELINE, SETTINGS
from router.observe import run_job

EMBEDDING_MODEL_ALIASES = {"all-minilm-l6-v2", "all-MiniLM-L6-v2", "text-embedding-edge"}


async def embeddings(request: web.Request) -> web.Response:
    """Embed one text or a list, on the edge, in OpenAI's response shape."""
    body = await read_json(request, EmbeddingsRequest)
    request.app[ACCESS].authorize(request, "multimodal:Embed", f"model/{body.model}")
    settings = request.app[SETTINGS]
    if body.model not in EMBEDDING_MODEL_ALIASES:
        raise NotFound(
            f"unknown embedding model {body.model!r}; available: {sorted(EMBEDDING_MODEL_ALIASES)}",
            "unknown_model",
        )
    texts = [body.input] if isinstance(body.input, str) else body.input
    if not texts:
        raise BadRequest("`input` must not be empty", "empty_inputs")
    if len(texts) > settings.server.max_inputs:
        raise BadRequest(f"at most {settings.server.max_inputs} inputs", "too_many_inputs")
    job = Job(
        request_id=request_id_of(request),
        model="all-minilm-l6-v2",
        task="embed",
        inputs=tuple(JobInput(text=t) for t in texts),
        params=JobParams(route="edge"),
        pinned_edge_model="all-minilm-l6-v2",
        tenant=request.get(PRINCIPAL, ANONYMOUS),
    )
    result = await run_job(request, job)
    data = []
    for index, output in enumerate(result.outputs):
        vector = output["embedding"]
        if body.dimensions is not None:
            vector = vector[: body.dimensions]
        embedding: list[float] | str = vector
        if body.encoding_format == "base64":
            embedding = base64.b64encode(np.asarray(vector, dtype="<f4").tobytes()).decode()
        data.append({"object": "embedding", "index": index, "embedding": embedding})
    tokens = sum(max(1, len(t.split())) for t in texts)
    return web.json_response(
        {
            "object": "list",
            "data": data,
            "model": result.model,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        },
        headers={"X-Route": result.route, "X-Route-Reason": result.reason},
    )


async def models(request: web.Request) -> web.Response:
    """Edge and central models, and where each runs."""
    request.app[ACCESS].authorize(request, "multimodal:ListModels", "model/*")
    pipeline = request.app[PIPELINE]
    created = int(time.time())
    data = [
        {
            "id": name,
            "object": "model",
            "created": created,
            "owned_by": "edge",
            "task": task,
            "route": "edge",
        }
        for name, task in EDGE_MODEL_TASKS.items()
    ]
    if pipeline.central is not None:
        data.append(
            {
                "id": request.app[SETTINGS].central.model,
                "object": "model",
                "created": created,
                "owned_by": "central",
                "tasks": sorted(pipeline.central.tasks()),
                "route": "central",
            }
        )
    data.append(
        {"id": "auto", "object": "model", "created": created, "owned_by": "router", "route": "auto"}
    )
    return web.json_response({"object": "list", "data": data})
