"""Configured label sets, resolved at startup: label lists, example files (fitted), heads.

Also the fits behind them: heads from `text,label` examples (kernel head for few examples,
softmax regression for many) and self-trained prototypes from label names + unlabeled texts.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import numpy as np
from pydantic import Field

from common.settings_base import STRICT
from edge_models.classifier import FitOptions, Head, fit_head
from edge_models.errors import ModelLoadError
from edge_models.head_store import load_head
from edge_models.kernel_head import MAX_KERNEL_ROWS, AnyHead, KernelOptions, fit_kernel_head
from edge_models.labels import (
    LabelPrototype,
    LabelSet,
    deslug,
    read_examples,
    read_label_names,
    read_texts,
    self_train,
)
from edge_models.text import ZERO_SHOT_SCALE, TextEncoder, ZeroShotClassifier

SELF_TRAIN_ROUNDS = 3


@dataclass(frozen=True)
class LabelSetFile:
    """A label set kept in a file: `text,label` examples (.csv/.yaml) or a fitted head (.npz)."""

    __pydantic_config__ = STRICT

    path: Path
    # for .npz: the expected checksum (else the PATH.sha256 side file)
    sha256: Annotated[str | None, Field(pattern=r"^[0-9a-fA-F]{64}$")] = None
    # unlabeled in-domain texts: `path` then lists label names, self-trained on these at startup
    unlabeled: Path | None = None


LabelSetSource = tuple[LabelPrototype, ...] | LabelSetFile


def embed_texts(encoder: TextEncoder, texts: Sequence[str], batch: int = 64) -> np.ndarray:
    """Embeddings of many texts, batched by length so padding stays small."""
    encoded = [encoder.encode(t) for t in texts]
    order = sorted(range(len(texts)), key=lambda i: len(encoded[i].ids))
    vectors = np.zeros((len(texts), 384), dtype=np.float32)
    for start in range(0, len(order), batch):
        rows = order[start : start + batch]
        vectors[rows] = encoder.embed_encoded([encoded[i] for i in rows])
    return vectors


@dataclass(frozen=True)
class HeadPlan:
    """How to fit a head: `auto` (kernel up to MAX_KERNEL_ROWS rows, else linear) or one kind."""

    method: str = "auto"  # auto | kernel | linear
    linear: FitOptions | None = None  # None: chosen by data size (`few_shot_options`)
    kernel: KernelOptions = field(default_factory=KernelOptions)

    def kind(self, rows: int) -> str:
        """The head kind for `rows` training rows (examples plus one anchor per label)."""
        if self.method not in ("auto", "kernel", "linear"):
            raise ValueError(f"unknown head method {self.method!r}; valid: auto, kernel, linear")
        if self.method == "auto":
            return "kernel" if rows <= MAX_KERNEL_ROWS else "linear"
        return self.method


def name_prototypes(encoder: TextEncoder, names: Sequence[str]) -> np.ndarray:
    """Each label's zero-shot prototype (de-slugged name in the templates), as served."""
    return ZeroShotClassifier(encoder, {}).prototypes(tuple(LabelPrototype(n) for n in names))


def fit_from_vectors(
    vectors: np.ndarray,
    texts: Sequence[str],
    labels: Sequence[str],
    prototypes: np.ndarray,
    plan: HeadPlan = HeadPlan(),
    text_model_sha256: str = "",
) -> AnyHead:
    """Fit a head on embedded examples plus one name prototype per label (in first-seen order)."""
    names = list(dict.fromkeys(labels))
    if len(prototypes) != len(names):
        raise ValueError(f"{len(prototypes)} name prototypes for {len(names)} labels")
    meta = {"text_model_sha256": text_model_sha256}
    rows = np.vstack([vectors, prototypes])
    if plan.kind(len(rows)) == "kernel":
        scored = np.arange(len(rows)) < len(vectors)
        return fit_kernel_head(rows, [*labels, *names], scored, plan.kernel, meta)
    options = plan.linear or few_shot_options(len(vectors), len(names))
    return fit_head(rows, [*texts, *(deslug(n) for n in names)], [*labels, *names], options, meta)


