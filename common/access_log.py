"""The access log both servers write: one line per request, with the request id in context.

`REQUEST_ID` holds the id of the request being served, so every log line written while
serving it can carry it (see `router.logging_setup.RequestIdFilter`).
"""

import asyncio
import contextvars
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, fields

from aiohttp import web

from common.http import request_id_of

log = logging.getLogger("hybrid_router.access")

REQUEST_ID: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
CALLER = web.RequestKey("caller", str)  # who the server's auth says is calling
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
CLIENT_CLOSED = 499


@dataclass(frozen=True)
class AccessEntry:
    """What the access log says about one request (no bodies, no query strings, no secrets)."""

    request_id: str
    caller: str
    method: str
    path: str
    status: int
    route: str
    reason: str
    latency_ms: float
    at: float  # wall-clock seconds, for display only

    def logged(self) -> dict[str, object]:
        """The fields a log line carries (all but `at`), in order."""
        return {name: getattr(self, name) for name in _LOGGED}

    def text(self) -> str:
        """`key=value` pairs for the text log format."""
        return _line(self.logged())


_LOGGED = tuple(f.name for f in fields(AccessEntry) if f.name != "at")


def _line(logged: dict[str, object]) -> str:
    """The `key=value` line of a logged entry."""
    return " ".join(f"{k}={v}" for k, v in logged.items())


class RecentRequests:
    """The last `size` routed requests, newest last (what the status page lists)."""

    def __init__(self, size: int = 50) -> None:
        self._entries: deque[AccessEntry] = deque(maxlen=size)

    def add(self, entry: AccessEntry) -> None:
        """Remember one request."""
        self._entries.append(entry)

    def entries(self) -> list[AccessEntry]:
        """Newest first."""
        return list(reversed(self._entries))


def emit(entry: AccessEntry) -> None:
    """`log.info` of the entry's line, without `findCaller`'s stack walk (the caller is known)."""
    logged = entry.logged()
    record = log.makeRecord(
        log.name,
        logging.INFO,
        __file__,
        0,
        _line(logged),
        (),
        None,
        "access_log_middleware",
        logged,
    )
    log.handle(record)


def make_access_log_middleware(
    recent: RecentRequests | None = None,
    caller_of: Callable[[web.Request], str] = lambda request: request.get(CALLER, "-"),
    clock: Callable[[], float] = time.monotonic,
) -> Callable[..., Awaitable[web.StreamResponse]]:
    """Outermost middleware: sets the request-id context, then logs the finished request."""

    @web.middleware
    async def access_log_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        request_id = request_id_of(request)
        token = REQUEST_ID.set(request_id)
        started = clock()
        status = CLIENT_CLOSED
        route, reason = "none", ""
        try:
            response = await handler(request)
            status = response.status
            route = response.headers.get("X-Route", "none")
            reason = response.headers.get("X-Route-Reason", "")
            return response
        except web.HTTPException as exc:
            status = exc.status
            raise
        finally:
            entry = AccessEntry(
                request_id=request_id,
                caller=caller_of(request),
                method=request.method,
                path=request.path,
                status=status,
                route=route,
                reason=reason,
                latency_ms=round((clock() - started) * 1000, 2),
                at=time.time(),
            )
            if recent is not None and (route != "none" or request.path == "/v1/route"):
                recent.add(entry)
            if log.isEnabledFor(logging.INFO):  # no line to format when the level is off
                # after the response is written: the line costs the loop, not the caller
                asyncio.get_running_loop().call_soon(emit, entry)
            REQUEST_ID.reset(token)

    return access_log_middleware
