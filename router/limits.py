"""Request-shape limits the schema cannot express: header sizes, slow clients, JSON nesting.

Where each limit lives:
- request line / header field / header count: aiohttp's parser (`server_handler_args`); past a
  limit aiohttp itself answers a plain-text 400 and closes the connection (no app code runs).
- slow headers (slowloris): aiohttp starts the keep-alive timer when a connection opens and
  after each response, and closes the connection if no complete request head has arrived
  when it fires, so `keepalive_timeout` is a total header-read timeout (`header_timeout_s`).
- slow bodies: `limits_middleware` reads JSON bodies under `body_timeout_s` (408 after); aiohttp
  then drains the unread rest for at most `linger_s` before closing (its default is 10 s).
- JSON nesting: `limits_middleware` scans the raw body before `json.loads` (400 json_too_deep).
- body bytes, inputs, text length, image pixels, audio seconds: the app's `client_max_size`,
  `build_job`, and the edge models, as before.
"""

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from aiohttp import web

from common.errors import ApiError, BadRequest

BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
SCAN_CHUNK_BYTES = 1 << 20
_OPEN, _CLOSE, _OPEN_OBJ, _CLOSE_OBJ = b"[]{}"
_QUOTE, _BACKSLASH = b'"\\'
_INSTALLED = web.AppKey("limits_installed", bool)


class RequestTimeout(ApiError):
    """408: the client did not send its request body in time."""

    status, type = 408, "request_timeout"

    def headers(self) -> dict[str, str]:
        """The rest of the body is not worth waiting for."""
        return {"Connection": "close"}


@dataclass(frozen=True)
class ServerLimits:
    """Limits on what a client may send and how slowly (aiohttp defaults where they exist)."""

    max_line_bytes: int = 8190  # request line and each header line
    max_field_bytes: int = 8190  # one header's value
    max_headers: int = 100
    header_timeout_s: float = 15.0  # connection open (or last response) to a full request head
    body_timeout_s: float = 30.0  # the whole JSON body
    linger_s: float = 2.0  # after an early answer, how long to drain an unread body
    max_json_depth: int = 32


def server_handler_args(limits: ServerLimits) -> dict[str, Any]:
    """kwargs for `web.Application(handler_args=...)` or `web.AppRunner(app, **...)`."""
    return {
        "max_line_size": limits.max_line_bytes,
        "max_field_size": limits.max_field_bytes,
        "max_headers": limits.max_headers,
        "keepalive_timeout": limits.header_timeout_s,
        "lingering_time": limits.linger_s,
    }


@dataclass
class _ScanState:
    """What a JSON depth scan carries from one chunk to the next."""

    in_string: bool = False
    escape_next: bool = False  # the chunk ended in an odd run of backslashes
    depth: int = 0
    deepest: int = 0


def _unescaped(quotes: np.ndarray, data: np.ndarray, escape_first: bool) -> np.ndarray:
    """The quote positions not escaped by an odd run of backslashes right before them."""
    slashes = np.flatnonzero(data == _BACKSLASH)
    if slashes.size == 0 or quotes.size == 0:
        return quotes if not escape_first else quotes[quotes != 0]
    breaks = np.flatnonzero(np.diff(slashes) != 1)
    starts = slashes[np.concatenate(([0], breaks + 1))]
    ends = slashes[np.concatenate((breaks, [slashes.size - 1]))]
    lengths = ends - starts + 1 + ((starts == 0) & escape_first)
    run = np.searchsorted(ends, quotes - 1)  # the run that could end right before each quote
    run_ok = run < ends.size
    hit = np.zeros(quotes.size, dtype=bool)
    hit[run_ok] = (ends[run[run_ok]] == quotes[run_ok] - 1) & (lengths[run[run_ok]] % 2 == 1)
    if escape_first:
        hit |= quotes == 0
    return quotes[~hit]


