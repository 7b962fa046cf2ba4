"""Running scenarios: where requests go (targets), one run of a mix, a rate sweep, a scenario."""

import asyncio
import contextlib
import json
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from benchmarks.loadgen import HttpSender, Recorder, RunResult, Target, closed_loop, open_loop
from benchmarks.node import Node, free_port, local_edge, local_up, tiny_upstream
from benchmarks.progress import show_progress
from benchmarks.results import overhead
from benchmarks.scenarios import Scenario, materials, request_factory
from common.tokens import TokenMinter

PROGRESS_MIN_S = 3.0
PROVIDERS_ENV = "HYBRID_ROUTER_CENTRAL__PROVIDERS"
EMBED_ONLY = '["embed"]'
SWEEP_FACTOR = 1.5
SWEEP_MAX_STEPS = 10
SWEEP_DEFAULT_DURATION_S = 5.0


@dataclass(frozen=True)
class RunOptions:
    """Overrides from the command line (None: the scenario's own value)."""

    rate: float | None = None
    duration_s: float | None = None
    closed_loop: int | None = None
    max_in_flight: int = 512
    timeout_s: float = 60.0
    progress: bool = True
    warmup_s: float = 0.0


def targets_for(node: Node, direct_url: str | None = None) -> dict[str, Target]:
    """The edge, and a direct central target with a minted JWT when the key is known."""
    targets = {"edge": Target(node.url)}
    central = direct_url or node.central_url
    if central is not None and node.secret is not None:
        minter = TokenMinter(node.key_id, node.secret, node.audience)
        targets["central"] = Target(
            central, lambda: {"Authorization": f"Bearer {minter.token()}"}, "direct"
        )
    return targets


@dataclass
class Environment:
    """The node under test (given by URL or started here), and the tiny-upstream edge on demand."""

    base: Node
    own: bool
    stack: contextlib.AsyncExitStack
    notes: list[str] = field(default_factory=list)
    _tiny: dict[str, Target] | None = None
    _tiny_url: str | None = None
    _fallback: dict[str, Target] | None = None

    async def targets(self, upstream: str) -> dict[str, Target] | None:
        """Targets for `upstream`: "central" the node; "tiny" an edge on a tiny upstream;
        "fallback" an edge whose first provider is down and whose second is the tiny one."""
        if upstream == "central":
            return targets_for(self.base)
        if not self.own:
            self.notes.append(f"{upstream} upstream skipped: only when bench starts its own node")
            return None
        if self._tiny_url is None:
            self._tiny_url = await self.stack.enter_async_context(tiny_upstream())
        if upstream == "fallback":
            if self._fallback is None:
                env = fallback_env(self._tiny_url, secrets.token_urlsafe(48))
                node = await self.stack.enter_async_context(
                    local_edge(self._tiny_url, env, "edge-fallback")
                )
                self._fallback = targets_for(node, direct_url=self._tiny_url)
            return self._fallback
        if self._tiny is None:
            node = await self.stack.enter_async_context(
                local_edge(
                    self._tiny_url, {"HYBRID_ROUTER_MODELS__TASKS": '["embed"]'}, "edge-tiny"
                )
            )
            self._tiny = targets_for(node, direct_url=self._tiny_url)
        return self._tiny


def fallback_env(tiny_url: str, secret: str) -> dict[str, str]:
    """Edge env with two v3 providers: one on a port nothing listens on, then `tiny_url`."""
    down = {"name": "down", "protocol": "v3", "url": f"http://127.0.0.1:{free_port()}"}
    up = {"name": "tiny", "protocol": "v3", "url": tiny_url}
    providers = [{**p, "model": "multimodal-pro", "secret": secret} for p in (down, up)]
    return {"HYBRID_ROUTER_MODELS__TASKS": EMBED_ONLY, PROVIDERS_ENV: json.dumps(providers)}


@contextlib.asynccontextmanager
async def environment(
    url: str | None, central_url: str | None, key_id: str, secret: str | None
) -> AsyncIterator[Environment]:
    """Use the node at `url`, or start `hybrid-router up` and stop it at the end."""
    async with contextlib.AsyncExitStack() as stack:
        if url is not None:
            node = Node(url.rstrip("/"), central_url, key_id=key_id, secret=secret)
            yield Environment(node, own=False, stack=stack)
        else:
            node = await stack.enter_async_context(local_up())
            yield Environment(node, own=True, stack=stack)


