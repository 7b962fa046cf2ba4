"""Central-path overhead: `/v1/chat/completions` through the edge vs a bare aiohttp proxy.

    python -m benchmarks.central_overhead [--rates 20,200] [--seconds 5] [--rounds 3]
                                          [--peak-s 5] [--connections 16]
    python -m benchmarks.central_overhead upstream --port P   # the fast upstream alone

One run, three paths to one fast OpenAI-compatible upstream (it answers a fixed completion at
once): direct, through `benchmarks.proxy_baseline`, and through the edge (`central.protocol:
openai`). At each open-loop rate the paths take turns (`--rounds` short segments each, rotated)
so a noisy neighbour hits all alike. Overhead = a path's latency percentile minus direct's; CPU
per request comes from each process's /proc counters over its own segments. Then the
closed-loop peak of each path, interleaved the same way (the share is the median over rounds of
the per-round ratio). LiteLLM (1 worker) joins when `--litellm` (default
`.venv-litellm/bin/litellm`) exists.
Writes `benchmarks/results/central_overhead-<ts>.json` and a PNG beside it.
"""

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import statistics
import sys
import tempfile
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import aiohttp
import orjson
from aiohttp import web

from benchmarks.loadgen import HttpSender, Recorder, Request, Target, closed_loop, open_loop
from benchmarks.node import free_port, local_edge, process
from benchmarks.results import DEFAULT_OUT, envelope, timestamp, write_results
from benchmarks.stats import summarize
from common.event_loop import EVENT_LOOP_KINDS

PATH = "/v1/chat/completions"
DEFAULT_LITELLM = Path(".venv-litellm/bin/litellm")
LITELLM_KEY = f"sk-bench-{secrets.token_hex(16)}"  # LiteLLM refuses to start without one
COMPLETION = orjson.dumps(
    {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": 0,
        "model": "bench-upstream",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
    }
)
MODELS = orjson.dumps({"object": "list", "data": [{"id": "bench-upstream", "object": "model"}]})
EDGE_ENV = {
    "HYBRID_ROUTER_CENTRAL__PROTOCOL": "openai",
    "HYBRID_ROUTER_CENTRAL__API_KEY": "bench-key",
    "HYBRID_ROUTER_MODELS__TASKS": '["embed"]',
}


