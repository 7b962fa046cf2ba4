"""Which hostile input costs resident memory: each kind sent `--repeat` times to a real edge.

    python -m benchmarks.hostile_rss [--repeat 6] [--normal-s 1]

After a warm-up of normal traffic (embed and generate, as in the hostile-mix soak), each bad
input of `benchmarks.hostile` (the soak's 15 kinds) is sent `--repeat` times in turn, followed
by a second of normal traffic; the edge's RSS growth over that step and in total is recorded.
A kind whose step keeps growing the total is a leak; one that grows it once is a high-water
mark. Writes `benchmarks/results/hostile_rss-<ts>.json`.
"""

import argparse
import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aiohttp

from benchmarks.hardening import embed_request, generate_request, rss_kb, sender
from benchmarks.hostile import HostileSender, bad_inputs, pii_flood
from benchmarks.loadgen import Request, open_loop
from benchmarks.node import local_edge, tiny_upstream
from benchmarks.results import DEFAULT_OUT, envelope, timestamp, write_results


def normal(i: int) -> Request:
    """The soak's normal traffic: four embeds to one generate."""
    return embed_request(i) if i % 5 else generate_request(i)


async def measure(repeat: int, normal_s: float) -> dict[str, Any]:
    """RSS growth (kB) per kind, in the soak's order of kinds."""
    env = {"HYBRID_ROUTER_ROUTING__WARMUP_PROBE": "false"}
    async with (
        tiny_upstream() as upstream,
        aiohttp.ClientSession() as session,
        local_edge(upstream, env=env) as node,
    ):
        pid = node.pid or 0
        send = sender(session, node)
        await open_loop(send, normal, 10, 5)
        bad = {b.name: b for b in [*bad_inputs(), pii_flood(8)]}
        hostile = HostileSender(session, node.url, bad)
        start = rss_kb(pid)
        kinds: dict[str, dict[str, int]] = {}
        for name in sorted(bad):
            before = rss_kb(pid)
            for _ in range(repeat):
                await hostile(Request("POST", name, None, "hostile"))
            await open_loop(send, normal, 10, normal_s)
            after = rss_kb(pid)
            kinds[name] = {"step_kb": after - before, "total_kb": after - start}
            print(f"{name:28s} {after - before:+7d} kB   total {after - start:+7d} kB")
        return {
            "rss_after_warm_up_kb": start,
            "kinds": kinds,
            "growth": round((rss_kb(pid) - start) / start, 4),
            "not_json": dict(hostile.not_json),
            "unexpected_status": dict(hostile.unexpected),
        }


def main(argv: Sequence[str] | None = None) -> int:
    """Run, print a line per kind, write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=6)
    parser.add_argument("--normal-s", type=float, default=1.0)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    numbers = asyncio.run(measure(args.repeat, args.normal_s))
    config = {"repeat": args.repeat, "normal_s": args.normal_s}
    document = envelope("hostile_rss", ["python", "-m", "benchmarks.hostile_rss"], config)
    document["results"] = numbers
    print(f"results: {write_results(args.out, f'hostile_rss-{timestamp()}', document)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
