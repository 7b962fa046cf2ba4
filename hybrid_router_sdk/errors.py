"""Errors the SDK raises, one class per HTTP status the router answers with.

HybridRouterError                  status, code, message, request_id, retry_after_s
├── ConnectionFailed               no HTTP answer (refused, reset, timed out); status None
├── BadRequestError           400
├── AuthenticationError       401
├── PermissionDeniedError     403
├── NotFoundError             404
├── PayloadTooLargeError      413
├── UnsupportedMediaTypeError 415
├── RateLimitError            429  (retried, honouring Retry-After)
├── InternalServerError       500
├── NotSupportedError         501
├── BadUpstreamError          502
├── ServiceUnavailableError   503  (retried, honouring Retry-After)
└── DeadlineExceededError     504
"""

from __future__ import annotations

import json
from typing import Any


class HybridRouterError(Exception):
    """An error answer from the router (or no answer at all)."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        request_id: str | None = None,
        retry_after_s: float | None = None,
        body: Any = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.request_id = request_id
        self.retry_after_s = retry_after_s
        self.body = body

    def __str__(self) -> str:
        where = f" (request {self.request_id})" if self.request_id else ""
        status = f"{self.status} " if self.status is not None else ""
        code = f"{self.code}: " if self.code else ""
        return f"{status}{code}{self.message}{where}"


class ConnectionFailed(HybridRouterError):
    """The router could not be reached or did not answer in time."""


class BadRequestError(HybridRouterError):
    """400: invalid input."""


class AuthenticationError(HybridRouterError):
    """401: missing or invalid API key."""


class PermissionDeniedError(HybridRouterError):
    """403: denied by an access policy."""


class NotFoundError(HybridRouterError):
    """404: unknown model or endpoint."""


class PayloadTooLargeError(HybridRouterError):
    """413: request body too large."""


class UnsupportedMediaTypeError(HybridRouterError):
    """415: wrong content type."""


class RateLimitError(HybridRouterError):
    """429: quota exhausted."""


class InternalServerError(HybridRouterError):
    """500: a bug in the router."""


class NotSupportedError(HybridRouterError):
    """501: a capability this deployment has not configured."""


class BadUpstreamError(HybridRouterError):
    """502: the central answered garbage."""


class ServiceUnavailableError(HybridRouterError):
    """503: the central or a model is unavailable."""


class DeadlineExceededError(HybridRouterError):
    """504: the request's deadline passed."""


ERRORS_BY_STATUS: dict[int, type[HybridRouterError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    413: PayloadTooLargeError,
    415: UnsupportedMediaTypeError,
    429: RateLimitError,
    500: InternalServerError,
    501: NotSupportedError,
    502: BadUpstreamError,
    503: ServiceUnavailableError,
    504: DeadlineExceededError,
}


def error_from_response(
    status: int, body: bytes, request_id: str | None, retry_after_s: float | None
) -> HybridRouterError:
    """The typed error for an HTTP error answer (the router's JSON error shape, or anything)."""
    kind = ERRORS_BY_STATUS.get(status, HybridRouterError)
    try:
        parsed: Any = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        parsed = None
    error = parsed.get("error") if isinstance(parsed, dict) else None
    if not isinstance(error, dict):
        text = body[:300].decode("utf-8", "replace") or f"HTTP {status}"
        return kind(text, status=status, request_id=request_id, retry_after_s=retry_after_s)
    return error_from_payload(error, status, request_id, retry_after_s, parsed)


def error_from_payload(
    error: dict[str, Any],
    status: int | None,
    request_id: str | None = None,
    retry_after_s: float | None = None,
    body: Any = None,
) -> HybridRouterError:
    """The typed error for an `{"error": {...}}` object (also used for in-band stream errors)."""
    status = status if status is not None else _int_or_none(error.get("status"))
    kind = ERRORS_BY_STATUS.get(status or 0, HybridRouterError)
    return kind(
        str(error.get("message") or "unknown error"),
        status=status,
        code=str(error["code"]) if error.get("code") is not None else None,
        request_id=str(error.get("request_id") or request_id or "") or None,
        retry_after_s=retry_after_s,
        body=body if body is not None else {"error": error},
    )


def _int_or_none(value: Any) -> int | None:
    """An int status, or None."""
    return value if isinstance(value, int) else None
