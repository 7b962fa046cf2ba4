"""OpenAI-compatible `/v1/embeddings`, `/v1/models` and `/v1/models/{id}`: thin codecs."""

import base64
import time

import numpy as np
from aiohttp import web

from common.errors import BadRequest, NotFound
from common.http import json_response, read_json
from common.schema import EmbeddingsRequest
from router.catalogue import AUTO
from router.http_codec import context_of, route_headers
from router.jobs import JobInput, JobParams
from router.keys import ACCESS, BUILDER, PIPELINE, SETTINGS
from router.responses import EmbeddingsResponse, ModelCard, ModelList, dump


async def embeddings(request: web.Request) -> web.Response:
    """Embed one text or a list, routed like `/v3` (edge model names pin the edge)."""
    body = await read_json(request, EmbeddingsRequest)
    ctx = context_of(request, "openai")
    ctx.trace.task, ctx.trace.model = "embed", body.model
    texts = [body.input] if isinstance(body.input, str) else body.input
    if not texts:
        raise BadRequest("`input` must not be empty", "empty_inputs")
    inputs = [JobInput(text=t) for t in texts]
    params = JobParams(route=body.route)
    job = request.app[BUILDER].for_task(ctx, body.model, "embed", inputs, params)
    result = await request.app[PIPELINE].handle(ctx, job)
    data = []
    for index, output in enumerate(result.outputs):
        vector = output["embedding"]
        if body.dimensions is not None:
            vector = vector[: body.dimensions]
        embedding: list[float] | str = vector
        if body.encoding_format == "base64":
            embedding = base64.b64encode(np.asarray(vector, dtype="<f4").tobytes()).decode()
        # EmbeddingItem's fields as a plain dict: 64 model instances would cost ~4 ms
        data.append({"object": "embedding", "index": index, "embedding": embedding})
    tokens = int(result.usage.get("prompt_tokens", 0)) or sum(max(1, len(t.split())) for t in texts)
    answer = EmbeddingsResponse.model_construct(
        data=data, model=result.model, usage={"prompt_tokens": tokens, "total_tokens": tokens}
    )
    return json_response(dump(answer), headers=route_headers(result))


def model_cards(request: web.Request) -> list[ModelCard]:
    """Every model a request may name, from the catalogue, and where each runs."""
    builder = request.app[BUILDER]
    pipeline = request.app[PIPELINE]
    created = int(time.time())
    cards = [
        ModelCard.model_construct(
            id=entry.name,
            created=created,
            owned_by="edge",
            route="edge",
            task=entry.task,
            description=entry.spec.description,
            dims=entry.dims,
            weights=entry.weights,
            aliases=list(entry.aliases),
        )
        for entry in builder.catalogue.entries
    ]
    if pipeline.central is not None:
        cards.append(
            ModelCard.model_construct(
                id=request.app[SETTINGS].central.model,
                created=created,
                owned_by="central",
                route="central",
                tasks=sorted(pipeline.central.tasks()),
            )
        )
    cards.append(
        ModelCard.model_construct(id=AUTO, created=created, owned_by="router", route="auto")
    )
    return cards


async def models(request: web.Request) -> web.Response:
    """`GET /v1/models`."""
    request.app[ACCESS].authorize(request, "multimodal:ListModels", "model/*")
    return json_response(dump(ModelList.model_construct(data=model_cards(request))))


async def model(request: web.Request) -> web.Response:
    """`GET /v1/models/{id}`: one model card (aliases find their model), else 404."""
    name = request.match_info["id"]
    request.app[ACCESS].authorize(request, "multimodal:ListModels", f"model/{name}")
    entry = request.app[BUILDER].catalogue.edge_entry(name)
    wanted = entry.name if entry is not None else name
    cards = model_cards(request)
    card = next((c for c in cards if c.id == wanted), None)
    if card is None:
        known = [c.id for c in cards]
        raise NotFound(f"unknown model {name!r}; available: {known}", "unknown_model")
    return json_response(dump(card))
