"""Request plumbing shared by both servers: request ids and JSON bodies validated by pydantic."""

import json
import re
import uuid
from typing import TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from common.errors import REQUEST_ID_HEADER, BadRequest, UnsupportedMedia

_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_REQUEST_ID = web.RequestKey("request_id", str)

M = TypeVar("M", bound=BaseModel)


def request_id_of(request: web.Request) -> str:
    """The caller's X-Request-Id when it is safe to echo, else a fresh one (memoised)."""
    if _REQUEST_ID not in request:
        given = request.headers.get(REQUEST_ID_HEADER, "")
        request[_REQUEST_ID] = given if _SAFE_ID.match(given) else uuid.uuid4().hex
    return request[_REQUEST_ID]


def describe_validation_error(exc: ValidationError) -> str:
    """A short message naming each invalid field."""
    parts = []
    for error in exc.errors()[:5]:
        where = ".".join(str(x) for x in error["loc"]) or "body"
        parts.append(f"{where}: {error['msg']}")
    more = len(exc.errors()) - 5
    return "; ".join(parts) + (f" (and {more} more)" if more > 0 else "")


async def read_json(request: web.Request, model: type[M]) -> M:
    """Parse the body as JSON into `model`: 415 wrong type, 413 too large, 400 invalid."""
    if request.content_type != "application/json":
        raise UnsupportedMedia(
            f"Content-Type must be application/json, not {request.content_type!r}"
        )
    raw = await request.read()  # aiohttp raises 413 past client_max_size
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise BadRequest(f"malformed JSON: {exc}", "malformed_json") from None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise BadRequest(describe_validation_error(exc), "invalid_request") from None
