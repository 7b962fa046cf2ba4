"""Classification quality on data the edge was not tuned on: `python -m benchmarks.quality`.

Banking77 (public, CC BY 4.0, `../shared/eval/banking77/`) and the project-written customer-intent
set (`tests/data/intents/`), each case with accuracy and expected calibration error (15 bins).
Every row goes through the product's code: `ZeroShotClassifier.probabilities` (label names),
`label_sets.self_trained_from_vectors` (`classifier fit --unlabeled`) and
`label_sets.fit_from_vectors` (`classifier fit` and example files in config, after embedding).
Few-shot rows are the mean over 5 seeded draws (min shown); hyper-parameters are chosen inside
the fit from the drawn examples only. The served MiniLM and fp32 are both measured. Embeddings
are cached under `.cache/quality/` (keyed by the model's sha256). Writes
`benchmarks/results/quality-classification-<time>.{json,md}`.
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
from edge_models.classifier import expected_calibration_error, fit_temperature
from edge_models.kernel_head import AnyHead
from edge_models.label_sets import (
    HeadPlan,
    embed_texts,
    fit_from_vectors,
    self_trained_from_vectors,
)
from edge_models.labels import LabelPrototype, LabelSet
from edge_models.minilm_assets import choose_text_model
from edge_models.sessions import SessionOptions
from edge_models.text import ZERO_SHOT_SCALE, TextEncoder, ZeroShotClassifier

ROOT = Path(__file__).resolve().parents[1]
BANKING77 = ROOT.parent / "shared" / "eval" / "banking77"
INTENTS = ROOT / "tests" / "data" / "intents" / "support_intents.yaml"
CACHE = ROOT / ".cache" / "quality"
SEEDS = (0, 1, 2, 3, 4)
Split = tuple[np.ndarray, list[str], list[str]]  # vectors, texts, labels


def read_split(directory: Path, split: str) -> tuple[list[str], list[str]]:
    """Texts and labels of a Banking77 split."""
    with (directory / f"{split}.csv").open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return [r["text"] for r in rows], [r["category"] for r in rows]


def embed_cached(encoder: TextEncoder, texts: Sequence[str], key: str) -> np.ndarray:
    """Embeddings of texts (the product's batching), from `.cache/quality/<key>.npz` if there."""
    path = CACHE / f"{key}.npz"
    if path.is_file():
        cached = np.load(path)["vectors"]
        if len(cached) == len(texts):
            return cached
    vectors = embed_texts(encoder, texts)
    CACHE.mkdir(parents=True, exist_ok=True)
    np.savez(path, vectors=vectors)
    return vectors


def scored(probs: np.ndarray, names: Sequence[str], gold: Sequence[str]) -> dict[str, float]:
    """Accuracy and ECE of probabilities (columns in `names` order) against gold labels."""
    y = np.asarray([list(names).index(g) for g in gold])
    return {
        "accuracy": round(float((probs.argmax(axis=1) == y).mean()), 4),
        "ece": round(expected_calibration_error(probs, y), 4),
    }


def head_probs(head: AnyHead, names: Sequence[str], test: Split) -> np.ndarray:
    """A head's probabilities on the test split, columns in `names` order."""
    return head.probabilities(test[0], test[1])[:, [head.labels.index(n) for n in names]]


def names_only(classifier: ZeroShotClassifier, names: Sequence[str], test: Split) -> dict[str, Any]:
    """Label-name prototypes, scored as `classify` with `parameters.labels` scores them."""
    labels = LabelSet(tuple(LabelPrototype(n) for n in names))
    return scored(classifier.probabilities(labels, test[0], test[1]), names, test[2])


def self_trained(
    classifier: ZeroShotClassifier, names: Sequence[str], unlabeled: np.ndarray, test: Split
) -> dict[str, Any]:
    """`classifier fit NAMES --unlabeled TEXTS`: prototypes self-trained on unlabeled texts."""
    labels = tuple(LabelPrototype(n) for n in names)
    head = self_trained_from_vectors(labels, classifier.prototypes(labels), unlabeled)
    return {
        **scored(head_probs(head, names, test), names, test[2]),
        "rounds": head.metadata["rounds"],
    }


def head_case(
    classifier: ZeroShotClassifier, train: Split, test: Split, plan: HeadPlan
) -> dict[str, Any]:
    """`classifier fit` on labelled examples (plus the label-name prototypes), scored on test."""
    first_seen = list(dict.fromkeys(train[2]))
    prototypes = classifier.prototypes(tuple(LabelPrototype(n) for n in first_seen))
    started = time.monotonic()
    head = fit_from_vectors(train[0], train[1], train[2], prototypes, plan)
    fit_s = time.monotonic() - started
    names = sorted(first_seen)
    keys = ("kind", "beta", "ridge", "held_out_accuracy", "cascade_threshold", "l2", "hash_dim")
    return {
        **scored(head_probs(head, names, test), names, test[2]),
        "fit_s": round(fit_s, 1),
        "temperature": round(head.temperature, 4),
        **{k: head.metadata[k] for k in keys if k in head.metadata},
    }


def per_label(labels: Sequence[str], k: int, seed: int) -> np.ndarray:
    """Indices of k examples per label, drawn with a fixed seed."""
    rng = np.random.default_rng(seed)
    array = np.asarray(labels)
    return np.concatenate(
        [rng.permutation(np.where(array == n)[0])[:k] for n in sorted(set(labels))]
    )


def subset(split: Split, rows: np.ndarray) -> Split:
    """The given rows of a split."""
    return split[0][rows], [split[1][i] for i in rows], [split[2][i] for i in rows]


def seeded(
    classifier: ZeroShotClassifier, train: Split, test: Split, plan: HeadPlan, k: int
) -> dict[str, Any]:
    """Mean (and min) over seeded draws of k examples per label."""
    runs = [
        {"seed": s, **head_case(classifier, subset(train, per_label(train[2], k, s)), test, plan)}
        for s in SEEDS
    ]
    return {
        "accuracy": round(float(np.mean([r["accuracy"] for r in runs])), 4),
        "min_accuracy": min(r["accuracy"] for r in runs),
        "ece": round(float(np.mean([r["ece"] for r in runs])), 4),
        "runs": runs,
    }


def banking77(classifier: ZeroShotClassifier, encoder: TextEncoder, key: str) -> dict[str, Any]:
    """Every Banking77 case."""
    names = sorted(json.loads((BANKING77 / "categories.json").read_text()))
    train_texts, train_labels = read_split(BANKING77, "train")
    test_texts, test_labels = read_split(BANKING77, "test")
    train = (
        embed_cached(encoder, train_texts, f"banking77-train-{key}"),
        train_texts,
        train_labels,
    )
    test = (embed_cached(encoder, test_texts, f"banking77-test-{key}"), test_texts, test_labels)
    protos = classifier.prototypes(tuple(LabelPrototype(n) for n in names))
    y_train = np.asarray([names.index(x) for x in train_labels])
    fitted_scale = 1.0 / fit_temperature(train[0] @ protos.T, y_train)  # a check, not used
    return {
        "zero_shot_scale_fitted_on_train": round(fitted_scale, 2),
        "cases": {
            "label names only": names_only(classifier, names, test),
            "label names + unlabeled train texts (`classifier fit --unlabeled`)": self_trained(
                classifier, names, train[0], test
            ),
            "8 examples per label (auto: kernel head)": seeded(
                classifier, train, test, HeadPlan(), 8
            ),
            "8 examples per label (linear head, before)": seeded(
                classifier, train, test, HeadPlan(method="linear"), 8
            ),
            "head on the full train split (auto: linear head)": head_case(
                classifier, train, test, HeadPlan()
            ),
        },
    }


def intents(classifier: ZeroShotClassifier, encoder: TextEncoder, key: str) -> dict[str, Any]:
    """The project-written customer-intent set: zero-shot, and a head on half of it."""
    data = yaml.safe_load(INTENTS.read_text())
    names = sorted(data)
    pairs = [(t, n) for n in data for t in data[n]]
    texts = [t for t, _ in pairs]
    labels = [n for _, n in pairs]
    everything = (embed_cached(encoder, texts, f"intents-{key}"), texts, labels)
    half = np.arange(len(texts)) % 2 == 0
    train = subset(everything, np.where(half)[0])
    test = subset(everything, np.where(~half)[0])
    return {
        "cases": {
            "label names only": names_only(classifier, names, everything),
            "head on half (12 per label), tested on the other half": head_case(
                classifier, train, test, HeadPlan()
            ),
        },
        "texts": len(texts),
        "labels": len(names),
    }


def markdown(doc: dict[str, Any]) -> str:
    """One table of every case."""
    lines = [
        "| data set | MiniLM | case | accuracy | min over draws | ECE (15 bins) |",
        "|---|---|---|---|---|---|",
    ]
    for block in doc["datasets"].values():
        for case, r in block["cases"].items():
            low = f"{r['min_accuracy']:.4f}" if "min_accuracy" in r else "—"
            lines.append(
                f"| {block['name']} | {block['precision']} | {case} | {r['accuracy']:.4f} "
                f"| {low} | {r['ece']:.4f} |"
            )
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Run every case for each MiniLM precision and write the table."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.quality", description=__doc__)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument(
        "--precisions", default="auto,fp32", help="MiniLM builds to measure (auto: the served one)"
    )
    args = parser.parse_args(argv)
    served = choose_text_model().precision
    choices = {}
    for precision in args.precisions.split(","):
        choice = choose_text_model(precision.strip())
        choices.setdefault(choice.precision, choice)
    doc = envelope(
        "quality-classification",
        [sys.executable, "-m", "benchmarks.quality", *(argv or sys.argv[1:])],
        {
            "text_models": {p: c.describe() for p, c in choices.items()},
            "zero_shot_scale": ZERO_SHOT_SCALE,
            "seeds": list(SEEDS),
        },
    )
    doc["datasets"] = {}
    for precision, choice in choices.items():
        encoder = TextEncoder.load(SessionOptions(), choice.path)
        classifier = ZeroShotClassifier(encoder, {})
        key = choice.sha256[:12]
        for name, block in (
            ("banking77 (test, 3080)", banking77(classifier, encoder, key)),
            ("support intents (project-written, 168)", intents(classifier, encoder, key)),
        ):
            shown = f"{precision} (served)" if precision == served else precision
            doc["datasets"][f"{name}, {precision}"] = {**block, "name": name, "precision": shown}
    doc["table_markdown"] = markdown(doc)
    stem = f"quality-classification-{timestamp()}"
    path = write_results(args.out, stem, doc)
    path.with_suffix(".md").write_text(f"# Classification quality\n\n{doc['table_markdown']}")
    print(doc["table_markdown"])
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
