"""Server-sent events from a provider, checked: payloads, `[DONE]`, and one final event.

Whatever the upstream streams, the caller sees `{"text"}` pieces and then exactly one
`{"text": "", "finish_reason", "usage"}`, or a typed ApiError (BadUpstream for garbage:
invalid JSON, a wrong shape, HTML, undecodable bytes, or a stream that stops early).
"""

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

from central_client.adapters import CentralAnswer
from central_client.upstream_errors import item_error
from common.errors import BadUpstream

EventParser = Callable[[Any], dict[str, Any] | None]


async def sse_payloads(lines: AsyncIterator[bytes]) -> AsyncIterator[str]:
    """The `data` of each event (multi-line data joined with newlines), per the SSE rules."""
    data: list[str] = []
    async for raw in lines:
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise BadUpstream(
                "the provider streamed bytes that are not UTF-8", "upstream_garbage"
            ) from None
        if not line:
            if data:
                yield "\n".join(data)
                data = []
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        if field == "data":
            data.append(value[1:] if value.startswith(" ") else value)
    if data:
        yield "\n".join(data)


async def stream_events(
    lines: AsyncIterator[bytes], parse: EventParser, provider: str
) -> AsyncIterator[dict[str, Any]]:
    """Text pieces, then one final event; BadUpstream for anything else."""
    finish: str | None = None
    usage: dict[str, int] = {}
    done = False
    async for payload in sse_payloads(lines):
        if payload.strip() == "[DONE]":
            done = True
            break
        try:
            data = json.loads(payload)
        except ValueError:
            raise BadUpstream(
                f"provider {provider!r} streamed invalid JSON", "upstream_garbage"
            ) from None
        event = parse(data)
        if event is None:
            continue
        if "error" in event:
            raise item_error(event["error"])
        if event.get("text"):
            yield {"text": str(event["text"]), "provider": provider}
        if event.get("finish_reason"):
            finish = str(event["finish_reason"])
        if event.get("usage"):
            usage = dict(event["usage"])
    if not done and finish is None:
        raise BadUpstream(
            f"provider {provider!r} ended its stream before finishing", "upstream_truncated"
        )
    yield {"text": "", "finish_reason": finish or "stop", "usage": usage, "provider": provider}


def whole_answer(answer: CentralAnswer, provider: str) -> list[dict[str, Any]]:
    """A provider's whole JSON answer to a stream request as one piece and the final event."""
    output = answer.outputs[0]
    if not isinstance(output.get("text"), str):
        raise BadUpstream(f"provider {provider!r} answered no text", "bad_upstream_shape")
    final = {"finish_reason": output.get("finish_reason") or "stop", "usage": answer.usage}
    return [
        {"text": output["text"], "provider": provider},
        {"text": "", **final, "provider": provider},
    ]
