"""The hostile-mix soak: normal traffic beside a steady stream of issue 16's bad inputs.

Pass: 0 5xx, loop-lag p99 <= 5 ms (and, where a baseline ran just before, within 5 ms of what
the box gives normal traffic alone), RSS growth <= 5%, every request answered, every error JSON.
"""

import asyncio

import aiohttp

from benchmarks.hardening import Row, embed_request, generate_request, rss_kb, sender
from benchmarks.hardening_issue16 import row
from benchmarks.hostile import (
    HostileSender,
    bad_inputs,
    lag_buckets,
    lag_max_bound,
    lag_quantile,
    pii_flood,
)
from benchmarks.loadgen import Request, open_loop
from benchmarks.node import Node


async def hostile_soak(
    session: aiohttp.ClientSession,
    node: Node,
    seconds: float,
    hostile_rps: float = 1.0,
    baseline_lag_p99_ms: float | None = None,
) -> Row:
    """Normal traffic plus a stream of the bad inputs: 0 5xx, loop lag, RSS, all answered.

    With `hostile_rps` 0 it is the baseline: the same normal traffic alone, on the same box.
    """
    bad = {b.name: b for b in [*bad_inputs(), pii_flood(8)]}
    names = sorted(bad)
    hostile = HostileSender(session, node.url, bad)

    def mixed(i: int) -> Request:
        return embed_request(i) if i % 5 else generate_request(i)

    def next_bad(i: int) -> Request:
        return Request("POST", names[i % len(names)], None, "hostile")

    send = sender(session, node)
    await open_loop(send, mixed, 10, 5)  # warm up
    rss_warm = rss_kb(node.pid or 0)
    before = await lag_buckets(session, node.url)
    if hostile_rps > 0:
        normal, attacks = await asyncio.gather(
            open_loop(send, mixed, 10, seconds), open_loop(hostile, next_bad, hostile_rps, seconds)
        )
    else:
        normal = await open_loop(send, mixed, 10, seconds)
        attacks = await open_loop(hostile, next_bad, 1, 1, max_requests=0)
    after = await lag_buckets(session, node.url)
    rss_end = rss_kb(node.pid or 0)
    five = {
        k: v
        for run in (normal, attacks)
        for k, v in run.recorder.overall.errors.items()
        if k.startswith("5")
    }
    unanswered = sum(
        v for run in (normal, attacks) for k, v in run.recorder.overall.errors.items()
        if not k.isdigit()
    )  # fmt: skip
    scheduled = sum(normal.recorder.scheduled.values()) + sum(attacks.recorder.scheduled.values())
    completed = normal.recorder.completed + attacks.recorder.completed
    growth = rss_end / max(1, rss_warm) - 1
    lag_p99 = lag_quantile(before, after, 0.99)
    normal_errors = dict(normal.recorder.overall.errors)
    hostile_statuses = dict(attacks.recorder.overall.errors)
    numbers = {
        "duration_s": seconds,
        "normal": {"completed": normal.recorder.completed, "errors": normal_errors},
        "hostile": {"completed": attacks.recorder.completed, "statuses": hostile_statuses},
        "hostile_not_json": hostile.not_json,
        "hostile_unexpected_status": {k: sorted(set(v)) for k, v in hostile.unexpected.items()},
        "loop_lag_p99_ms": lag_p99,
        "loop_lag_max_ms": lag_max_bound(before, after),
        "rss_kb": [rss_warm, rss_end],
        "rss_growth": round(growth, 4),
    }  # fmt: skip
    checks = {
        "0 5xx": not five,
        "loop-lag p99 <= 5 ms": lag_p99 <= 5,
        "RSS growth <= 5%": growth <= 0.05,
        "every request answered": unanswered == 0 and completed == scheduled,
        "every error is JSON": not hostile.not_json,
    }
    if baseline_lag_p99_ms is not None:  # what the box itself allows, measured just before
        key = f"loop-lag p99 <= baseline p99 ({baseline_lag_p99_ms:g} ms) + 5 ms"
        checks[key] = lag_p99 <= baseline_lag_p99_ms + 5
    if hostile_rps <= 0:
        load = f"10 rps normal alone for {seconds:g} s (baseline)"
        return row("baseline soak (no hostile input)", load, checks, numbers)
    load = f"10 rps normal + {hostile_rps:g} rps hostile ({len(names)} kinds) for {seconds:g} s"
    return row("hostile-mix soak", load, checks, numbers)
