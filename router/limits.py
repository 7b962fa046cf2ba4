"""The edge's input limits, one set for every endpoint and transport, and where each is enforced.

- request line / header field / header count: aiohttp's parser (`server_handler_args`); past a
  limit its `handle_error` answers, which `common.http.JsonErrorAppRunner` makes our JSON 400.
- slow headers (slowloris): aiohttp's keep-alive timer runs from connection open (or the last
  response) to a complete request head, so `keepalive_timeout` is a header-read timeout.
- body bytes, slow bodies, bad `Content-Encoding`, JSON depth, number size, Unicode that cannot
  be encoded: `common.http.read_json` with the `BodyLimits` that `install` puts on the app.
- inputs per request, characters per input, labels, decoded media bytes: `check_input_sizes`,
  called by the one job builder every codec (/v3, OpenAI, chat, gRPC) goes through, before
  any work (PII scan, cache, model) starts. Each error names the setting it hit.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from aiohttp import web
from pydantic import Field

from common.content_encoding import RAW_BODY_HANDLER_ARGS
from common.errors import BadRequest, PayloadTooLarge
from common.http import BODY_LIMITS, BodyLimits, RequestTimeout
from common.jsonbody import check_json_depth, json_nesting_depth, parsed_json_depth

__all__ = [
    "InputLimits",
    "RequestTimeout",
    "ServerLimits",
    "check_input_sizes",
    "check_json_depth",
    "install",
    "json_nesting_depth",
    "parsed_json_depth",
    "server_handler_args",
]


@dataclass(frozen=True)
class ServerLimits:
    """What a client may send and how slowly (`server` keys; aiohttp defaults where they exist)."""

    max_header_line_bytes: Annotated[int, Field(ge=256)] = 8190  # request line, each header line
    max_header_bytes: Annotated[int, Field(ge=256)] = 8190  # one header's value
    max_headers: Annotated[int, Field(ge=8)] = 100
    # slowloris: connection open (or the last response) to a full request head within this
    header_timeout_s: Annotated[float, Field(gt=0)] = 15.0
    body_timeout_s: Annotated[float, Field(gt=0)] = 30.0  # the whole JSON body
    linger_s: Annotated[float, Field(ge=0)] = 2.0  # after an early answer, drain an unread body
    max_json_depth: Annotated[int, Field(ge=2)] = 32

    def body(self) -> BodyLimits:
        """The part `read_json` enforces."""
        return BodyLimits(body_timeout_s=self.body_timeout_s, max_json_depth=self.max_json_depth)


@dataclass(frozen=True)
class InputLimits:
    """What one request may carry, whatever the endpoint or transport."""

    max_inputs: int = 64
    max_text_chars: int = 100_000  # per input: its text plus its chat messages
    max_labels: int = 512  # Banking77 has 77 intents, CLINC150 150
    max_label_chars: int = 200
    max_media_bytes: int = 10 * 1024 * 1024  # one decoded image or audio payload


def server_handler_args(limits: ServerLimits) -> dict[str, Any]:
    """kwargs for `web.Application(handler_args=...)` or `web.AppRunner(app, **...)`."""
    return {
        "max_line_size": limits.max_header_line_bytes,
        "max_field_size": limits.max_header_bytes,
        "max_headers": limits.max_headers,
        "keepalive_timeout": limits.header_timeout_s,
        "lingering_time": limits.linger_s,
        **RAW_BODY_HANDLER_ARGS,  # a corrupt compressed body: 400, connection kept
    }


def check_input_sizes(
    limits: InputLimits,
    chars: Sequence[int],
    labels: Sequence[str] = (),
    media_bytes: Sequence[int] = (),
) -> None:
    """400/413 naming the limit when a request carries too much; silent otherwise.

    `chars[i]` is input i's characters (text and messages), `media_bytes` each decoded payload.
    """
    if not chars:
        raise BadRequest("`inputs` must not be empty", "empty_inputs")
    if len(chars) > limits.max_inputs:
        raise BadRequest(
            f"{len(chars)} inputs; at most {limits.max_inputs} per request (max_inputs)",
            "too_many_inputs",
        )
    for index, n in enumerate(chars):
        if n > limits.max_text_chars:
            raise BadRequest(
                f"inputs[{index}].text is over {limits.max_text_chars} characters (max_text_chars)",
                "text_too_long",
            )
    if len(labels) > limits.max_labels:
        raise BadRequest(f"at most {limits.max_labels} labels (max_labels)", "too_many_labels")
    if any(len(label) > limits.max_label_chars for label in labels):
        raise BadRequest(
            f"a label is over {limits.max_label_chars} characters (max_label_chars)",
            "label_too_long",
        )
    for index, size in enumerate(media_bytes):
        if size > limits.max_media_bytes:
            raise PayloadTooLarge(
                f"inputs[{index}] media is {size} bytes; at most {limits.max_media_bytes}"
                " (max_media_bytes)",
                "media_too_large",
            )


def install(app: web.Application, limits: ServerLimits) -> None:
    """Give the app its body limits (read by `common.http.read_json`)."""
    app[BODY_LIMITS] = limits.body()
