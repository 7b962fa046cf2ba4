"""HTTP errors shared by the edge node and the central service, rendered as JSON in one place.

ApiError                     {"error": {"type", "code", "message", "request_id"}}
├── BadRequest          400  invalid input
├── Unauthorized        401  no or invalid credentials (WWW-Authenticate: Bearer)
├── Forbidden           403  denied by policy
├── NotFound            404  unknown model or route
├── MethodNotAllowed    405
├── PayloadTooLarge     413
├── UnsupportedMedia    415
├── TooManyRequests     429  quota (Retry-After)
├── InternalError       500  a bug; never aiohttp's text/plain page
├── NotSupported        501  a capability this deployment has not configured
├── BadUpstream         502  the central answered garbage
├── Unavailable         503  central or model not available (Retry-After)
└── DeadlineExceeded    504  the request's deadline passed
"""

import logging
import math
from collections.abc import Awaitable, Callable
from typing import ClassVar

from aiohttp import web

log = logging.getLogger(__name__)


class ApiError(Exception):
    """An error with an HTTP status and a stable machine-readable code."""

    status: ClassVar[int] = 500
    type: ClassVar[str] = "internal_error"

    def __init__(
        self, message: str, code: str | None = None, retry_after_s: float | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.type
        self.retry_after_s = retry_after_s

    # Whether the same request may succeed if sent again (OpenAI SDKs read `x-should-retry`):
    # None leaves it to the client (500, 502).
    should_retry: ClassVar[bool | None] = None

    @classmethod
    def for_status(
        cls, status: int, message: str, code: str | None = None, retry_after_s: float | None = None
    ) -> "ApiError":
        """The error of this tree for an HTTP status (500's or 400's kind when unknown)."""
        kind = _BY_STATUS.get(status, InternalError if status >= 500 else BadRequest)
        return kind(message, code, retry_after_s)

    def headers(self) -> dict[str, str]:
        """Extra response headers: Retry-After where it applies, and x-should-retry."""
        headers = {}
        if self.should_retry is not None:
            headers["x-should-retry"] = "true" if self.should_retry else "false"
        if self.retry_after_s is not None:
            headers["Retry-After"] = str(max(1, math.ceil(self.retry_after_s)))
        return headers


class BadRequest(ApiError):
    status, type = 400, "invalid_request_error"
    should_retry = False


class Unauthorized(ApiError):
    status, type = 401, "authentication_error"

    should_retry = False

    def headers(self) -> dict[str, str]:
        """Tell the client which scheme to use (and that the same request will fail again)."""
        return {"WWW-Authenticate": 'Bearer error="invalid_token"', "x-should-retry": "false"}


class Forbidden(ApiError):
    status, type = 403, "permission_error"
    should_retry = False


class NotFound(ApiError):
    status, type = 404, "not_found_error"
    should_retry = False


class MethodNotAllowed(ApiError):
    status, type = 405, "method_not_allowed"
    should_retry = False


class PayloadTooLarge(ApiError):
    status, type = 413, "request_too_large"
    should_retry = False


class UnsupportedMedia(ApiError):
    status, type = 415, "unsupported_media_type"
    should_retry = False


class TooManyRequests(ApiError):
    status, type = 429, "rate_limit_error"
    should_retry = True


class InternalError(ApiError):
    status, type = 500, "internal_error"


class NotSupported(ApiError):
    status, type = 501, "not_implemented"
    should_retry = False


class BadUpstream(ApiError):
    status, type = 502, "bad_upstream"


class Unavailable(ApiError):
    status, type = 503, "service_unavailable"
    should_retry = True


class DeadlineExceeded(ApiError):
    status, type = 504, "deadline_exceeded"
    should_retry = False


REQUEST_ID_HEADER = "X-Request-Id"

_BY_STATUS: dict[int, type[ApiError]] = {
    kind.status: kind
    for kind in (
        BadRequest,
        Unauthorized,
        Forbidden,
        NotFound,
        MethodNotAllowed,
        PayloadTooLarge,
        UnsupportedMedia,
        TooManyRequests,
        InternalError,
        NotSupported,
        BadUpstream,
        Unavailable,
        DeadlineExceeded,
    )
}


def error_body(error: ApiError, request_id: str) -> dict[str, dict[str, str]]:
    """The JSON body of an error."""
    return {
        "error": {
            "type": error.type,
            "code": error.code,
            "message": error.message,
            "request_id": request_id,
        }
    }


def error_response(error: ApiError, request_id: str) -> web.Response:
    """The JSON body and headers for an error."""
    headers = {REQUEST_ID_HEADER: request_id, **error.headers()}
    return web.json_response(error_body(error, request_id), status=error.status, headers=headers)


def from_http_exception(exc: web.HTTPException) -> ApiError:
    """Translate aiohttp's own HTTP exceptions (404 route, 405, 413 body) into ApiErrors."""
    messages = {
        404: "no such endpoint",
        405: "method not allowed",
        413: "request body too large",
    }
    return ApiError.for_status(exc.status, messages.get(exc.status, exc.reason))


def make_error_middleware(
    request_id_of: Callable[[web.Request], str],
) -> Callable[..., Awaitable[web.StreamResponse]]:
    """Middleware that turns every failure into one JSON error with the request id."""

    @web.middleware
    async def error_middleware(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        request_id = request_id_of(request)
        try:
            response = await handler(request)
        except ApiError as exc:
            return error_response(exc, request_id)
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            response = error_response(from_http_exception(exc), request_id)
            if "Allow" in exc.headers:  # a 405 names the methods the path takes
                response.headers["Allow"] = exc.headers["Allow"]
            return response
        except Exception:
            log.exception("unhandled error for request %s", request_id)
            return error_response(InternalError("internal error"), request_id)
        response.headers.setdefault(REQUEST_ID_HEADER, request_id)
        return response

    return error_middleware
