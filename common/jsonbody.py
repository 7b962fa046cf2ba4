"""JSON request bodies parsed within limits: encoding, nesting depth, number size, Unicode.

Every parse failure is a `BadRequest` with a code that names what was wrong:
`malformed_json`, `json_too_deep`, `number_too_large`, `invalid_unicode`.
The depth scan runs on the raw bytes (vectorised over quotes and brackets only) so a body
nested a million levels deep is refused before any parser recurses into it.
"""

import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from common.errors import BadRequest

SCAN_CHUNK_BYTES = 1 << 20
_OPEN, _CLOSE, _OPEN_OBJ, _CLOSE_OBJ = b"[]{}"
_QUOTE, _BACKSLASH = b'"\\'
_UNICODE_ERRORS = ("surrogate", "UTF-8", "utf-8")
_NUMBER_ERRORS = ("infinity",)


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
    """The body as UTF-8, transcoding the UTF-16/32 that RFC 8259 parsers also accept."""
    encoding = json.detect_encoding(raw)
    if encoding == "utf-8":
        return raw  # multi-byte UTF-8 never contains the ASCII bytes the scan looks at
    if encoding == "utf-8-sig":
        return raw[3:]
    try:
        return raw.decode(encoding).encode("utf-8")
    except UnicodeError:
        raise BadRequest(
            f"malformed JSON: not valid {encoding} text (lone surrogates cannot be encoded)",
            "invalid_unicode",
        ) from None


def check_json_depth(raw: bytes, limit: int) -> None:
    """BadRequest `json_too_deep` when `raw` (any JSON encoding) nests deeper than `limit`."""
    raw = as_utf8(raw)
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return  # cannot nest deeper than it has brackets: the usual case, no scan
    if json_nesting_depth(raw, stop_above=limit) > limit:
        raise BadRequest(f"JSON nests deeper than {limit} levels (max_json_depth)", "json_too_deep")


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


def parse_json_body(raw: bytes, max_depth: int) -> Any:
    """Parse a request body: any RFC 8259 encoding, depth-limited, Unicode that encodes.

    Lone surrogates (`"\\ud800"`) are refused here, at parse time, so no text that cannot be
    encoded reaches a tokenizer, a batch or the central. Numbers past a double's range are
    refused (`number_too_large`), so no parser spends quadratic time on a 5000-digit integer.
    """
    raw = as_utf8(raw)
    check_json_depth(raw, max_depth)  # UTF-8 now: as_utf8 there is a no-op
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        message = str(exc)
        if any(word in message for word in _UNICODE_ERRORS):
            raise BadRequest(
                f"malformed JSON: text that is not valid Unicode ({message})", "invalid_unicode"
            ) from None
        if any(word in message for word in _NUMBER_ERRORS):
            raise BadRequest(
                f"malformed JSON: a number out of range ({message})", "number_too_large"
            ) from None
        raise BadRequest(f"malformed JSON: {message}", "malformed_json") from None
