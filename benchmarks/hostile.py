"""Hostile input for the hardening benchmark: the bad requests of issue 16, and how to send them.

Each `Bad` is one malformed or abusive request; `HostileSender` sends it (over aiohttp, or as raw
bytes on a socket for heads aiohttp's client would refuse to write) and checks that the answer
is a JSON error. `LoopLag` reads the edge's `edge_event_loop_lag_seconds` histogram.
"""

import asyncio
import contextlib
import json
from dataclasses import dataclass, field

import aiohttp

from benchmarks.loadgen import Outcome, Request

EMBED = "/v3/models/all-minilm-l6-v2/generate"
LAG_METRIC = "edge_event_loop_lag_seconds_bucket"


@dataclass(frozen=True)
class Bad:
    """One hostile request: raw body bytes, or (`raw_head`) a whole request for a socket."""

    name: str
    path: str = EMBED
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = (("Content-Type", "application/json"),)
    method: str = "POST"
    raw_head: bytes = b""
    expect: int = 400


def ipv4_text(chars: int) -> str:
    """Text full of IPv4 addresses (PII the scanner must find), `chars` long."""
    return ("10.1.2.3 " * (chars // 9 + 1))[:chars]


def bad_inputs(max_text_chars: int = 100_000) -> list[Bad]:
    """Issue 16's bad inputs (and a few more), each with the status it must get."""
    surrogate = '"a lone \\ud800 surrogate"'
    return [
        Bad("lone-surrogate-v3", body=b'{"inputs": {"text": %s}}' % surrogate.encode()),
        Bad(
            "lone-surrogate-openai",
            "/v1/embeddings",
            b'{"model": "all-minilm-l6-v2", "input": [%s]}' % surrogate.encode(),
        ),
        Bad(
            "lone-surrogate-chat",
            "/v1/chat/completions",
            b'{"messages": [{"role": "user", "content": %s}]}' % surrogate.encode(),
        ),
        Bad(
            "integer-5000-digits",
            body=b'{"inputs": {"text": "x"}, "parameters": {"top_k": %s}}' % (b"9" * 5000),
        ),
        Bad(
            "bad-deflate",
            body=b"not deflate at all",
            headers=(("Content-Type", "application/json"), ("Content-Encoding", "deflate")),
        ),
        Bad("json-100k-deep", body=b'{"inputs": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"),
        Bad("malformed-json", body=b'{"inputs": {"text": "x"'),
        Bad("empty-inputs", body=b'{"inputs": []}'),
        Bad("too-many-inputs", body=json.dumps({"inputs": [{"text": "t"}] * 65}).encode()),
        Bad(
            "text-over-max_text_chars",
            body=json.dumps({"inputs": {"text": "y" * (max_text_chars + 1)}}).encode(),
        ),
        Bad(
            "embeddings-10MB",
            "/v1/embeddings",
            json.dumps({"model": "all-minilm-l6-v2", "input": "z" * 10_000_000}).encode(),
        ),
        Bad("method-405", method="DELETE", expect=405),
        Bad(
            "header-9kB",
            raw_head=b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n",
        ),
        Bad(
            "150-headers",
            raw_head=b"GET /healthz HTTP/1.1\r\nHost: x\r\n"
            + b"".join(b"X-H%d: v\r\n" % i for i in range(150))
            + b"\r\n",
        ),
    ]


def pii_flood(max_inputs: int = 64, chars: int = 100_000) -> Bad:
    """F2: an in-limits request of `max_inputs` x `chars` IPv4-laden texts (a 200, slowly)."""
    body = {
        "inputs": [{"text": ipv4_text(chars)} for _ in range(max_inputs)],
        "parameters": {"cache": False},
    }
    return Bad("pii-64x100k", body=json.dumps(body).encode(), expect=200)


@dataclass
class HostileSender:
    """Sends `Bad` requests (by name, in `Request.path`); counts answers that are not JSON."""

    session: aiohttp.ClientSession
    url: str
    bad: dict[str, Bad]
    timeout_s: float = 120.0
    not_json: dict[str, int] = field(default_factory=dict)
    unexpected: dict[str, list[int]] = field(default_factory=dict)

    async def __call__(self, request: Request) -> Outcome:
        """Send one; its status (0 with an error name when nothing came back)."""
        bad = self.bad[request.path]
        try:
            if bad.raw_head:
                status, is_json = await self._raw(bad.raw_head)
            else:
                status, is_json = await self._http(bad)
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            return Outcome(0, "none", type(exc).__name__)
        if not is_json:
            self.not_json[bad.name] = self.not_json.get(bad.name, 0) + 1
        if status != bad.expect:
            self.unexpected.setdefault(bad.name, []).append(status)
        return Outcome(status, "hostile")

    async def _http(self, bad: Bad) -> tuple[int, bool]:
        async with self.session.request(
            bad.method,
            self.url + bad.path,
            data=bad.body or None,
            headers=dict(bad.headers),
            timeout=aiohttp.ClientTimeout(total=self.timeout_s),
        ) as response:
            body = await response.read()
        return response.status, is_json_error(body, response.content_type, response.status)

    async def _raw(self, head: bytes) -> tuple[int, bool]:
        host, port = self.url.removeprefix("http://").rsplit(":", 1)
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            with contextlib.suppress(ConnectionResetError, BrokenPipeError):
                writer.write(head)
                await writer.drain()
            async with asyncio.timeout(self.timeout_s):
                answer = await reader.read()
        finally:
            writer.close()
        top, _, body = answer.partition(b"\r\n\r\n")
        status = int(top.split(b" ", 2)[1]) if top.startswith(b"HTTP/") else 0
        return status, is_json_error(body, "application/json" * (b"json" in top.lower()), status)


def is_json_error(body: bytes, content_type: str, status: int) -> bool:
    """A 2xx, or a JSON body with an `error` object."""
    if status < 400:
        return True
    if "json" not in content_type:
        return False
    try:
        return isinstance(json.loads(body).get("error"), dict)
    except (ValueError, AttributeError):
        return False


async def lag_buckets(session: aiohttp.ClientSession, url: str) -> dict[float, float]:
    """The edge's cumulative loop-lag histogram: upper bound (s) → count."""
    async with session.get(url + "/metrics") as response:
        text = await response.text()
    buckets = {}
    for line in text.splitlines():
        if line.startswith(LAG_METRIC + "{"):
            bound = line.split('le="', 1)[1].split('"', 1)[0]
            buckets[float(bound)] = float(line.rsplit(" ", 1)[1])
    return buckets


def lag_quantile(before: dict[float, float], after: dict[float, float], q: float) -> float:
    """The q-quantile of the loop lag (ms, a bucket's upper bound) between two scrapes."""
    bounds = sorted(after)
    delta = [after[b] - before.get(b, 0.0) for b in bounds]
    total = delta[-1] if delta else 0.0
    if total <= 0:
        return float("nan")
    for bound, count in zip(bounds, delta, strict=True):
        if count >= q * total:
            return bound * 1000
    return float("inf")


def lag_max_bound(before: dict[float, float], after: dict[float, float]) -> float:
    """The smallest bucket bound (ms) that holds every tick between two scrapes."""
    return lag_quantile(before, after, 1.0)