def fit_from_examples(
    encoder: TextEncoder,
    rows: Sequence[tuple[str, str]],
    plan: HeadPlan = HeadPlan(),
    text_model_sha256: str = "",
) -> AnyHead:
    """Embed `(text, label)` rows, add each label's name-template prototype, and fit a head."""
    texts = [t for t, _ in rows]
    labels = [label for _, label in rows]
    prototypes = name_prototypes(encoder, list(dict.fromkeys(labels)))
    return fit_from_vectors(
        embed_texts(encoder, texts), texts, labels, prototypes, plan, text_model_sha256
    )


def prototype_head(
    labels: Sequence[str], prototypes: np.ndarray, scale: float, metadata: dict[str, Any]
) -> Head:
    """Fixed unit prototypes as a linear head: softmax(scale * cosine), no fitted weights."""
    k = len(labels)
    dim = prototypes.shape[1]
    return Head(
        labels=tuple(labels),
        mean=np.zeros(dim, np.float32),
        scale=np.ones(dim, np.float32),
        weights=np.ascontiguousarray(prototypes.T, dtype=np.float32),
        gram_weights=np.zeros((0, k), np.float32),
        bias=np.zeros(k, np.float32),
        temperature=1.0 / scale,
        metadata=metadata,
    )


def self_trained_from_vectors(
    labels: Sequence[LabelPrototype],
    prototypes: np.ndarray,
    unlabeled: np.ndarray,
    rounds: int = SELF_TRAIN_ROUNDS,
    text_model_sha256: str = "",
) -> Head:
    """Label-name prototypes moved onto unlabeled in-domain texts (`labels.self_train`)."""
    moved = self_train(prototypes, unlabeled, rounds)
    meta = {
        "kind": "self-trained prototypes",
        "unlabeled": len(unlabeled),
        "rounds": rounds,
        "text_model_sha256": text_model_sha256,
    }
    return prototype_head([p.label for p in labels], moved, ZERO_SHOT_SCALE, meta)


def fit_self_trained(
    encoder: TextEncoder,
    labels: Sequence[LabelPrototype],
    texts: Sequence[str],
    rounds: int = SELF_TRAIN_ROUNDS,
    text_model_sha256: str = "",
) -> Head:
    """Embed unlabeled texts and self-train the labels' zero-shot prototypes on them."""
    prototypes = ZeroShotClassifier(encoder, {}).prototypes(tuple(labels))
    return self_trained_from_vectors(
        labels, prototypes, embed_texts(encoder, texts), rounds, text_model_sha256
    )


def few_shot_options(examples: int, labels: int) -> FitOptions:
    """Linear fit options by data size: a few examples per label favour embeddings-only and L2."""
    if examples >= 30 * labels:
        return FitOptions()
    return FitOptions(l2=1e-2, steps=300, learning_rate=0.05, hash_dim=0)


def resolve_label_set(
    source: LabelSetSource, encoder: TextEncoder, text_model_sha256: str
) -> LabelSet:
    """A configured label set ready to serve; ModelLoadError when a file is bad."""
    if isinstance(source, tuple):
        return LabelSet(source)
    path = source.path
    if path.suffix.lower() == ".npz":
        if source.unlabeled is not None:
            raise ModelLoadError(f"label set {path}: `unlabeled` goes with a label-name file")
        head = load_head(path, source.sha256)
        trained_on = head.metadata.get("text_model_sha256")
        if trained_on and text_model_sha256 and trained_on != text_model_sha256:
            raise ModelLoadError(
                f"classifier head {path} was fitted on text model {trained_on[:12]}, but "
                f"{text_model_sha256[:12]} serves; refit it with `hybrid-router classifier fit`"
            )
        return LabelSet.of_head(head)
    try:
        if source.unlabeled is not None:
            labels = read_label_names(path)
            texts = read_texts(source.unlabeled)
            head = fit_self_trained(encoder, labels, texts, text_model_sha256=text_model_sha256)
        else:
            rows = read_examples(path)
            head = fit_from_examples(encoder, rows, HeadPlan(), text_model_sha256)
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"label set file {path}: {exc}") from exc
    return LabelSet.of_head(head)


def resolve_label_sets(
    sources: Mapping[str, LabelSetSource], encoder: TextEncoder, text_model_sha256: str = ""
) -> dict[str, LabelSet]:
    """Every configured label set, resolved (example files are fitted now, at startup)."""
    return {
        name: resolve_label_set(source, encoder, text_model_sha256)
        for name, source in sources.items()
    }
