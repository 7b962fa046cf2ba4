"""The status page at `/` and the `/status.json` it polls: models, central, latency, decisions."""

import json
import math
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry

from router.access_log import RecentRequests
from router.keys import DRAINING, EDGE, METRICS, PIPELINE
from router.version import package_version

STATIC_DIR = Path(__file__).parent / "static"
RECENT = web.AppKey("recent_requests", RecentRequests)
STARTED = web.AppKey("started_monotonic", float)
LATENCY_METRIC = "edge_request_latency_seconds"
REQUESTS_METRIC = "edge_requests"
STATUS_PATHS = frozenset({"/", "/status.json", "/favicon.ico"})


def histogram_quantile(buckets: list[tuple[float, float]], q: float) -> float | None:
    """Prometheus' histogram_quantile over cumulative (upper bound, count) pairs, sorted."""
    if not buckets or buckets[-1][1] <= 0:
        return None
    total = buckets[-1][1]
    rank = q * total
    lower, below = 0.0, 0.0
    for upper, count in buckets:
        if count >= rank:
            if math.isinf(upper):
                return lower
            if count == below:
                return upper
            return lower + (upper - lower) * (rank - below) / (count - below)
        lower, below = upper, count
    return lower


def latency_by_path(registry: CollectorRegistry) -> list[dict[str, Any]]:
    """Count, p50 and p99 (ms) per route/task from the latency histogram (what /metrics says)."""
    buckets: dict[str, list[tuple[float, float]]] = {}
    for family in registry.collect():
        if family.name != LATENCY_METRIC:
            continue
        for sample in family.samples:
            if sample.name.endswith("_bucket"):
                key = f"{sample.labels['route']}/{sample.labels['task']}"
                buckets.setdefault(key, []).append((float(sample.labels["le"]), sample.value))
    rows = []
    for key in sorted(buckets):
        series = sorted(buckets[key])
        p50 = histogram_quantile(series, 0.5)
        p99 = histogram_quantile(series, 0.99)
        rows.append(
            {
                "path": key,
                "count": int(series[-1][1]),
                "p50_ms": None if p50 is None else round(p50 * 1000, 2),
                "p99_ms": None if p99 is None else round(p99 * 1000, 2),
                "buckets": [[None if math.isinf(le) else le, int(n)] for le, n in series],
            }
        )
    return rows


def request_totals(registry: CollectorRegistry) -> dict[str, int]:
    """Requests answered per route (the `edge_requests_total` counter summed over labels)."""
    totals: dict[str, int] = {}
    for family in registry.collect():
        if family.name != REQUESTS_METRIC:
            continue
        for sample in family.samples:
            if sample.name.endswith("_total"):
                route = sample.labels["route"]
                totals[route] = totals.get(route, 0) + int(sample.value)
    return totals


def _providers(described: dict[str, Any]) -> list[dict[str, Any]]:
    """One entry per central provider, whether describe() lists providers or is one."""
    providers = described.get("providers")
    if isinstance(providers, list):
        return [p for p in providers if isinstance(p, dict)]
    return [described]


async def status_json(request: web.Request) -> web.Response:
    """Everything the status page shows, as one small JSON document."""
    app = request.app
    edge = app[EDGE]
    pipeline = app.get(PIPELINE)
    specs = edge.specs() if edge.ready else []
    central = pipeline.central.describe() if pipeline is not None and pipeline.central else None
    body = {
        "version": package_version(),
        "uptime_s": round(time.monotonic() - app[STARTED], 1),
        "ready": edge.ready and not app[DRAINING].is_set(),
        "draining": app[DRAINING].is_set(),
        "models": {
            "ready": edge.ready,
            "error": None if edge.load_error is None else str(edge.load_error),
            "loaded": [{"name": s.name, "task": s.task} for s in specs],
            "queue": edge.queue_depths() if edge.ready else {},
        },
        "central": None if central is None else {"providers": _providers(central)},
        "requests": request_totals(app[METRICS].registry),
        "latency": latency_by_path(app[METRICS].registry),
        "recent": [asdict(e) for e in app[RECENT].entries()],
    }
    return web.json_response(body, dumps=_dumps, headers={"Cache-Control": "no-store"})


def _dumps(value: object) -> str:
    """JSON that survives enums and paths in describe() output."""
    return json.dumps(value, default=str)


async def index(request: web.Request) -> web.FileResponse:
    """The page itself."""
    return web.FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-store"})


def register(app: web.Application, recent: RecentRequests) -> None:
    """Add `/`, `/status.json` and `/static/`."""
    app[RECENT] = recent
    app[STARTED] = time.monotonic()
    app.router.add_get("/", index)
    app.router.add_get("/status.json", status_json)
    app.router.add_static("/static/", STATIC_DIR, show_index=False)
