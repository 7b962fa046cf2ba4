"""Operational endpoints: liveness, readiness, Prometheus metrics."""

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from router.keys import DRAINING, EDGE, METRICS, PIPELINE


async def healthz(request: web.Request) -> web.Response:
    """Alive."""
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """Ready once edge models are loaded and warm (503 until then), with details."""
    edge = request.app[EDGE]
    pipeline = request.app[PIPELINE]
    details: dict[str, object] = {
        "edge_models": [s.name for s in edge.specs()],
        "edge_queue": edge.queue_depths(),
        "edge_runtime": edge.describe(),
    }
    if pipeline.central is not None:
        details["central"] = pipeline.central.describe()
    if request.app[DRAINING].is_set():
        return web.json_response(
            {"status": "not_ready", "reason": "draining", **details}, status=503
        )
    if edge.ready:
        return web.json_response({"status": "ready", **details})
    reason = "loading" if edge.load_error is None else f"failed: {edge.load_error}"
    return web.json_response(
        {"status": "not_ready", "reason": reason, **details},
        status=503,
        headers={"Retry-After": "5"},
    )


async def metrics(request: web.Request) -> web.Response:
    """Prometheus text exposition."""
    body = generate_latest(request.app[METRICS].registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
