"""Fuzz SSE parsing of upstream streams: only ApiError may come out of `stream_events`.

The bytes a provider streams are split into lines and parsed with each protocol's event parser
(the `/v3` central's and OpenAI's). Whatever arrives, the caller sees text pieces and then
exactly one final event, or a typed ApiError; never a crash, never a silent empty stream.
Run: `python tests/fuzz/fuzz_sse.py -runs=100000` (or -max_total_time=60).
"""

import json
import sys
from collections.abc import AsyncIterator, Coroutine
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the checkout importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from central_client.config import ProviderConfig
from central_client.factory import build_adapter
from central_client.sse import stream_events
from common.errors import ApiError
from tests.fuzz.provider import Draw, run

ADAPTERS = [
    build_adapter(ProviderConfig("v3", "v3", "http://c", "multimodal-pro", secret="s" * 32)),
    build_adapter(ProviderConfig("openai", "openai", "http://o", "gpt")),
]


async def lines_of(raw: bytes) -> AsyncIterator[bytes]:
    """The stream as the transport yields it: one line at a time, line endings stripped."""
    for line in raw.split(b"\n"):
        yield line.rstrip(b"\r")


def drive(coroutine: Coroutine[Any, Any, Any]) -> Any:
    """Run a coroutine that never really waits (no event loop needed)."""
    try:
        coroutine.send(None)
    except StopIteration as done:
        return done.value
    raise AssertionError("the SSE parser awaited something other than its input")


def events(raw: bytes, adapter_index: int) -> list[dict[str, Any]]:
    """Every event `stream_events` yields for `raw`."""
    adapter = ADAPTERS[adapter_index]
    stream = stream_events(lines_of(raw), adapter.event, adapter.__class__.__name__)
    out: list[dict[str, Any]] = []
    while True:
        try:
            out.append(drive(stream.__anext__()))
        except StopAsyncIteration:
            return out


def TestOneInput(data: bytes) -> str:
    """One upstream stream through the parser; the outcome."""
    draw = Draw(data)
    adapter_index = draw.below(len(ADAPTERS))
    try:
        got = events(draw.rest(), adapter_index)
    except ApiError:
        return "rejected"
    assert got, "a stream must end with a final event or an error"
    *pieces, final = got
    assert "finish_reason" in final and final["text"] == "", final
    assert all(p.get("text") and "finish_reason" not in p for p in pieces), pieces
    return "parsed"


def seed_inputs() -> list[bytes]:
    """Valid streams of both protocols, and a few broken ones."""
    v3 = [{"text": "Hel"}, {"text": "lo"}, {"text": "", "finish_reason": "stop", "usage": {}}]
    openai = [
        {"choices": [{"delta": {"content": "Hi"}, "index": 0}]},
        {"choices": [{"delta": {}, "finish_reason": "stop", "index": 0}]},
    ]
    v3_raw = b"".join(b"data: " + json.dumps(e).encode() + b"\n\n" for e in v3)
    openai_raw = b"".join(b"data: " + json.dumps(e).encode() + b"\n\n" for e in openai)
    return [
        b"\x00" + v3_raw + b"data: [DONE]\n\n",
        b"\x01" + openai_raw + b"data: [DONE]\n\n",
        b"\x01<html>502</html>\n",
        b"\x00data: {not json\n\n",
        b'\x01: keep-alive\n\ndata: {"error": {"message": "x", "type": "server_error"}}\n\n',
    ]


if __name__ == "__main__":
    run(TestOneInput, seed_inputs())
