"""Classification quality on data the edge was not tuned on: `python -m benchmarks.quality`.

Banking77 (public, CC BY 4.0, `../shared/eval/banking77/`) and the project-written customer-intent
set (`tests/data/intents/`), each case with accuracy and expected calibration error (15 bins).
Embeddings of the served MiniLM are cached under `.cache/quality/` (keyed by the model's sha256)
and recomputed when absent. Writes `benchmarks/results/quality-classification-<time>.{json,md}`.
"""

import argparse
import csv
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from benchmarks.results import DEFAULT_OUT, envelope, timestamp, write_results
from edge_models.classifier import (
    FitOptions,
    expected_calibration_error,
    fit_head,
    fit_temperature,
    softmax,
)
from edge_models.labels import LabelPrototype, deslug, self_train
from edge_models.minilm_assets import choose_text_model
from edge_models.sessions import SessionOptions
from edge_models.text import ZERO_SHOT_SCALE, TextEncoder, ZeroShotClassifier

ROOT = Path(__file__).resolve().parents[1]
BANKING77 = ROOT.parent / "shared" / "eval" / "banking77"
INTENTS = ROOT / "tests" / "data" / "intents" / "support_intents.yaml"
CACHE = ROOT / ".cache" / "quality"
SEEDS = (0, 1, 2)


def read_split(directory: Path, split: str) -> tuple[list[str], list[str]]:
    """Texts and labels of a Banking77 split."""
    with (directory / f"{split}.csv").open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return [r["text"] for r in rows], [r["category"] for r in rows]


def embed_cached(encoder: TextEncoder, texts: Sequence[str], key: str) -> np.ndarray:
    """Embeddings of texts, from `.cache/quality/<key>.npz` when present (batched by length)."""
    path = CACHE / f"{key}.npz"
    if path.is_file():
        cached = np.load(path)["vectors"]
        if len(cached) == len(texts):
            return cached
    encoded = [encoder.encode(t) for t in texts]
    order = sorted(range(len(texts)), key=lambda i: len(encoded[i].ids))
    vectors = np.zeros((len(texts), 384), dtype=np.float32)
    for start in range(0, len(order), 64):
        rows = order[start : start + 64]
        vectors[rows] = encoder.embed_encoded([encoded[i] for i in rows])
    CACHE.mkdir(parents=True, exist_ok=True)
    np.savez(path, vectors=vectors)
    return vectors


