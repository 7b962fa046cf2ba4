"""Overload with adaptive admission: capacity measured without shedding, then 2x that offered.

    python -m benchmarks.overload_adaptive [--seconds 15] [--calm-s 10] [--connections 16]
                                           [--edge-cpus 0 --generator-cpus 1]

`benchmarks.hardening`'s overload row measures capacity in a closed loop against the node it
then overloads; with latency-targeted admission that loop sheds its own retries, so the
"capacity" it finds is the admission's, not the model's. Here the capacity comes from a node with
admission relaxed (`models.latency_target_factor=1000`, batches as big as the load makes them);
then a node with the default adaptive admission gets its calm p99 and 2x that capacity, open
loop. Pass: admitted p99 <= 2x the calm p99 of the same node. With `--edge-cpus` and
`--generator-cpus` the edge (both nodes, with one inference thread per CPU) and this load
generator run on CPUs of their own, as they would on separate machines: co-located, the
generator's own work at 2x grows with the offered rate and takes CPU from the edge it measures.
Writes `benchmarks/results/overload_adaptive-<ts>.json`.
"""

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aiohttp

from benchmarks.hardening import Shed, embed_request, p99, sender
from benchmarks.hostile import lag_buckets, lag_quantile
from benchmarks.loadgen import closed_loop, open_loop
from benchmarks.node import local_edge
from benchmarks.results import DEFAULT_OUT, envelope, timestamp, write_results

NO_CENTRAL = "http://127.0.0.1:9"
EMBED_ONLY = {
    "HYBRID_ROUTER_MODELS__TASKS": '["embed"]',
    "HYBRID_ROUTER_ROUTING__WARMUP_PROBE": "false",
}
RELAXED = {
    **EMBED_ONLY,
    "HYBRID_ROUTER_MODELS__LATENCY_TARGET_FACTOR": "1000",
    "HYBRID_ROUTER_MODELS__MAX_QUEUE_DELAY_MS": "60000",
}


def quantile(values: list[float], q: float) -> float | None:
    """The q-quantile (nearest rank, ms, 2 decimals) of values; None when there are none."""
    if not values:
        return None
    return round(sorted(values)[int(q * (len(values) - 1))], 2)


def cpu_list(text: str) -> list[int]:
    """`0,1` → [0, 1]."""
    return [int(part) for part in text.split(",") if part.strip()]


def edge_env(args: argparse.Namespace, env: dict[str, str]) -> dict[str, str]:
    """`env`, with one inference thread per edge CPU when the edge is pinned."""
    if args.edge_cpus is None:
        return env
    return {**env, "HYBRID_ROUTER_MODELS__INFERENCE_THREADS": str(len(args.edge_cpus))}


async def capacity(args: argparse.Namespace) -> float:
    """Closed-loop answers per second of a node that never sheds."""
    async with (
        local_edge(NO_CENTRAL, edge_env(args, RELAXED), "edge-relaxed", args.edge_cpus) as node,
        aiohttp.ClientSession() as s,
    ):
        send = sender(s, node)
        await open_loop(send, embed_request, 10, 2)
        run = await closed_loop(send, embed_request, args.connections, args.capacity_s)
        return run.recorder.overall.ok / run.elapsed_s


async def overload(args: argparse.Namespace, rate: float) -> dict[str, Any]:
    """Calm p99, then `rate` open loop, on a node with the default adaptive admission."""
    async with (
        local_edge(NO_CENTRAL, edge_env(args, EMBED_ONLY), "edge-adaptive", args.edge_cpus) as node,
        aiohttp.ClientSession() as s,
    ):
        send = sender(s, node)
        await open_loop(send, embed_request, 10, 2)
        calm = await open_loop(send, embed_request, 10, args.calm_s)
        shed = Shed(send)
        lag_before = await lag_buckets(s, node.url)
        loaded = await open_loop(shed, embed_request, rate, args.seconds)
        lag_after = await lag_buckets(s, node.url)
        samples = loaded.recorder.samples
        steady = [x.latency_ms for x in samples if x.status == 200 and x.intended_s >= 1]
        async with s.get(node.url + "/readyz") as response:
            admission = (await response.json()).get("edge_runtime", {}).get("admission")
    return {
        "calm_p99_ms": round(p99(calm), 2),
        "offered_rps": round(rate, 1),
        "admitted_rps": round(loaded.recorder.overall.ok / loaded.elapsed_s, 1),
        "admitted_p99_ms": round(p99(loaded), 2),
        # the same without the first second, while admission learns that it is an overload
        "admitted_p99_ms_after_1s": quantile(steady, 0.99),
        "shed": len(shed.shed_ms),
        "shed_p99_ms": quantile(shed.shed_ms, 0.99),
        "errors": dict(loaded.recorder.overall.errors),
        # admitted answers' time inside the edge (Server-Timing), without network and load generator
        "admitted_server_p99_ms": quantile(shed.admitted_server_ms, 0.99),
        # the edge's own event loop while overloaded: how late its callbacks ran (p99 bucket)
        "loop_lag_p99_ms": lag_quantile(lag_before, lag_after, 0.99),
        "admission_after": admission,
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    """Capacity first, then the overload."""
    cap = await capacity(args)
    numbers = await overload(args, 2 * cap)
    numbers["capacity_rps_relaxed"] = round(cap, 1)
    numbers["admitted_p99_over_calm_p99"] = round(
        numbers["admitted_p99_ms"] / numbers["calm_p99_ms"], 2
    )
    numbers["passed"] = numbers["admitted_p99_over_calm_p99"] <= 2.0
    return numbers


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m benchmarks.overload_adaptive`."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.overload_adaptive")
    parser.add_argument("--seconds", type=float, default=15.0, help="overload seconds")
    parser.add_argument("--calm-s", type=float, default=10.0)
    parser.add_argument("--capacity-s", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--edge-cpus", type=cpu_list, default=None, help="e.g. 0")
    parser.add_argument("--generator-cpus", type=cpu_list, default=None, help="e.g. 1")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    if args.generator_cpus is not None:
        os.sched_setaffinity(0, args.generator_cpus)
    argv_list = list(sys.argv[1:] if argv is None else argv)
    document = envelope(
        "overload_adaptive",
        ["python", "-m", "benchmarks.overload_adaptive", *argv_list],
        vars(args),
    )
    document["overload"] = asyncio.run(run(args))
    path = write_results(args.out, f"overload_adaptive-{timestamp()}", document)
    print(document["overload"])
    print(f"results: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
