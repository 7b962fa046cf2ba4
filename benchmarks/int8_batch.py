"""MiniLM in-process speed by precision and batch size: fp32, per-tensor int8, per-token int8.

    python -m benchmarks.int8_batch [--repeats 15] [--batches 1 8 32] [--out benchmarks/results]

The same texts go to every way of embedding. `mixed`: the batch of n is the first n of a fixed
list of mixed lengths (cycled), so batches of 8 and 32 both hold a long text; `uniform`: n copies
of one short text (no padding: batching's own effect). Text sets, ways and batch sizes are
interleaved within each repeat (the order rotating); each figure is the median over repeats of
milliseconds per text, so a noisy neighbour hits all alike. One intra-op thread, as served.

- `fp32`, `per_token`: the files `make setup` built, each batch one padded session run.
- `per_tensor`: the int8 recipe before issue 17 (one activation scale per batch, MLP output
  projections fp32), built into a temporary folder; `per_tensor_rows_apart` is how it served:
  one row per run, to keep rows independent.
- `*_length_runs`: the served path, `TextEncoder.embed_encoded`: runs of similar length.
- `per_token_fused`: the served int8 file with ORT's SkipLayerNormalization and BiasGelu
  fusions left on (the edge turns them off: `edge_models.text.MINILM_UNFUSED`).
Also reports, per way, the largest change of a vector between alone and batched.
"""

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.results import DEFAULT_OUT, envelope, timestamp, write_results
from edge_models.minilm_assets import model_file
from edge_models.quantize_minilm import GATE_TEXTS, quantize_int8
from edge_models.sessions import SessionOptions, create_session
from edge_models.text import EncodedText, TextEncoder, load_tokenizer, minilm_session

LONG = (
    "Where is my card? I ordered it two weeks ago and it still has not arrived, "
    "and the tracking page says nothing about the delivery date.",
    "Why was I charged a fee for a transfer to my own account in another currency?",
)
TEXTS = (*GATE_TEXTS[:3], LONG[0], *GATE_TEXTS[3:9], LONG[1], *GATE_TEXTS[9:])  # mixed lengths
UNIFORM = GATE_TEXTS[4]  # the `uniform` set: every row this one 9-token text, no padding
Embed = Callable[[Sequence[EncodedText]], np.ndarray]


def batch_of(encoded: Sequence[EncodedText], size: int) -> list[EncodedText]:
    """The first `size` texts, cycling through the list."""
    return [encoded[i % len(encoded)] for i in range(size)]


def rows_apart(encoder: TextEncoder) -> Embed:
    """Embed one row per session run (how per-tensor int8 served before issue 17)."""
    return lambda items: np.concatenate([encoder.embed_run([item]) for item in items])


def ms_per_text(embed: Embed, items: Sequence[EncodedText], min_s: float) -> float:
    """Mean ms per text over back-to-back runs lasting at least `min_s`."""
    runs, start = 0, time.perf_counter()
    while True:
        embed(items)
        runs += 1
        elapsed = time.perf_counter() - start
        if elapsed >= min_s:
            return elapsed * 1000 / (runs * len(items))


def alone_vs_batched(embed: Embed, encoded: Sequence[EncodedText]) -> float:
    """Largest absolute change of any vector component between alone and batched."""
    batched = embed(encoded)
    alone = np.concatenate([embed([item]) for item in encoded])
    return float(np.abs(batched - alone).max())


Samples = dict[str, dict[str, dict[int, list[float]]]]  # text set -> way -> batch -> ms/text


def measure(
    ways: dict[str, Embed],
    text_sets: dict[str, list[EncodedText]],
    batches: Sequence[int],
    repeats: int,
    min_s: float,
) -> Samples:
    """ms per text, every (text set, way, batch) sampled once per repeat in a rotating order."""
    samples: Samples = {t: {w: {b: [] for b in batches} for w in ways} for t in text_sets}
    cells = [(t, w, b) for t in text_sets for b in batches for w in ways]
    for embed in ways.values():
        embed(batch_of(text_sets["mixed"], max(batches)))  # warm up
    for rep in range(repeats):
        shift = rep % len(cells)
        for texts, way, size in cells[shift:] + cells[:shift]:
            items = batch_of(text_sets[texts], size)
            samples[texts][way][size].append(ms_per_text(ways[way], items, min_s))
    return samples


