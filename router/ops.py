"""Operational endpoints: liveness, readiness, Prometheus metrics."""

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from common.http import json_response
from router.keys import DRAINING, EDGE, METRICS, PIPELINE
from router.responses import Health, Readiness, dump


async def healthz(request: web.Request) -> web.Response:
    """Alive."""
    return json_response(dump(Health()))


async def readyz(request: web.Request) -> web.Response:
    """Ready once edge models are loaded and warm (503 until then), with details."""
    edge = request.app[EDGE]
    pipeline = request.app[PIPELINE]
    central = pipeline.central.describe() if pipeline.central is not None else None
    reason: str | None = None
    if request.app[DRAINING].is_set():
        reason = "draining"
    elif not edge.ready:
        reason = "loading" if edge.load_error is None else f"failed: {edge.load_error}"
    body = Readiness(
        status="ready" if reason is None else "not_ready",
        reason=reason,
        edge_models=[s.name for s in edge.specs()],
        edge_queue=edge.queue_depths(),
        edge_runtime=edge.describe(),
        central=central,
    )
    if reason is None:
        return json_response(dump(body))
    headers = {} if reason == "draining" else {"Retry-After": "5"}
    return json_response(dump(body), status=503, headers=headers)


async def metrics(request: web.Request) -> web.Response:
    """Prometheus text exposition."""
    body = generate_latest(request.app[METRICS].registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