def _scan_chunk(chunk: bytes, state: _ScanState) -> None:
    """Advance `state` over one chunk, vectorised over quote and bracket positions only."""
    data = np.frombuffer(chunk, dtype=np.uint8)
    quotes = _unescaped(np.flatnonzero(data == _QUOTE), data, state.escape_next)
    opens = (data == _OPEN) | (data == _OPEN_OBJ)
    brackets = np.flatnonzero(opens | (data == _CLOSE) | (data == _CLOSE_OBJ))
    outside = (np.searchsorted(quotes, brackets) + int(state.in_string)) % 2 == 0
    if brackets.size:
        steps = np.where(opens[brackets[outside]], 1, -1)
        running = np.cumsum(steps, dtype=np.int64) + state.depth
        if running.size:
            state.deepest = max(state.deepest, int(running.max()))
            state.depth = int(running[-1])
    state.in_string ^= bool(quotes.size % 2)
    trailing = len(chunk) - len(chunk.rstrip(b"\\"))
    if trailing == len(chunk):
        state.escape_next ^= bool(trailing % 2)
    else:
        state.escape_next = bool(trailing % 2)


def json_nesting_depth(
    raw: bytes, chunk_bytes: int = SCAN_CHUNK_BYTES, stop_above: int | None = None
) -> int:
    """The deepest `[`/`{` nesting a JSON parser reaches on `raw` (strings and escapes aware).

    With `stop_above`, scanning may stop early once the depth passes it (a lower bound then).
    """
    state = _ScanState()
    for start in range(0, len(raw), chunk_bytes):
        _scan_chunk(raw[start : start + chunk_bytes], state)
        if stop_above is not None and state.deepest > stop_above:
            break
    return state.deepest


def as_utf8(raw: bytes) -> bytes:
    """The body as UTF-8, transcoding the UTF-16/32 that `json.loads(bytes)` also accepts."""
    encoding = json.detect_encoding(raw)
    if encoding in ("utf-8", "utf-8-sig"):
        return raw  # multi-byte UTF-8 never contains the ASCII bytes the scan looks at
    try:
        return raw.decode(encoding).encode("utf-8", "surrogatepass")
    except UnicodeDecodeError:
        raise BadRequest(f"malformed JSON: not valid {encoding}", "malformed_json") from None


def check_json_depth(raw: bytes, limit: int) -> None:
    """BadRequest `json_too_deep` when `raw` (any JSON encoding) nests deeper than `limit`."""
    raw = as_utf8(raw)
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return  # cannot nest deeper than it has brackets: the usual case, no scan
    if json_nesting_depth(raw, stop_above=limit) > limit:
        raise BadRequest(f"JSON nests deeper than {limit} levels", "json_too_deep")


def parsed_json_depth(data: object) -> int:
    """Nesting depth of already-parsed JSON (iterative, so deep data cannot blow the stack)."""
    deepest = 0
    stack: list[tuple[object, int]] = [(data, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            stack.extend((value, depth + 1) for value in item.values())
        elif isinstance(item, list | tuple):
            stack.extend((value, depth + 1) for value in item)
        else:
            continue
        deepest = max(deepest, depth + 1)
    return deepest


def limits_middleware(limits: ServerLimits) -> Callable[..., Awaitable[web.StreamResponse]]:
    """Middleware: read JSON bodies within `body_timeout_s`, then refuse deep nesting."""

    @web.middleware
    async def enforce_limits(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if request.method in BODY_METHODS and request.content_type == "application/json":
            try:
                async with asyncio.timeout(limits.body_timeout_s):
                    raw = await request.read()  # cached: read_json reads the same bytes
            except TimeoutError:
                raise RequestTimeout(
                    f"request body not received within {limits.body_timeout_s:g} s",
                    "body_timeout",
                ) from None
            check_json_depth(raw, limits.max_json_depth)
        return await handler(request)

    return enforce_limits


def install(app: web.Application, limits: ServerLimits) -> None:
    """Append `limits_middleware` (innermost: after error and auth middlewares) once."""
    if app.get(_INSTALLED):
        return
    app[_INSTALLED] = True
    app.middlewares.append(limits_middleware(limits))
