"""Request plumbing shared by both servers: request ids, JSON bodies within limits, JSON answers.

Everything a client sends is read here, so every parse failure is one of our JSON errors:
- body bytes: `client_max_size` (413 `body_too_large`), a deadline for slow bodies (408),
  bad `Content-Encoding`/chunking (400 `invalid_body_encoding`);
- JSON: encoding, depth, number size, Unicode (`common.jsonbody`), then the pydantic model;
- the request head itself (too many or too long headers, a bad request line): aiohttp's parser
  answers those before any app code runs, so `JsonErrorAppRunner` serves connections whose
  `handle_error` writes our JSON error instead of aiohttp's text/plain page.
"""

import asyncio
import json
import os
import re
from dataclasses import dataclass
from typing import Any, TypeVar

import orjson
from aiohttp import hdrs, web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestHandler, RequestPayloadError
from aiohttp.web_request import BaseRequest
from pydantic import BaseModel, ValidationError

from common.content_encoding import decode_body
from common.errors import (
    REQUEST_ID_HEADER,
    ApiError,
    BadRequest,
    InternalError,
    PayloadTooLarge,
    UnsupportedMedia,
    error_body,
)
from common.jsonbody import parse_json_body

_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_REQUEST_ID = web.RequestKey("request_id", str)
_DUMPS_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS

M = TypeVar("M", bound=BaseModel)


class RequestTimeout(ApiError):
    """408: the client did not send its request body in time."""

    status, type = 408, "request_timeout"

    def headers(self) -> dict[str, str]:
        """The rest of the body is not worth waiting for."""
        return {"Connection": "close"}


@dataclass(frozen=True)
class BodyLimits:
    """What a JSON body may be: how long it may take to arrive, how deep it may nest."""

    body_timeout_s: float = 30.0
    max_json_depth: int = 32
    offload_bytes: int = 256 * 1024  # parse + validate bigger bodies in a worker thread


BODY_LIMITS = web.AppKey("body_limits", BodyLimits)


def new_request_id() -> str:
    """A fresh request id: 32 random hex digits (uuid4's `.hex` length, without its cost)."""
    return os.urandom(16).hex()


def request_id_from(given: object) -> str:
    """The caller's request id when it is safe to echo (HTTP header, gRPC metadata), else a
    fresh one."""
    return given if isinstance(given, str) and _SAFE_ID.match(given) else new_request_id()


def request_id_of(request: web.Request) -> str:
    """The caller's X-Request-Id when it is safe to echo, else a fresh one (memoised)."""
    if _REQUEST_ID not in request:
        request[_REQUEST_ID] = request_id_from(request.headers.get(REQUEST_ID_HEADER, ""))
    return request[_REQUEST_ID]


def describe_validation_error(exc: ValidationError) -> str:
    """A short message naming each invalid field."""
    parts = []
    for error in exc.errors()[:5]:
        where = ".".join(str(x) for x in error["loc"]) or "body"
        parts.append(f"{where}: {error['msg']}")
    more = len(exc.errors()) - 5
    return "; ".join(parts) + (f" (and {more} more)" if more > 0 else "")


def limits_of(request: web.Request) -> BodyLimits:
    """The app's body limits (defaults where the app set none)."""
    return request.app.get(BODY_LIMITS) or BodyLimits()


async def read_body(request: web.Request, limits: BodyLimits) -> bytes:
    """The whole body within `body_timeout_s`, its `Content-Encoding` undone; errors as JSON."""
    raw = await _read_raw(request, limits)
    coding = request.headers.get(hdrs.CONTENT_ENCODING)
    return raw if coding is None else decode_body(raw, coding, request.client_max_size)


async def _read_raw(request: web.Request, limits: BodyLimits) -> bytes:
    """The body's bytes as sent, within `body_timeout_s`."""
    try:
        if request.content.is_eof():  # all of it is here already: nothing to wait for
            return await request.read()
        async with asyncio.timeout(limits.body_timeout_s):
            return await request.read()  # cached after the first read
    except TimeoutError:
        raise RequestTimeout(
            f"request body not received within {limits.body_timeout_s:g} s (body_timeout_s)",
            "body_timeout",
        ) from None
    except web.HTTPRequestEntityTooLarge:
        raise PayloadTooLarge(
            f"request body is over {request.client_max_size} bytes (max_body_bytes)",
            "body_too_large",
        ) from None
    except (HttpProcessingError, RequestPayloadError) as exc:
        reason = exc.message if isinstance(exc, HttpProcessingError) else str(exc)
        raise BadRequest(
            f"request body could not be decoded: {reason.strip()}", "invalid_body_encoding"
        ) from None


def validate_body(raw: bytes, model: type[M], limits: BodyLimits) -> M:
    """Parse `raw` within the limits and validate it into `model` (BadRequest otherwise)."""
    data = parse_json_body(raw, limits.max_json_depth)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise BadRequest(describe_validation_error(exc), "invalid_request") from None


async def read_json(request: web.Request, model: type[M]) -> M:
    """Parse the body as JSON into `model`: 415 wrong type, 413 too large, 408 slow, 400 invalid."""
    if request.content_type != "application/json":
        raise UnsupportedMedia(
            f"Content-Type must be application/json, not {request.content_type!r}"
        )
    limits = limits_of(request)
    raw = await read_body(request, limits)
    if len(raw) <= limits.offload_bytes:
        return validate_body(raw, model, limits)
    return await asyncio.to_thread(validate_body, raw, model, limits)


def dumps(data: Any) -> bytes:
    """JSON bytes, fast (orjson); text orjson refuses (lone surrogates) is escaped instead."""
    try:
        return orjson.dumps(data, option=_DUMPS_OPTIONS)
    except orjson.JSONEncodeError:
        return json.dumps(data, default=str).encode()


def json_response(
    data: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    """A JSON answer encoded with `dumps` (a 64 x 384 embedding answer in ~1 ms, not ~30)."""
    return web.Response(
        body=dumps(data), status=status, headers=headers, content_type="application/json"
    )


class JsonErrorHandler(RequestHandler):
    """aiohttp's connection handler, answering its own parser errors as our JSON errors."""

    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        """The JSON error for a request aiohttp could not parse; the connection closes after."""
        super().handle_error(request, status, exc, message)  # logs; raises if already sent
        kind = InternalError if status >= 500 else BadRequest
        detail = "internal error" if status >= 500 else f"bad HTTP request: {message or status}"
        error = kind(detail, "bad_http_request" if status < 500 else None)
        request_id = new_request_id()
        response = web.Response(
            body=dumps(error_body(error, request_id)),
            status=status,
            content_type="application/json",
            headers={REQUEST_ID_HEADER: request_id},
        )
        response.force_close()
        return response


class JsonErrorServer(web.Server):
    """aiohttp's server whose connections are `JsonErrorHandler`s."""

    def __call__(self) -> RequestHandler:
        """One protocol instance per connection."""
        return JsonErrorHandler(self, loop=self._loop, **self._kwargs)


class JsonErrorAppRunner(web.AppRunner):
    """`web.AppRunner` whose connections answer malformed request heads in JSON."""

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        server.__class__ = JsonErrorServer  # same state, one overridden protocol factory
        return server