async def run_mix(
    scenario: Scenario,
    targets: dict[str, Target],
    opts: RunOptions,
    notes: list[str],
) -> RunResult:
    """One open-loop (or closed-loop) run of the scenario's mix against `targets`."""
    missing = sorted({t.target for t in scenario.requests} - targets.keys())
    if missing:
        notes.append(f"{scenario.name}: no {missing} target; those requests were left out")
        kept = [t for t in scenario.requests if t.target in targets]
        if not kept:
            raise ValueError(f"{scenario.name}: nothing left to send")
        scenario = scenario.model_copy(update={"requests": kept})
    factory = request_factory(scenario, materials(scenario, notes))
    rate = opts.rate or scenario.rate
    duration = opts.duration_s or scenario.duration_s
    recorder = Recorder()
    connector = aiohttp.TCPConnector(limit=opts.max_in_flight)
    async with aiohttp.ClientSession(connector=connector) as session:
        sender = HttpSender(session, targets, opts.timeout_s)
        ticker = (
            asyncio.create_task(show_progress(scenario.name, recorder, duration))
            if opts.progress and duration >= PROGRESS_MIN_S
            else None
        )
        try:
            if opts.warmup_s > 0:  # not recorded: first connections, caches, thread pools
                await open_loop(
                    sender, factory, rate, opts.warmup_s, drain_timeout_s=opts.timeout_s
                )
            if opts.closed_loop:
                return await closed_loop(
                    sender, factory, opts.closed_loop, duration, recorder=recorder
                )
            return await open_loop(
                sender,
                factory,
                rate,
                duration,
                max_in_flight=opts.max_in_flight,
                drain_timeout_s=opts.timeout_s,
                recorder=recorder,
            )
        finally:
            if ticker is not None:
                ticker.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await ticker


def run_entry(label: str, upstream: str, result: RunResult) -> dict[str, Any]:
    """A run as stored in the results file, with the router overhead when measurable."""
    entry = {"label": label, "upstream": upstream, **result.to_dict()}
    rows = overhead(entry["groups"])
    if rows:
        entry["overhead"] = rows
    return entry


async def sweep(
    scenario: Scenario,
    targets: dict[str, Target],
    opts: RunOptions,
    p99_target_ms: float,
    notes: list[str],
) -> list[dict[str, Any]]:
    """Per task: step the rate up by 1.5x until p99 breaks the target or errors appear."""
    rows = []
    for label in scenario.tasks():
        sub = scenario.only(label)
        rate = opts.rate or sub.rate
        duration = opts.duration_s or min(sub.duration_s, SWEEP_DEFAULT_DURATION_S)
        steps: list[dict[str, Any]] = []
        best: float | None = None
        for _ in range(SWEEP_MAX_STEPS):
            step_opts = RunOptions(
                rate=rate,
                duration_s=duration,
                max_in_flight=opts.max_in_flight,
                timeout_s=opts.timeout_s,
                progress=opts.progress,
                warmup_s=opts.warmup_s,
            )
            result = (await run_mix(sub, targets, step_opts, notes)).to_dict()
            overall = result["overall"]
            passed = (
                result["error_count"] == 0
                and overall["ok"] > 0
                and overall["latency_ms"]["p99"] <= p99_target_ms
            )
            steps.append(
                {
                    "offered_rps": round(rate, 3),
                    "achieved_rps": result["achieved_rps"],
                    "p50_ms": overall["latency_ms"]["p50"],
                    "p99_ms": overall["latency_ms"]["p99"],
                    "errors": result["error_count"],
                    "passed": passed,
                }
            )
            if not passed:
                break
            best = rate
            rate *= SWEEP_FACTOR
        rows.append(
            {"task": label, "best_rps": best, "p99_target_ms": p99_target_ms, "steps": steps}
        )
    return rows


def format_sweep(rows: list[dict[str, Any]]) -> str:
    """The sweep table as text."""
    lines = [f"{'task':16} {'offered':>8} {'achieved':>9} {'p50 ms':>9} {'p99 ms':>9} {'err':>5}"]
    for row in rows:
        for step in row["steps"]:
            mark = "ok" if step["passed"] else "BREAK"
            lines.append(
                f"{row['task']:16} {step['offered_rps']:>8.2f} {step['achieved_rps']:>9.2f} "
                f"{step['p50_ms']:>9.2f} {step['p99_ms']:>9.2f} {step['errors']:>5}  {mark}"
            )
        lines.append(
            f"{row['task']:16} best rate with p99 <= {row['p99_target_ms']} ms: {row['best_rps']}"
        )
    return "\n".join(lines)
