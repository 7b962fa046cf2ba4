"""Hardening scenarios, each with its pass criterion, into one results table.

    python -m benchmarks.hardening [--soak-s 600] [--hostile-s 300]
        [--only findings,overload,bulkhead,redis,soak,hostile,drain]

- findings: issue 16's F1-F11 each probed on the running edge with its pass criterion, plus
  the hedging row (`benchmarks/hardening_issue16.py`).
- hostile: normal traffic plus a stream of bad inputs. Pass: 0 5xx, loop-lag p99 <= 5 ms,
  RSS growth <= 5%, every request answered, every error JSON. `baseline`: the same normal
  traffic alone (what the box gives without hostile input).
- drain: SIGTERM; /readyz 503 for drain_delay_s before the listener closes (runs last).

- overload: offered load at 2x the measured embed capacity. Pass: shed answers (429/503)
  carry Retry-After with p99 < 10 ms; admitted p99 <= 2x the unloaded p99; RSS bounded
  (< 1.5x); within 10 s after the load drops, p99 is back under 2x unloaded.
- bulkhead: edge-only embeds beside generate traffic to a central that flaps, hangs, resets
  and storms 429s. Pass: embed p99 <= 2x its calm value, and every request gets exactly one
  answer (scheduled == answered).
- redis: cache and shared quota on a private redis-server that is stopped, restarted and
  paused (slow). Pass: no 5xx, and cache hits resume after the restart.
- soak: mixed traffic at a steady rate. Pass: RSS growth < 5% after warm-up; open fds and
  asyncio tasks do not grow.
"""

import argparse
import asyncio
import dataclasses
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from benchmarks.loadgen import HttpSender, Request, RunResult, Target, closed_loop, open_loop
from benchmarks.node import Node, free_port, local_edge, tiny_upstream
from benchmarks.results import envelope, timestamp, write_results
from benchmarks.stats import summarize

EMBED_TEXT = "a sentence for the edge to embed, long enough to take a few milliseconds"


@dataclass
class Row:
    """One line of the results table."""

    scenario: str
    load: str
    held: list[str]
    failed: list[str]
    numbers: dict[str, Any]


def embed_request(i: int) -> Request:
    """A cache-busting embed pinned to the edge model."""
    body = {"inputs": {"text": f"{EMBED_TEXT} #{i}"}, "parameters": {"cache": False}}
    return Request("POST", "/v3/models/all-minilm-l6-v2/generate", body, "embed")


def generate_request(i: int) -> Request:
    """A one-token generate (central)."""
    body = {"inputs": {"text": f"hi {i}"}, "parameters": {"max_tokens": 1, "cache": False}}
    return Request("POST", "/v3/models/multimodal-pro/generate", body, "generate")


def p99(run: RunResult, route: str | None = None) -> float:
    """p99 (ms) of successful answers, optionally for one path."""
    stats = (
        run.recorder.overall
        if route is None
        else next((s for (r, _), s in run.recorder.groups.items() if r == route), None)
    )
    return summarize(stats.histogram).p99 if stats is not None else float("nan")


def rss_kb(pid: int) -> int:
    """Resident memory of a process, in kB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


async def scrape(session: aiohttp.ClientSession, url: str, names: tuple[str, ...]) -> dict:
    """Selected gauges from the edge's /metrics."""
    async with session.get(url + "/metrics") as response:
        text = await response.text()
    values = {}
    for line in text.splitlines():
        for name in names:
            if line.startswith(name + " "):
                values[name] = float(line.split()[1])
    return values


def sender(session: aiohttp.ClientSession, node: Node) -> HttpSender:
    """Sends to the edge node."""
    return HttpSender(session, {"edge": Target(node.url)}, timeout_s=30)


class Shed:
    """Wraps a sender to time answers with a given status (shed answers) separately."""

    def __init__(self, send: HttpSender) -> None:
        self._send = send
        self.shed_ms: list[float] = []
        self.admitted_server_ms: list[float] = []  # the edge's own time of admitted answers
        self.without_retry_after = 0

    async def __call__(self, request: Request) -> Any:
        started = time.perf_counter()
        outcome = await self._send(request)
        if outcome.status in (429, 503):
            self.shed_ms.append((time.perf_counter() - started) * 1000)
        elif outcome.ok and outcome.server_ms is not None:
            self.admitted_server_ms.append(outcome.server_ms)
        return outcome


