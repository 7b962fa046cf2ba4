"""`POST /v3/models/{model}/generate` (the seed API) and `POST /v1/route`: thin codecs."""

from typing import Any

from aiohttp import web

from common.http import json_response, read_json
from common.schema import GenerateRequest
from router.context import DEADLINE_HEADER
from router.edge_stage import shed_early
from router.http_codec import context_of, route_headers
from router.jobs import Result
from router.keys import BUILDER, PIPELINE
from router.responses import DecisionOut, GenerateResponse, JobSummary, RouteDecision, dump, shape
from router.route_state import RouteState

__all__ = ["DEADLINE_HEADER", "RouteRequest", "generate", "result_body", "route"]


class RouteRequest(GenerateRequest):
    """`/v1/route` body: a generate request plus the model it would be sent to."""

    model: str = "auto"


def result_body(result: Result, request_id: str) -> dict[str, Any]:
    """The `/v3` response body."""
    return shape(
        GenerateResponse,
        id=f"gen-{request_id}",
        model=result.model,
        route=result.route,
        route_reason=result.reason,
        outputs=result.outputs,
        usage=result.usage,
    )


async def generate(request: web.Request) -> web.Response:
    """Parse, run through the pipeline, encode."""
    shed_early(request.app[PIPELINE].edge, request.match_info["model"])
    body = await read_json(request, GenerateRequest)
    ctx = context_of(request, "v3", body.parameters.latency_budget_ms)
    job = request.app[BUILDER].from_generate(ctx, request.match_info["model"], body)
    result = await request.app[PIPELINE].handle(ctx, job)
    return json_response(result_body(result, ctx.request_id), headers=route_headers(result))


async def route(request: web.Request) -> web.Response:
    """`POST /v1/route`: the decision, its reason and the state it used; executes nothing."""
    data = await read_json(request, RouteRequest)
    ctx = context_of(request, "v3", data.parameters.latency_budget_ms)
    job = request.app[BUILDER].from_generate(ctx, data.model, data)
    decision, state, seen = await request.app[PIPELINE].explain(ctx, job)
    ctx.trace.route, ctx.trace.reason = "dry-run", decision.reason  # counted apart from answers
    body = RouteDecision.model_construct(
        decision=DecisionOut.model_construct(
            target=decision.target,
            reason=decision.reason,
            status=decision.status,
            message=decision.message,
            cascade=decision.cascade,
        ),
        job=JobSummary.model_construct(
            task=seen.task, inputs=len(seen.inputs), pii_kinds=sorted(seen.pii_kinds)
        ),
        state=state_json(state),
    )
    return json_response(dump(body))


def state_json(state: RouteState) -> dict[str, Any]:
    """The routing snapshot as JSON."""
    return {
        "edge_tasks": sorted(state.edge_tasks),
        "central_tasks": sorted(state.central_tasks),
        "central_available": state.central_available,
        "central_retry_after_s": state.central_retry_after_s,
        "edge_queue": dict(state.edge_queue),
        "latency_p95_ms": {f"{t}/{k}": round(v, 2) for (t, k), v in state.latency_p95_ms.items()},
    }
