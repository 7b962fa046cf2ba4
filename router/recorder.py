"""The one recorder of outcomes: request metrics, latency estimates, decisions and the call log.

Every request ends in exactly one `finish`: HTTP requests through `record_middleware`
(outermost, so it sees the final status of errors raised while parsing too), gRPC calls
through the servicer. Stages report path latencies and decisions here as they happen.
"""

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from common.http import request_id_of
from router.auth import ANONYMOUS, PRINCIPAL, PUBLIC_PATHS, PUBLIC_PREFIXES
from router.calllog import CallLog, CallRecord, iso_at, query_hash
from router.context import CallTrace
from router.latency import LatencyEstimator
from router.metrics import EdgeMetrics, LabelCache
from router.route_state import Decision

CLIENT_CLOSED = 499
# The public ops and status endpoints are not API requests: not counted, not call-logged.
SKIP_PATHS = PUBLIC_PATHS
SKIP_PREFIXES = PUBLIC_PREFIXES
TRACE = web.RequestKey("trace", CallTrace)


@dataclass(frozen=True)
class Exchange:
    """One answered call as its transport saw it."""

    request_id: str
    caller: str
    method: str
    path: str
    status: int
    latency_s: float
    started_wall: float  # epoch seconds; formatted only when the call log is on


class Recorder:
    """Counts, times and logs every outcome, in one place."""

    def __init__(
        self,
        metrics: EdgeMetrics,
        estimator: LatencyEstimator,
        queue_depths: Callable[[], Mapping[str, int]] | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.metrics = metrics
        self.latency = estimator
        self.call_log: CallLog | None = None
        self._queue_depths = queue_depths
        self.clock = clock
        self.wall = wall
        self._child = LabelCache()  # the metrics live as long as this recorder

    def decision(self, decision: Decision) -> None:
        """Count a routing decision."""
        self._child(self.metrics.decisions, decision.target, decision.reason).inc()

    def path_latency(self, target: str, task: str, ms: float) -> None:
        """Feed the latency estimator the policies read."""
        self.latency.record(target, task, ms)

    def path_timeout(self, target: str, task: str, elapsed_ms: float) -> None:
        """A path gave up after `elapsed_ms`: a censored sample (its latency is at least that)."""
        self.latency.record_timeout(target, task, elapsed_ms)

    def start(self) -> tuple[float, float]:
        """Monotonic and wall-clock (epoch seconds) start of a call."""
        return self.clock(), self.wall()

    def finish(self, exchange: Exchange, trace: CallTrace) -> None:
        """Record one answered call: metrics by route, task and status, and the call log."""
        task = trace.task or "unknown"
        metrics = self.metrics
        self._child(metrics.requests, trace.route, task, str(exchange.status)).inc()
        if 200 <= exchange.status < 300:
            self._child(metrics.latency, trace.route, task).observe(exchange.latency_s)
        if self._queue_depths is not None:
            for name, depth in self._queue_depths().items():
                self._child(metrics.queue_depth, name).set(depth)
        if self.call_log is not None:
            self.call_log.record(self.call_record(exchange, trace))

    def call_record(self, exchange: Exchange, trace: CallTrace) -> CallRecord:
        """The call-log line for an exchange (no text, only the query hash)."""
        return CallRecord(
            ts=iso_at(exchange.started_wall),
            request_id=exchange.request_id,
            method=exchange.method,
            path=exchange.path,
            route=trace.route,
            reason=trace.reason or trace.error_code,
            task=trace.task or "unknown",
            model=trace.model or "",
            caller=exchange.caller,
            prompt_tokens=int(trace.usage.get("prompt_tokens", 0)),
            completion_tokens=int(trace.usage.get("completion_tokens", 0)),
            latency_ms=round(exchange.latency_s * 1000, 3),
            status=exchange.status,
            query_hash=query_hash(trace.job) if trace.job is not None else None,
        )


def error_code_of(response: web.StreamResponse) -> str:
    """The `error.code` of a JSON error response, else ''."""
    body = getattr(response, "body", None)
    if not isinstance(body, bytes) or response.content_type != "application/json":
        return ""
    try:
        error = json.loads(body).get("error")
    except (ValueError, AttributeError):
        return ""
    return str(error.get("code", "")) if isinstance(error, dict) else ""


def trace_of(request: web.Request) -> CallTrace:
    """The request's trace (created by the middleware; a fresh one outside it)."""
    trace = request.get(TRACE)
    if trace is None:
        trace = request[TRACE] = CallTrace()
    return trace


SERVER_TIMING = "Server-Timing"  # W3C Server-Timing: the edge's own time, without the network


def make_record_middleware(
    recorder: Callable[[web.Request], Recorder],
) -> Callable[..., Awaitable[web.StreamResponse]]:
    """Middleware (outermost) that records every API request once it has been answered."""

    @web.middleware
    async def record_middleware(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if request.path in SKIP_PATHS or request.path.startswith(SKIP_PREFIXES):
            return await handler(request)
        rec = recorder(request)
        trace = trace_of(request)
        started, started_wall = rec.start()
        status = 500
        try:
            response = await handler(request)
            status = response.status
            if not response.prepared:  # a stream's headers are gone already
                elapsed_ms = (rec.clock() - started) * 1000
                response.headers[SERVER_TIMING] = f"edge;dur={elapsed_ms:.2f}"
            if status >= 400 and not trace.error_code:
                trace.error_code = error_code_of(response)
            return response
        except web.HTTPException as exc:
            status = exc.status
            raise
        except asyncio.CancelledError:
            status = CLIENT_CLOSED
            raise
        finally:
            resource = request.match_info.route.resource
            exchange = Exchange(
                request_id=request_id_of(request),
                caller=request.get(PRINCIPAL, ANONYMOUS),
                method=request.method,
                path=resource.canonical if resource is not None else request.path,
                status=status,
                latency_s=rec.clock() - started,
                started_wall=started_wall,
            )
            asyncio.get_running_loop().call_soon(rec.finish, exchange, trace)  # after the write

    return record_middleware


async def traced_stream(
    events: AsyncIterator[dict[str, Any]], trace: CallTrace, reason: str
) -> AsyncIterator[dict[str, Any]]:
    """Events passed through; from the first one on the call counts as answered by the central
    for `reason` (plus the provider that answers); final usage and in-band errors are traced."""
    first = True
    try:
        async for event in events:
            if first:
                provider = event.get("provider")
                trace.route, first = "central", False
                trace.reason = f"{reason};provider={provider}" if provider else reason
            if event.get("finish_reason"):
                usage = event.get("usage") or {}
                trace.usage = {k: int(v) for k, v in usage.items() if isinstance(v, int | float)}
            if "error" in event:
                error = event["error"] if isinstance(event["error"], dict) else {}
                trace.error_code = str(error.get("code", "central_error"))
            yield event
    finally:
        await events.aclose()  # type: ignore[attr-defined]