async def overload(session: aiohttp.ClientSession, node: Node) -> Row:
    """2x capacity on embed: shed fast, admitted latency held, memory bounded, recovery."""
    send = sender(session, node)
    await open_loop(send, embed_request, 10, 3)  # warm up
    calm = await open_loop(send, embed_request, 10, 10)
    capacity_run = await closed_loop(send, embed_request, 16, 10)
    capacity = capacity_run.recorder.overall.ok / capacity_run.elapsed_s
    rss_before = rss_kb(node.pid or 0)
    shed = Shed(send)
    loaded = await open_loop(shed, embed_request, 2 * capacity, 15)
    rss_peak = rss_kb(node.pid or 0)
    recovery_s = None
    started = time.monotonic()
    while time.monotonic() - started < 20:
        probe = await open_loop(send, embed_request, 10, 2)
        if p99(probe) <= 2 * p99(calm) and probe.recorder.error_count == 0:
            recovery_s = round(time.monotonic() - started, 1)
            break
    shed_p99 = sorted(shed.shed_ms)[int(0.99 * (len(shed.shed_ms) - 1))] if shed.shed_ms else 0
    numbers = {
        "unloaded_p99_ms": round(p99(calm), 2),
        "capacity_rps": round(capacity, 1),
        "offered_rps": round(2 * capacity, 1),
        "admitted_p99_ms": round(p99(loaded), 2),
        "admitted_rps": round(loaded.recorder.overall.ok / loaded.elapsed_s, 1),
        "shed": len(shed.shed_ms),
        "shed_p99_ms": round(shed_p99, 2),
        "errors": dict(loaded.recorder.overall.errors),
        "rss_kb_before": rss_before,
        "rss_kb_peak": rss_peak,
        "recovery_s": recovery_s,
    }
    checks = {
        "shed answers in < 10 ms (p99)": bool(shed.shed_ms) and shed_p99 < 10,
        "admitted p99 <= 2x unloaded": p99(loaded) <= 2 * p99(calm),
        "RSS < 1.5x during overload": rss_peak < 1.5 * rss_before,
        "recovered within 10 s": recovery_s is not None and recovery_s <= 10,
    }
    return Row(
        "overload",
        f"embed at 2x capacity ({2 * capacity:.0f} rps) for 15 s",
        [k for k, ok in checks.items() if ok],
        [k for k, ok in checks.items() if not ok],
        numbers,
    )


async def bulkhead(session: aiohttp.ClientSession, node: Node, upstream: str) -> Row:
    """Edge latency and exactly-one-answer while the central misbehaves in four ways."""
    send = sender(session, node)

    def mixed(i: int) -> Request:
        return embed_request(i) if i % 2 == 0 else generate_request(i)

    calm = await open_loop(send, embed_request, 10, 8)
    numbers: dict[str, Any] = {"calm_embed_p99_ms": round(p99(calm), 2)}
    held, failed = [], []
    for mode in ("flap", "slow", "reset", "storm429"):
        async with session.post(upstream + "/admin/fault", json={"mode": mode}) as response:
            assert response.status == 200
        run = await open_loop(send, mixed, 20, 12)
        embed_p99 = p99(run, "edge")
        scheduled = sum(run.recorder.scheduled.values())
        answered = run.recorder.completed
        numbers[mode] = {
            "embed_p99_ms": round(embed_p99, 2),
            "scheduled": scheduled,
            "answered": answered,
            "statuses": dict(run.recorder.overall.errors),
            "ok": run.recorder.overall.ok,
        }
        (held if embed_p99 <= 2 * p99(calm) else failed).append(f"{mode}: edge p99 <= 2x calm")
        (held if answered == scheduled else failed).append(f"{mode}: one answer per request")
    async with session.post(upstream + "/admin/fault", json={"mode": "none"}):
        pass
    return Row(
        "bulkhead",
        "10 rps embed + 10 rps generate, central flapping/slow/reset/429",
        held,
        failed,
        numbers,
    )


