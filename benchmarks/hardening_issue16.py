"""Issue 16's findings F1-F11 as benchmark rows with pass criteria (the soak: `hostile_soak`).

Each row probes the running edge (wired to the tiny upstream, whose fault modes script the
central) and says what held and what failed; the regression test that pins each finding is
named in the report (.coord) and in each test module's docstring.
"""

import asyncio
import glob
import json
import os
import signal
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp

from benchmarks.hardening import Row
from benchmarks.hostile import (
    HostileSender,
    bad_inputs,
    lag_buckets,
    lag_max_bound,
    pii_flood,
)
from benchmarks.loadgen import Request
from benchmarks.node import Node

GENERATE = "/v3/models/multimodal-pro/generate"


def row(name: str, load: str, checks: dict[str, bool], numbers: dict[str, Any]) -> Row:
    """A row from named pass criteria."""
    held = [k for k, ok in checks.items() if ok]
    return Row(name, load, held, [k for k, ok in checks.items() if not ok], numbers)


async def fault(session: aiohttp.ClientSession, upstream: str, mode: str, size: int = 0) -> None:
    """Script the tiny upstream."""
    body = {"mode": mode, **({"size": size} if size else {})}
    async with session.post(upstream + "/admin/fault", json=body) as response:
        assert response.status == 200, await response.text()


async def post(
    session: aiohttp.ClientSession, url: str, body: Any, headers: dict[str, str] | None = None
) -> tuple[int, Any, float]:
    """POST JSON; status, parsed body (text when not JSON) and seconds taken."""
    started = time.monotonic()
    async with session.post(url, json=body, headers=headers or {}) as response:
        raw = await response.read()
    try:
        parsed = json.loads(raw)
    except ValueError:
        parsed = raw[:200].decode(errors="replace")
    return response.status, parsed, round(time.monotonic() - started, 3)


async def while_probing(
    session: aiohttp.ClientSession, node: Node, work: Callable[[], Awaitable[Any]]
) -> tuple[Any, float, float]:
    """Run `work` while timing /healthz every 50 ms; its result, healthz max (ms), lag max (ms)."""
    before = await lag_buckets(session, node.url)
    worst = 0.0
    task = asyncio.create_task(work())
    while not task.done():
        started = time.monotonic()
        async with session.get(node.url + "/healthz") as response:
            await response.read()
        worst = max(worst, (time.monotonic() - started) * 1000)
        await asyncio.sleep(0.05)
    after = await lag_buckets(session, node.url)
    return await task, round(worst, 1), lag_max_bound(before, after)


async def big_answers(session: aiohttp.ClientSession, node: Node, upstream: str) -> Row:
    """F1: valid central answers of 2 x 64 000 chars and 10 MB are 200, not 502."""
    numbers: dict[str, Any] = {}
    for label, inputs, size in (("2x64000", 2, 64_000), ("1x10MB", 1, 10_000_000)):
        await fault(session, upstream, "big", size)
        body = {
            "inputs": [{"text": f"long {i}", "task": "generate"} for i in range(inputs)],
            "parameters": {"cache": False},
        }
        status, answer, seconds = await post(session, node.url + GENERATE, body)
        length = len(answer["outputs"][0]["text"]) if status == 200 else 0
        numbers[label] = {"status": status, "chars": length, "seconds": seconds}
    await fault(session, upstream, "none")
    checks = {
        f"{label} central answer is 200 with every char": n["status"] == 200 and n["chars"] == size
        for (label, n), size in zip(numbers.items(), (64_000, 10_000_000), strict=True)
    }
    return row("F1 big central answers", "tiny upstream, big mode", checks, numbers)


async def pii_freeze(session: aiohttp.ClientSession, node: Node) -> Row:
    """F2: one 64 x 100k-char IPv4 request must not freeze /healthz or the loop."""
    flood = pii_flood()
    sender_ = HostileSender(session, node.url, {flood.name: flood})
    outcome, healthz_ms, lag_ms = await while_probing(
        session, node, lambda: sender_(Request("POST", flood.name, None, "hostile"))
    )
    numbers = {"status": outcome.status, "healthz_max_ms": healthz_ms, "loop_lag_max_ms": lag_ms}
    checks = {
        "answered 200": outcome.status == 200,
        "/healthz max < 250 ms while it runs": healthz_ms < 250,
    }
    return row("F2 PII flood (64 x 100k IPv4)", "1 request", checks, numbers)


async def bad_input_rows(session: aiohttp.ClientSession, node: Node) -> list[Row]:
    """F3, F4, F9, F11: every bad input gets its JSON status."""
    bad = {b.name: b for b in bad_inputs()}
    send = HostileSender(session, node.url, bad)
    results = {}
    for name in bad:
        outcome, _, lag_ms = await while_probing(
            session, node, lambda n=name: send(Request("POST", n, None, "hostile"))
        )
        results[name] = {"status": outcome.status, "loop_lag_max_ms": lag_ms}

    def ok(name: str) -> bool:
        return results[name]["status"] == bad[name].expect and name not in send.not_json

    groups = {
        "F3 /v1/embeddings 10 MB input": ["embeddings-10MB", "text-over-max_text_chars"],
        "F4 bad input is a JSON 4xx": [
            "lone-surrogate-v3",
            "lone-surrogate-openai",
            "lone-surrogate-chat",
            "integer-5000-digits",
            "bad-deflate",
            "json-100k-deep",
            "malformed-json",
        ],
        "F9 oversized heads": ["header-9kB", "150-headers"],
        "F11 schema and server agree": ["empty-inputs", "too-many-inputs", "method-405"],
    }
    rows = []
    for title, names in groups.items():
        checks = {f"{n}: JSON {bad[n].expect}": ok(n) for n in names}
        rows.append(row(title, "one request each", checks, {n: results[n] for n in names}))
    return rows


