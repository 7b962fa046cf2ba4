"""`POST /v3/models/{model}/generate`: the seed API."""

import time
import uuid
from typing import Any

from aiohttp import web

from common.errors import BadRequest
from common.http import read_json, request_id_of
from common.schema import GenerateRequest
from router.auth import ANONYMOUS, PRINCIPAL, TASK_ACTIONS
from router.jobs import Job, job_for_model
from router.keys import ACCESS, PIPELINE, SETTINGS
from router.observe import run_job
from router.pipeline import Result
from router.policy import RouteState

DEADLINE_HEADER = "X-Request-Deadline-Ms"


def deadline_of(request: web.Request, budget_ms: float | None, now: float) -> float | None:
    """Monotonic deadline from the header or `latency_budget_ms` (the tighter wins)."""
    budgets = [budget_ms] if budget_ms is not None else []
    header = request.headers.get(DEADLINE_HEADER)
    if header is not None:
        try:
            value = float(header)
        except ValueError:
            raise BadRequest(f"{DEADLINE_HEADER} must be a number", "invalid_deadline") from None
        if not 0 < value <= 600_000:
            raise BadRequest(f"{DEADLINE_HEADER} must be in (0, 600000]", "invalid_deadline")
        budgets.append(value)
    return now + min(budgets) / 1000 if budgets else None


class RouteRequest(GenerateRequest):
    """`/v1/route` body: a generate request plus the model it would be sent to."""

    model: str = "auto"


async def parse_job(request: web.Request) -> Job:
    """Validate the body and build the job for the model in the path."""
    body = await read_json(request, GenerateRequest)
    return await parse_job_body(request, request.match_info["model"], body)


async def parse_job_body(request: web.Request, model: str, body: GenerateRequest) -> Job:
    """Build the job for `model` from a validated body."""
    settings = request.app[SETTINGS]
    job = job_for_model(
        request_id_of(request),
        model,
        body,
        central_model=settings.central.model,
        max_inputs=settings.server.max_inputs,
        max_text_chars=settings.server.max_text_chars,
        tenant=request.get(PRINCIPAL, ANONYMOUS),
        deadline=deadline_of(request, body.parameters.latency_budget_ms, time.monotonic()),
    )
    request.app[ACCESS].authorize(request, TASK_ACTIONS[job.task], f"model/{model}")
    return job


def result_response(result: Result) -> web.Response:
    """The `/v3` response body with the route headers."""
    body: dict[str, Any] = {
        "id": f"gen-{uuid.uuid4().hex}",
        "model": result.model,
        "route": result.route,
        "route_reason": result.reason,
        "outputs": result.outputs,
        "usage": result.usage,
    }
    return web.json_response(
        body, headers={"X-Route": result.route, "X-Route-Reason": result.reason}
    )


async def generate(request: web.Request) -> web.Response:
    """Route and run one request."""
    job = await parse_job(request)
    return result_response(await run_job(request, job))


async def route(request: web.Request) -> web.Response:
    """`POST /v1/route`: the decision, its reason and the state it used; executes nothing."""
    data = await read_json(request, RouteRequest)
    request.app[ACCESS].authorize(request, "multimodal:Route", f"model/{data.model}")
    job = await parse_job_body(request, data.model, data)
    pipeline = request.app[PIPELINE]
    decision, state = pipeline.decide(job)
    return web.json_response(
        {
            "decision": {
                "target": decision.target,
                "reason": decision.reason,
                "status": decision.status,
                "message": decision.message,
                "cascade": decision.cascade,
            },
            "job": {
                "task": job.task,
                "inputs": len(job.inputs),
                "pii_kinds": sorted(pipeline.with_privacy(job).pii_kinds),
            },
            "state": state_json(state),
        }
    )


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