def scored(probs: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """Accuracy and ECE of probabilities against gold label indices."""
    return {
        "accuracy": round(float((probs.argmax(axis=1) == y).mean()), 4),
        "ece": round(expected_calibration_error(probs, y), 4),
    }


def zero_shot(
    classifier: ZeroShotClassifier,
    names: Sequence[str],
    x: np.ndarray,
    y: np.ndarray,
    unlabeled: np.ndarray | None = None,
) -> dict[str, float]:
    """Label-name prototypes (templates, de-slugged), optionally self-trained on unlabeled texts."""
    prototypes = classifier.prototypes(tuple(LabelPrototype(n) for n in names))
    if unlabeled is not None:
        prototypes = self_train(prototypes, unlabeled)
    return scored(softmax(ZERO_SHOT_SCALE * (x @ prototypes.T)), y)


def head_case(
    classifier: ZeroShotClassifier,
    names: Sequence[str],
    train: tuple[np.ndarray, list[str], list[str]],
    test: tuple[np.ndarray, list[str], np.ndarray],
    options: FitOptions,
) -> dict[str, Any]:
    """Fit a head on labelled examples (plus the label-name prototypes), score it on test."""
    vectors, texts, labels = train
    protos = classifier.prototypes(tuple(LabelPrototype(n) for n in names))
    started = time.monotonic()
    head = fit_head(
        np.vstack([vectors, protos]),
        [*texts, *(deslug(n) for n in names)],
        [*labels, *names],
        options,
    )
    fit_s = time.monotonic() - started
    index = [head.labels.index(n) for n in names]
    probs = head.probabilities(test[0], test[1])[:, index]
    return {
        **scored(probs, test[2]),
        "fit_s": round(fit_s, 1),
        "temperature": round(head.temperature, 3),
        "cascade_threshold": head.cascade_threshold,
    }


def per_label(labels: Sequence[str], k: int, seed: int) -> np.ndarray:
    """Indices of k examples per label, drawn with a fixed seed."""
    rng = np.random.default_rng(seed)
    array = np.asarray(labels)
    return np.concatenate(
        [rng.permutation(np.where(array == n)[0])[:k] for n in sorted(set(labels))]
    )


def mean_of(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean accuracy/ECE over seeded runs, with the runs."""
    return {
        "accuracy": round(float(np.mean([r["accuracy"] for r in runs])), 4),
        "ece": round(float(np.mean([r["ece"] for r in runs])), 4),
        "runs": runs,
    }


def banking77(
    classifier: ZeroShotClassifier, encoder: TextEncoder, key: str, quick: bool
) -> dict[str, Any]:
    """Every Banking77 case."""
    names = json.loads((BANKING77 / "categories.json").read_text())
    train_texts, train_labels = read_split(BANKING77, "train")
    test_texts, test_labels = read_split(BANKING77, "test")
    x_train = embed_cached(encoder, train_texts, f"banking77-train-{key}")
    x_test = embed_cached(encoder, test_texts, f"banking77-test-{key}")
    y_test = np.asarray([names.index(x) for x in test_labels])
    y_train = np.asarray([names.index(x) for x in train_labels])
    protos = classifier.prototypes(tuple(LabelPrototype(n) for n in names))
    fitted_scale = 1.0 / fit_temperature(x_train @ protos.T, y_train)
    cases: dict[str, Any] = {
        "label names only": zero_shot(classifier, names, x_test, y_test),
        "label names + unlabeled train texts (self-training)": zero_shot(
            classifier, names, x_test, y_test, unlabeled=x_train
        ),
    }
    test = (x_test, test_texts, y_test)
    few = FitOptions(l2=1e-2, steps=300, learning_rate=0.05, hash_dim=0)
    runs = []
    for seed in SEEDS[:1] if quick else SEEDS:
        rows = per_label(train_labels, 8, seed)
        train = (x_train[rows], [train_texts[i] for i in rows], [train_labels[i] for i in rows])
        runs.append({"seed": seed, **head_case(classifier, names, train, test, few)})
    cases["8 examples per label (head)"] = mean_of(runs)
    if not quick:
        full = (x_train, train_texts, train_labels)
        cases["head on the full train split"] = head_case(
            classifier, names, full, test, FitOptions()
        )
    return {"cases": cases, "zero_shot_scale_fitted_on_train": round(fitted_scale, 2)}


def intents(classifier: ZeroShotClassifier, encoder: TextEncoder, key: str) -> dict[str, Any]:
    """The project-written customer-intent set: zero-shot, and a head on half of it."""
    data = yaml.safe_load(INTENTS.read_text())
    names = list(data)
    pairs = [(t, n) for n in names for t in data[n]]
    texts = [t for t, _ in pairs]
    labels = [n for _, n in pairs]
    x = embed_cached(encoder, texts, f"intents-{key}")
    y = np.asarray([names.index(n) for n in labels])
    half = np.arange(len(texts)) % 2 == 0
    test = (x[~half], [t for t, h in zip(texts, half, strict=True) if not h], y[~half])
    train = (
        x[half],
        [t for t, h in zip(texts, half, strict=True) if h],
        [labels[i] for i in np.where(half)[0]],
    )
    few = FitOptions(l2=1e-2, steps=300, learning_rate=0.05, hash_dim=0)
    return {
        "cases": {
            "label names only": zero_shot(classifier, names, x, y),
            "head on half (12 per label), tested on the other half": head_case(
                classifier, names, train, test, few
            ),
        },
        "texts": len(texts),
        "labels": len(names),
    }


def markdown(doc: dict[str, Any]) -> str:
    """One table of every case."""
    lines = ["| data set | case | accuracy | ECE (15 bins) |", "|---|---|---|---|"]
    for name, block in doc["datasets"].items():
        for case, result in block["cases"].items():
            lines.append(f"| {name} | {case} | {result['accuracy']:.4f} | {result['ece']:.4f} |")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Run every case and write the table."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.quality", description=__doc__)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--quick", action="store_true", help="one seed, no full-train head")
    args = parser.parse_args(argv)
    choice = choose_text_model()
    encoder = TextEncoder.load(SessionOptions(), choice.path)
    classifier = ZeroShotClassifier(encoder, {})
    key = choice.sha256[:12]
    doc = envelope(
        "quality-classification",
        [sys.executable, "-m", "benchmarks.quality", *(argv or sys.argv[1:])],
        {"text_model": choice.describe(), "zero_shot_scale": ZERO_SHOT_SCALE, "seeds": list(SEEDS)},
    )
    doc["datasets"] = {
        "banking77 (test, 3080)": banking77(classifier, encoder, key, args.quick),
        "support intents (project-written, 168)": intents(classifier, encoder, key),
    }
    doc["table_markdown"] = markdown(doc)
    stem = f"quality-classification-{timestamp()}"
    path = write_results(args.out, stem, doc)
    path.with_suffix(".md").write_text(f"# Classification quality\n\n{doc['table_markdown']}")
    print(doc["table_markdown"])
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
