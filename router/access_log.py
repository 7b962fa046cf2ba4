"""The edge's access log: the shared middleware, with the caller from the edge's auth."""

from collections.abc import Awaitable, Callable

from aiohttp import web

from common.access_log import AccessEntry, RecentRequests
from common.access_log import make_access_log_middleware as _shared
from router.auth import PRINCIPAL

__all__ = ["AccessEntry", "RecentRequests", "make_access_log_middleware"]


def make_access_log_middleware(
    recent: RecentRequests,
) -> Callable[..., Awaitable[web.StreamResponse]]:
    """Access log lines for the edge, remembering routed requests in `recent`."""
    return _shared(recent, lambda request: request.get(PRINCIPAL, "-"))