def create_upstream_app() -> web.Application:
    """A fast OpenAI-compatible upstream: one fixed completion, the model list, health."""

    async def chat(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(body=COMPLETION, content_type="application/json")

    async def models(request: web.Request) -> web.Response:
        return web.Response(body=MODELS, content_type="application/json")

    async def healthz(request: web.Request) -> web.Response:
        return web.Response(body=b'{"status":"ok"}', content_type="application/json")

    app = web.Application()
    app.router.add_post(PATH, chat)
    app.router.add_get("/v1/models", models)
    app.router.add_get("/healthz", healthz)
    return app


def chat_request(target: str) -> Any:
    """A factory of distinct one-message chat requests for `target`."""

    def make(index: int) -> Request:
        body = {
            "model": "multimodal-pro",
            "messages": [{"role": "user", "content": f"say ok #{index}"}],
            "max_tokens": 1,
        }
        return Request("POST", PATH, body, "generate", target)

    return make


def cpu_s(pid: int | None) -> float:
    """User + system CPU seconds of a process so far (0 when unknown)."""
    if pid is None:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextlib.asynccontextmanager
async def servers(
    args_litellm: Path | None, proxy_loop: str = "auto"
) -> AsyncIterator[dict[str, tuple[str, int | None]]]:
    """Upstream, proxy, edge (and LiteLLM when its CLI is there): name -> (url, pid)."""
    up_port, proxy_port = free_port(), free_port()
    upstream = f"http://127.0.0.1:{up_port}"
    proxy = f"http://127.0.0.1:{proxy_port}"
    me = [sys.executable, "-m"]
    async with contextlib.AsyncExitStack() as stack:
        up = await stack.enter_async_context(
            process(
                [*me, "benchmarks.central_overhead", "upstream", "--port", str(up_port)],
                {},
                upstream + "/healthz",
                "upstream",
            )
        )
        px = await stack.enter_async_context(
            process(
                [
                    *me,
                    "benchmarks.proxy_baseline",
                    "--port",
                    str(proxy_port),
                    "--upstream",
                    upstream,
                    "--loop",
                    proxy_loop,
                ],
                {},
                proxy + "/healthz",
                "proxy",
            )
        )
        edge = await stack.enter_async_context(local_edge(upstream, EDGE_ENV, "edge-central"))
        found: dict[str, tuple[str, int | None]] = {
            "direct": (upstream, up.pid),
            "proxy": (proxy, px.pid),
            "edge": (edge.url, edge.pid),
        }
        litellm = args_litellm if args_litellm and args_litellm.is_file() else None
        if litellm is not None:
            port = free_port()
            config = Path(tempfile.mkdtemp()) / "litellm.json"
            model = {"model": "openai/bench-upstream", "api_base": upstream + "/v1"}
            model["api_key"] = "bench-key"
            config.write_text(
                json.dumps(
                    {
                        "model_list": [{"model_name": "multimodal-pro", "litellm_params": model}],
                        "general_settings": {"master_key": LITELLM_KEY},
                    }
                )
            )
            argv = [
                str(litellm),
                "--config",
                str(config),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ]
            argv += ["--num_workers", "1"]
            env = {"LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_LOG": "ERROR"}
            url = f"http://127.0.0.1:{port}"
            ll = await stack.enter_async_context(
                process(argv, env, url + "/health/liveliness", "litellm")
            )
            found["litellm"] = (url, ll.pid)
        yield found


def summary(recorder: Recorder) -> dict[str, Any]:
    """Latency percentiles (ms) and counts of one path's answers."""
    stats = summarize(recorder.overall.histogram).as_dict()
    return {"ok": recorder.overall.ok, "errors": dict(recorder.overall.errors), "latency_ms": stats}


def rotated(names: list[str], round_: int) -> list[str]:
    """The paths in this round's order: each round starts one path later."""
    shift = round_ % len(names)
    return names[shift:] + names[:shift]


async def at_rate(
    send: HttpSender, urls: dict[str, tuple[str, int | None]], rate: float, args: Any
) -> dict[str, Any]:
    """Interleaved open-loop segments of every path at `rate`; overhead vs direct."""
    names = [name for name in urls if name != "litellm"]  # LiteLLM: closed-loop peak only
    recorders = {name: Recorder() for name in names}
    cpu = dict.fromkeys(names, 0.0)
    for round_ in range(args.rounds):
        for name in rotated(names, round_):
            before = cpu_s(urls[name][1])
            await open_loop(send, chat_request(name), rate, args.seconds, recorder=recorders[name])
            cpu[name] += cpu_s(urls[name][1]) - before
    paths = {name: summary(rec) for name, rec in recorders.items()}
    for name in names:
        ok = paths[name]["ok"]
        paths[name]["cpu_ms_per_request"] = round(1000 * cpu[name] / ok, 3) if ok else None
    direct = paths["direct"]["latency_ms"]
    overhead = {
        name: {q: round(paths[name]["latency_ms"][q] - direct[q], 3) for q in ("p50", "p99")}
        for name in names
        if name != "direct"
    }
    ratios = {
        q: round(overhead["edge"][q] / overhead["proxy"][q], 2)
        if overhead["proxy"][q] > 0
        else None
        for q in ("p50", "p99")
    }
    return {"rate_rps": rate, "paths": paths, "overhead_ms": overhead, "edge_vs_proxy": ratios}


async def measure(args: Any) -> dict[str, Any]:
    """Every rate, then the closed-loop peaks."""
    async with servers(args.litellm, args.proxy_loop) as urls:
        targets = {name: Target(url, route_label=name) for name, (url, _) in urls.items()}
        if "litellm" in urls:
            auth = {"Authorization": f"Bearer {LITELLM_KEY}"}
            targets["litellm"] = Target(urls["litellm"][0], lambda: auth, "litellm")
        connector = aiohttp.TCPConnector(limit=512)
        async with aiohttp.ClientSession(connector=connector) as session:
            send = HttpSender(session, targets, timeout_s=30)
            for name in urls:  # warm every path
                await closed_loop(send, chat_request(name), 4, 2.0, max_requests=100)
            rates = [await at_rate(send, urls, rate, args) for rate in args.rates]
            runs = await closed_loop_peaks(send, list(urls), args)
    peak: dict[str, Any] = {
        "connections": args.connections,
        "rps": {name: statistics.median(rps) for name, rps in runs.items()},
        "rps_per_round": runs,
        "edge_share_of_proxy": round(median_ratio(runs["edge"], runs["proxy"]), 3),
    }
    if runs.get("litellm"):
        peak["edge_vs_litellm"] = round(median_ratio(runs["edge"], runs["litellm"]), 1)
    return {"rates": rates, "closed_loop_peak": peak}


async def closed_loop_peaks(
    send: HttpSender, names: list[str], args: Any
) -> dict[str, list[float]]:
    """Closed-loop req/s of every path, interleaved: `--rounds` segments each, order rotated."""
    runs: dict[str, list[float]] = {name: [] for name in names}
    for round_ in range(args.rounds):
        for name in rotated(names, round_):
            run = await closed_loop(send, chat_request(name), args.connections, args.peak_s)
            runs[name].append(round(run.recorder.overall.ok / run.elapsed_s, 1))
    return runs


def median_ratio(numerators: list[float], denominators: list[float]) -> float:
    """The median over rounds of one path's rate over another's (a drifting box hits both)."""
    return statistics.median(n / d for n, d in zip(numerators, denominators, strict=True))


def plot(document: dict[str, Any], path: Path) -> None:
    """Overhead p50/p99 per rate (edge vs proxy) and the closed-loop peaks."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    labels, edge, proxy = [], [], []
    for row in document["rates"]:
        for q in ("p50", "p99"):
            labels.append(f"{row['rate_rps']:.0f} rps {q}")
            edge.append(row["overhead_ms"]["edge"][q])
            proxy.append(row["overhead_ms"]["proxy"][q])
    xs = range(len(labels))
    left.bar([x - 0.2 for x in xs], proxy, 0.4, label="bare proxy")
    left.bar([x + 0.2 for x in xs], edge, 0.4, label="edge")
    left.set_xticks(list(xs), labels, rotation=30)
    left.set_ylabel("overhead over direct (ms)")
    left.legend()
    peaks = document["closed_loop_peak"]["rps"]
    right.bar(list(peaks), list(peaks.values()))
    right.set_ylabel(f"closed-loop peak rps ({document['closed_loop_peak']['connections']} conns)")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m benchmarks.central_overhead`."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["upstream"]:
        parser = argparse.ArgumentParser(prog="central_overhead upstream")
        parser.add_argument("--port", type=int, required=True)
        port = parser.parse_args(argv[1:]).port
        web.run_app(create_upstream_app(), host="127.0.0.1", port=port, print=None, access_log=None)
        return 0
    parser = argparse.ArgumentParser(prog="python -m benchmarks.central_overhead")
    parser.add_argument(
        "--rates", type=lambda s: [float(x) for x in s.split(",")], default=[20, 200]
    )
    parser.add_argument("--seconds", type=float, default=5.0, help="seconds per segment")
    parser.add_argument("--rounds", type=int, default=3, help="segments per path per rate")
    parser.add_argument("--peak-s", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument(
        "--proxy-loop",
        choices=EVENT_LOOP_KINDS,
        default="auto",
        help="the bare proxy's event loop (auto: the edge's default, uvloop where installed)",
    )
    parser.add_argument(
        "--litellm",
        type=Path,
        default=DEFAULT_LITELLM,
        help="the LiteLLM proxy CLI (skipped when missing; `make setup` builds .venv-litellm)",
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    document = envelope(
        "central_overhead", ["python", "-m", "benchmarks.central_overhead", *argv], vars(args)
    )
    document.update(asyncio.run(measure(args)))
    stem = f"central_overhead-{timestamp()}"
    path = write_results(args.out, stem, document)
    plot(document, args.out / f"{stem}.png")
    for row in document["rates"]:
        print(
            f"{row['rate_rps']:>6.0f} rps overhead ms {row['overhead_ms']}  {row['edge_vs_proxy']}"
        )
    print(f"closed-loop peak {document['closed_loop_peak']}")
    print(f"results: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
