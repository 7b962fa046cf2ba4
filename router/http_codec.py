"""What every HTTP codec shares: the call context of a request and the route headers."""

import time

from aiohttp import web

from common.http import request_id_of
from router.auth import ANONYMOUS, PRINCIPAL
from router.context import DEADLINE_HEADER, CallContext, Transport, deadline_of, parse_budget_header
from router.jobs import Result
from router.keys import SETTINGS
from router.recorder import trace_of


def context_of(
    request: web.Request, transport: Transport, budget_ms: float | None = None
) -> CallContext:
    """The caller, deadline (header, body budget or the server default) and cache control."""
    header_ms = parse_budget_header(request.headers.get(DEADLINE_HEADER))
    budgets = [ms / 1000 for ms in (budget_ms, header_ms) if ms is not None]
    now = time.monotonic()
    return CallContext(
        request_id=request_id_of(request),
        principal=request.get(PRINCIPAL, ANONYMOUS),
        source_ip=request.remote or "",
        transport=transport,
        deadline=deadline_of(now, request.app[SETTINGS].server.request_timeout_s, *budgets),
        caller_deadline=deadline_of(now, None, *budgets),
        cache_control=request.headers.get("Cache-Control"),
        trace=trace_of(request),
    )


def route_headers(result: Result) -> dict[str, str]:
    """`X-Route` and `X-Route-Reason` of a result."""
    return {"X-Route": result.route, "X-Route-Reason": result.reason}
