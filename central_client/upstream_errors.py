"""A provider's error answer as our ApiError: status, message (keys scrubbed) and Retry-After.

400/404/413/422 are the caller's fault and pass through; 401/403 say the edge's credentials
for that provider are wrong (502, never echoing the upstream's message, which may quote the
key); 429 and 5xx are the provider's trouble (429/503 with Retry-After from its headers).
"""

import json
import re
import time
from collections.abc import Callable, Iterable, Mapping

from central_client.retry import MAX_RETRY_AFTER_S, parse_retry_after
from central_client.transport import (
    BodyError,
    BodyTooLarge,
    LineTooLong,
    ReadTimedOut,
    TransportError,
)
from common.errors import (
    ApiError,
    BadRequest,
    BadUpstream,
    DeadlineExceeded,
    NotFound,
    NotSupported,
    PayloadTooLarge,
    TooManyRequests,
    Unavailable,
)

CALLER_ERRORS: dict[int, type[ApiError]] = {
    400: BadRequest,
    404: NotFound,
    413: PayloadTooLarge,
    422: BadRequest,
    501: NotSupported,
}
_DURATION = re.compile(r"^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m(?!s))?(?:(\d+(?:\.\d+)?)s)?$")
_MS = re.compile(r"^(\d+(?:\.\d+)?)ms$")
_KEYLIKE = re.compile(r"(?i)(sk-[A-Za-z0-9_\-]{4,}|bearer\s+[A-Za-z0-9_\-.=]{8,})")
# Error types that say "your credentials", whatever the status (LiteLLM without a database
# answers an unknown key with 400 `no_db_connection`).
AUTH_ERROR_TYPES = frozenset(
    {"invalid_api_key", "authentication_error", "auth_error", "no_db_connection", "unauthorized"}
)
RESET_HEADERS = ("x-ratelimit-reset-requests", "x-ratelimit-reset-tokens", "x-ratelimit-reset")


def parse_duration(value: str) -> float | None:
    """OpenAI's reset durations (`20ms`, `1s`, `6m0s`, `1h2m3.5s`, or bare seconds)."""
    text = value.strip()
    if not text:
        return None
    if (ms := _MS.match(text)) is not None:
        return float(ms.group(1)) / 1000
    if re.fullmatch(r"\d+(?:\.\d+)?", text):
        return float(text)
    match = _DURATION.match(text)
    if match is None or not any(match.groups()):
        return None
    hours, minutes, seconds = (float(g) if g else 0.0 for g in match.groups())
    return hours * 3600 + minutes * 60 + seconds


def retry_after_of(
    headers: Mapping[str, str], now: Callable[[], float] = time.time
) -> float | None:
    """Seconds to wait from `retry-after-ms`, `retry-after`, else the rate-limit resets."""
    if (ms := headers.get("retry-after-ms")) is not None:
        try:
            return min(max(float(ms) / 1000, 0.0), MAX_RETRY_AFTER_S)
        except ValueError:
            pass
    if (value := parse_retry_after(headers.get("retry-after"), now)) is not None:
        return value
    resets = [parse_duration(headers[h]) for h in RESET_HEADERS if headers.get(h)]
    known = [r for r in resets if r is not None]
    return min(max(known), MAX_RETRY_AFTER_S) if known else None


def scrub(text: str, secrets: Iterable[str]) -> str:
    """The text with configured secrets and anything key-shaped replaced."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[redacted]")
    return _KEYLIKE.sub("[redacted]", text)


def error_kinds(body: bytes) -> set[str]:
    """The `type` and `code` of an OpenAI-style error body, lower-cased."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return set()
    error = data.get("error") if isinstance(data, dict) else None
    if not isinstance(error, dict):
        return set()
    return {str(error.get(k, "")).lower() for k in ("type", "code")} - {""}


def upstream_message(body: bytes, secrets: Iterable[str]) -> str:
    """The provider's error message (OpenAI or our shape), short and scrubbed; never raw bytes."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return "unreadable error body"
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, dict):
        message = error.get("message")
    elif isinstance(error, str):
        message = error
    else:
        message = data.get("message") if isinstance(data, dict) else None
    if not message:
        return "no message"
    return scrub(str(message)[:300], secrets)


def status_error(
    provider: str,
    status: int,
    body: bytes,
    headers: Mapping[str, str],
    secrets: Iterable[str] = (),
) -> ApiError:
    """The ApiError for a non-200 answer from `provider`."""
    if status in (401, 403) or (status == 400 and error_kinds(body) & AUTH_ERROR_TYPES):
        return BadUpstream(
            f"provider {provider!r} rejected the edge's credentials ({status}); "
            "check its api_key / secret",
            "central_auth",
        )
    message = upstream_message(body, secrets)
    retry_after = retry_after_of(headers)
    if status == 429:
        return TooManyRequests(
            f"provider {provider!r} is rate limiting: {message}",
            "central_rate_limited",
            retry_after_s=retry_after or 1,
        )
    if status in CALLER_ERRORS:
        return CALLER_ERRORS[status](
            f"provider {provider!r} rejected the request: {message}", "central_rejected"
        )
    if status == 504:
        return DeadlineExceeded(f"provider {provider!r} timed out: {message}", "central_timeout")
    if status >= 500:
        return Unavailable(
            f"provider {provider!r} error {status}: {message}",
            "central_error",
            retry_after_s=retry_after or 1,
        )
    return BadUpstream(f"provider {provider!r} answered {status}: {message}", "central_unexpected")


def item_error(error: object) -> ApiError:
    """A failed batch item's error as the ApiError its status names."""
    if not isinstance(error, dict):
        return BadUpstream("central batch item failed without details", "bad_upstream_shape")
    try:
        status = int(error.get("status", 502))
    except (TypeError, ValueError):
        status = 502
    message = str(error.get("message", "central batch item failed"))[:300]
    code = str(error.get("code", "central_item_error"))[:64]
    if status == 429:
        return TooManyRequests(message, code, retry_after_s=1)
    if status in CALLER_ERRORS:
        return CALLER_ERRORS[status](message, code)
    if status >= 500:
        return Unavailable(message, code, retry_after_s=1)
    return BadUpstream(message, code)


def transport_error(provider: str, exc: TransportError) -> ApiError:
    """The ApiError for an attempt that failed below HTTP semantics."""
    if isinstance(exc, ReadTimedOut):
        return DeadlineExceeded(f"provider {provider!r} did not answer in time", "central_timeout")
    if isinstance(exc, BodyTooLarge):
        return BadUpstream(
            f"provider {provider!r} answered over the size limit", "upstream_too_large"
        )
    if isinstance(exc, LineTooLong):
        return BadUpstream(
            f"provider {provider!r} streamed a line over the limit", "upstream_line_too_long"
        )
    if isinstance(exc, BodyError):
        return Unavailable(
            f"provider {provider!r} broke off its answer", "central_unreachable", retry_after_s=1
        )
    return Unavailable(
        f"provider {provider!r} is unreachable", "central_unreachable", retry_after_s=1
    )