def load(per_tensor: Path) -> dict[str, TextEncoder]:
    """fp32, per-tensor and per-token int8 encoders (and per-token with ORT's fusions on)."""
    tokenizer = load_tokenizer()
    options = SessionOptions(intra_op_threads=1)
    paths = {"fp32": model_file("fp32"), "per_tensor": per_tensor, "per_token": model_file("int8")}
    encoders = {n: TextEncoder(minilm_session(p, options), tokenizer) for n, p in paths.items()}
    fused = create_session(model_file("int8"), options)  # ORT's default fusions
    return {**encoders, "per_token_fused": TextEncoder(fused, tokenizer)}


RATIOS = (  # (slower, faster): time ratios reported
    ("fp32", "per_token"),
    ("per_token_fused", "per_token"),
    ("per_tensor", "per_token"),
    ("per_tensor_rows_apart", "per_token"),
    ("fp32_length_runs", "per_token_length_runs"),
    ("per_tensor_rows_apart", "per_token_length_runs"),
    ("per_token", "per_token_length_runs"),
)


def summarise(samples: Samples) -> dict[str, Any]:
    """Medians per (text set, way, batch) and the ratios that matter."""
    medians: dict[str, Any] = {}
    ratios: dict[str, Any] = {}
    for texts, by_way in samples.items():
        med = {w: {b: statistics.median(v) for b, v in by.items()} for w, by in by_way.items()}
        medians[texts] = {w: {b: round(v, 4) for b, v in by.items()} for w, by in med.items()}
        ratios[texts] = {
            f"{slow}/{fast}": {b: round(med[slow][b] / med[fast][b], 3) for b in med[fast]}
            for slow, fast in RATIOS
        }
    return {"ms_per_text_median": medians, "time_ratios": ratios}


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point: measure, print and write benchmarks/results/int8_batch-<ts>.json."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--min-seconds", type=float, default=0.15, help="per sample")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        per_tensor = Path(tmp) / "per-tensor.int8.onnx"
        quantize_int8(model_file("fp32"), per_tensor, per_token=False, mlp_output_fp32=True)
        encoders = load(per_tensor)
        ways: dict[str, Embed] = {name: e.embed_run for name, e in encoders.items()}
        ways["per_tensor_rows_apart"] = rows_apart(encoders["per_tensor"])
        ways["fp32_length_runs"] = encoders["fp32"].embed_encoded
        ways["per_token_length_runs"] = encoders["per_token"].embed_encoded
        encode = encoders["fp32"].encode
        text_sets = {"mixed": [encode(t) for t in TEXTS], "uniform": [encode(UNIFORM)]}
        drift = {name: alone_vs_batched(embed, text_sets["mixed"]) for name, embed in ways.items()}
        samples = measure(ways, text_sets, args.batches, args.repeats, args.min_seconds)
    document = envelope(
        "int8_batch",
        [Path(sys.executable).name, "-m", "benchmarks.int8_batch", *(argv or sys.argv[1:])],
        {"repeats": args.repeats, "batches": args.batches, "min_seconds": args.min_seconds},
    )
    document["texts"] = {"mixed": list(TEXTS), "uniform": [UNIFORM]}
    document["token_lengths"] = {t: [len(e.ids) for e in v] for t, v in text_sets.items()}
    document["alone_vs_batched_max_abs"] = drift
    document.update(summarise(samples))
    document["samples_ms_per_text"] = samples
    path = write_results(args.out, f"int8_batch-{timestamp()}", document)
    print(path)
    print(json.dumps({k: document[k] for k in ("ms_per_text_median", "time_ratios")}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