async def redis_faults(session: aiohttp.ClientSession, upstream: str) -> Row:
    """Cache and shared quota on a private redis-server that is stopped, restarted, paused."""
    binary = shutil.which("redis-server")
    if binary is None:
        return Row("redis", "skipped", [], ["redis-server not installed"], {})
    port = free_port()
    argv = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    redis = subprocess.Popen(argv, stdout=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    env = {
        "HYBRID_ROUTER_CACHE__BACKEND": "redis",
        "HYBRID_ROUTER_CACHE__REDIS_URL": url,
        "HYBRID_ROUTER_CACHE__SALT": "hardening-benchmark-salt-0123456789",
        "HYBRID_ROUTER_CENTRAL__REDIS_URL": url,
    }
    numbers: dict[str, Any] = {}
    try:
        async with local_edge(upstream, env=env, name="edge-redis") as node:
            send = sender(session, node)

            def repeated(i: int) -> Request:
                body = {"inputs": {"text": f"cached sentence {i % 5}"}}
                return Request("POST", "/v3/models/all-minilm-l6-v2/generate", body, "embed")

            def mixed(i: int) -> Request:
                return repeated(i) if i % 3 else generate_request(i)

            phases: list[tuple[str, Callable[[], None]]] = [
                ("healthy", lambda: None),
                ("stopped", redis.kill),
                ("restarted", lambda: None),
                ("paused (slow)", lambda: None),
            ]
            for name, action in phases:
                if name == "stopped":
                    action()
                    redis.wait()
                if name == "restarted":
                    redis = subprocess.Popen(argv, stdout=subprocess.DEVNULL)
                    await asyncio.sleep(1.5)
                if name == "paused (slow)":
                    redis.send_signal(signal.SIGSTOP)
                run = await open_loop(send, mixed, 10, 6)
                if name == "paused (slow)":
                    redis.send_signal(signal.SIGCONT)
                errors = dict(run.recorder.overall.errors)
                numbers[name] = {
                    "ok": run.recorder.overall.ok,
                    "errors": errors,
                    "cache_hits": sum(
                        s.ok for (r, _), s in run.recorder.groups.items() if r == "cache"
                    ),
                }
    finally:
        redis.kill()
        redis.wait()
    five_xx = {
        k: v
        for phase in numbers.values()
        for k, v in phase["errors"].items()
        if str(k).startswith("5")
    }
    held = [] if five_xx else ["no 5xx in any phase"]
    failed = [f"5xx: {five_xx}"] if five_xx else []
    (held if numbers.get("restarted", {}).get("cache_hits") else failed).append(
        "cache hits resume after restart"
    )
    return Row(
        "redis",
        "10 rps embed (repeated) + generate; Redis stopped, restarted, paused",
        held,
        failed,
        numbers,
    )


async def soak(session: aiohttp.ClientSession, node: Node, seconds: float) -> Row:
    """Mixed traffic at a steady rate; resource use sampled every 10 s."""
    send = sender(session, node)

    def mixed(i: int) -> Request:
        return embed_request(i) if i % 4 else generate_request(i)

    names = ("process_open_fds", "process_resident_memory_bytes", "edge_asyncio_tasks")
    samples: list[dict] = []

    async def sample() -> None:
        while True:
            samples.append(await scrape(session, node.url, names))
            await asyncio.sleep(10)

    sampler = asyncio.create_task(sample())
    run = await open_loop(send, mixed, 10, seconds)
    sampler.cancel()
    warm = samples[max(1, len(samples) // 5)] if len(samples) > 2 else samples[0]
    last = samples[-1]
    growth = (last["process_resident_memory_bytes"] / warm["process_resident_memory_bytes"]) - 1
    numbers = {
        "duration_s": seconds,
        "requests": run.recorder.completed,
        "errors": dict(run.recorder.overall.errors),
        "rss_growth_after_warmup": round(growth, 4),
        "fds": [warm["process_open_fds"], last["process_open_fds"]],
        "tasks": [warm["edge_asyncio_tasks"], last["edge_asyncio_tasks"]],
    }
    checks = {
        "RSS growth < 5% after warm-up": growth < 0.05,
        "no growth in open fds": last["process_open_fds"] <= warm["process_open_fds"] + 2,
        "no growth in tasks": last["edge_asyncio_tasks"] <= warm["edge_asyncio_tasks"] + 2,
    }
    return Row(
        "soak",
        f"10 rps mixed for {seconds:.0f} s",
        [k for k, ok in checks.items() if ok],
        [k for k, ok in checks.items() if not ok],
        numbers,
    )


def table(rows: list[Row]) -> str:
    """The markdown results table."""
    lines = ["| scenario | load | what held | what failed |", "|---|---|---|---|"]
    for row in rows:
        lines.append(
            f"| {row.scenario} | {row.load} | {'; '.join(row.held) or '-'} | "
            f"{'; '.join(row.failed) or '-'} |"
        )
    return "\n".join(lines)


async def main_async(args: argparse.Namespace) -> list[Row]:
    """Run the selected scenarios against a local edge wired to the tiny (faulty) upstream."""
    from benchmarks import hardening_issue16 as f  # they build on this module's helpers
    from benchmarks import hostile_soak as h

    rows: list[Row] = []
    only = set(args.only.split(","))
    async with tiny_upstream() as upstream, aiohttp.ClientSession() as session:
        env = {"HYBRID_ROUTER_ROUTING__WARMUP_PROBE": "false"}
        env.update(item.split("=", 1) for item in args.edge_env)
        async with local_edge(upstream, env=env) as node:
            if "findings" in only:
                rows.append(await f.big_answers(session, node, upstream))
                rows.append(await f.pii_freeze(session, node))
                rows.extend(await f.bad_input_rows(session, node))
                rows.append(await f.stream_garbage(session, node, upstream))
                rows.extend(await f.hang_and_recover(session, node, upstream))
                rows.append(f.hedge_row())
            if "overload" in only:
                rows.append(await overload(session, node))
            if "bulkhead" in only:
                rows.append(await bulkhead(session, node, upstream))
            if "soak" in only:
                rows.append(await soak(session, node, args.soak_s))
            baseline = None
            if "baseline" in only:
                rows.append(await h.hostile_soak(session, node, args.baseline_s, hostile_rps=0))
                baseline = rows[-1].numbers["loop_lag_p99_ms"]
            if "hostile" in only:
                rows.append(await h.hostile_soak(session, node, args.hostile_s, 1.0, baseline))
            if "drain" in only:  # last: it stops the node
                rows.append(await f.drain(session, node, args.drain_s))
        if "redis" in only:
            rows.append(await redis_faults(session, upstream))
    return rows


def main() -> None:
    """Run, print the table, write JSON and markdown into benchmarks/results/."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--soak-s", type=float, default=600.0)
    parser.add_argument("--hostile-s", type=float, default=300.0)
    parser.add_argument("--baseline-s", type=float, default=120.0)
    parser.add_argument("--drain-s", type=float, default=5.0, help="the edge's drain_delay_s")
    parser.add_argument("--only", default="findings,overload,bulkhead,redis,soak,hostile,drain")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    parser.add_argument(
        "--edge-env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra environment for the edge node (e.g. a latency-first config)",
    )
    args = parser.parse_args()
    rows = asyncio.run(main_async(args))
    print(table(rows))
    stem = f"hardening-{timestamp()}"
    document = envelope(
        "hardening",
        ["python", "-m", "benchmarks.hardening", *sys.argv[1:]],
        {
            "soak_s": args.soak_s,
            "hostile_s": args.hostile_s,
            "baseline_s": args.baseline_s,
            "only": args.only,
            "edge_env": args.edge_env,
        },
    )
    document["rows"] = [dataclasses.asdict(row) for row in rows]
    document["table"] = table(rows)
    write_results(args.out, stem, document)
    (args.out / f"{stem}.md").write_text(table(rows) + "\n")


if __name__ == "__main__":
    main()