async def allow_header(session: aiohttp.ClientSession, node: Node) -> bool:
    """F11: a 405 carries Allow."""
    async with session.delete(node.url + "/v1/embeddings") as response:
        return response.status == 405 and "POST" in response.headers.get("Allow", "")


async def hang_and_recover(session: aiohttp.ClientSession, node: Node, upstream: str) -> list[Row]:
    """F6: a hang without a caller deadline ends at request_timeout_s; F7: then reopens."""
    await fault(session, upstream, "hang")
    body = {"inputs": {"text": "hang", "task": "generate"}, "parameters": {"cache": False}}
    hung = await asyncio.gather(*(post(session, node.url + GENERATE, body) for _ in range(5)))
    await fault(session, upstream, "none")
    recovered_at = time.monotonic()
    reopened_s = None
    tries = 0
    while time.monotonic() - recovered_at < 70:
        tries += 1
        status, _, _ = await post(
            session, node.url + GENERATE, body, {"X-Request-Deadline-Ms": "300"}
        )
        if status == 200:
            reopened_s = round(time.monotonic() - recovered_at, 2)
            break
        await asyncio.sleep(0.25)
    f6 = row(
        "F6 default request timeout",
        "5 generates to a hung central, no deadline",
        {
            "every one a JSON 504": all(s == 504 and isinstance(a, dict) for s, a, _ in hung),
            "answered within 35 s": max(t for _, _, t in hung) < 35,
        },
        {"statuses": [s for s, _, _ in hung], "seconds": [t for _, _, t in hung]},
    )
    f7 = row(
        "F7 deadline routing after recovery",
        "300 ms-deadline generates every 0.25 s after the hang ends",
        {"reopens within 15 s (was 60.4 s)": reopened_s is not None and reopened_s <= 15},
        {"reopened_after_s": reopened_s, "tries": tries},
    )
    return [f6, f7]


async def stream_garbage(session: aiohttp.ClientSession, node: Node, upstream: str) -> Row:
    """F5: a streamed chat over an upstream answering HTML ends with an in-band error."""
    await fault(session, upstream, "garbage")
    body = {"messages": [{"role": "user", "content": "hi"}], "stream": True, "max_tokens": 4}
    async with session.post(node.url + "/v1/chat/completions", json=body) as response:
        status, text = response.status, (await response.read()).decode(errors="replace")
    await fault(session, upstream, "none")
    silent = status == 200 and '"error"' not in text
    checks = {
        "a JSON error or an in-band error event, never a silent 200": not silent,
        "no 5xx page in text/plain": not (status >= 500 and "error" not in text),
    }
    return row("F5 stream over upstream garbage", "1 streamed chat", checks, {"status": status})


def hedge_row() -> Row:
    """The hedging row, from the newest hedge benchmark result if one was committed."""
    files = sorted(glob.glob("benchmarks/results/hedg*.json"))
    if not files:
        return row("hedging", "not measured in this run", {"hedge benchmark present": False}, {})
    data = json.loads(Path(files[-1]).read_text())
    summary = data.get("summary") or {}
    with_hedge = summary.get("p99_with_hedge_ms", float("inf"))
    without = summary.get("p99_without_hedge_ms", 0.0)
    checks = {
        "p99 lower with the hedge": with_hedge < without,
        "extra load <= 5%": summary.get("extra_load", 1.0) <= 0.05,
        "no errors": summary.get("errors", 1) == 0,
    }
    return row("hedging", f"from {os.path.basename(files[-1])}", checks, summary)


async def drain(session: aiohttp.ClientSession, node: Node, drain_s: float) -> Row:
    """F8: after SIGTERM, /readyz answers 503 for the drain delay before the listener closes."""
    assert node.pid is not None
    os.kill(node.pid, signal.SIGTERM)
    started = time.monotonic()
    statuses: list[int] = []
    while time.monotonic() - started < drain_s + 30:
        try:
            async with session.get(node.url + "/readyz") as response:
                statuses.append(response.status)
        except aiohttp.ClientError:
            break
        await asyncio.sleep(0.1)
    refused_after = round(time.monotonic() - started, 2)
    checks = {
        "/readyz 503 from the signal on": bool(statuses) and set(statuses[1:]) <= {503},
        f"503 for at least drain_delay_s ({drain_s:g} s)": refused_after >= drain_s,
    }
    numbers = {"readyz_503s": statuses.count(503), "listener_closed_after_s": refused_after}
    return row("F8 drain", "SIGTERM while idle", checks, numbers)
