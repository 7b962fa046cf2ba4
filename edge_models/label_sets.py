"""Configured label sets, resolved at startup: label lists, example files (fitted), heads."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import numpy as np
from pydantic import Field

from common.settings_base import STRICT
from edge_models.classifier import FitOptions, Head, fit_head
from edge_models.errors import ModelLoadError
from edge_models.head_store import load_head
from edge_models.labels import LabelPrototype, LabelSet, deslug, read_examples
from edge_models.text import TextEncoder, ZeroShotClassifier


@dataclass(frozen=True)
class LabelSetFile:
    """A label set kept in a file: `text,label` examples (.csv/.yaml) or a fitted head (.npz)."""

    __pydantic_config__ = STRICT

    path: Path
    # for .npz: the expected checksum (else the PATH.sha256 side file)
    sha256: Annotated[str | None, Field(pattern=r"^[0-9a-fA-F]{64}$")] = None


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


def fit_from_examples(
    encoder: TextEncoder,
    rows: Sequence[tuple[str, str]],
    options: FitOptions,
    text_model_sha256: str = "",
) -> Head:
    """Embed `(text, label)` rows, add each label's name-template prototype, and fit a head."""
    texts = [t for t, _ in rows]
    labels = [label for _, label in rows]
    names = list(dict.fromkeys(labels))
    prototypes = ZeroShotClassifier(encoder, {}).prototypes(tuple(LabelPrototype(n) for n in names))
    vectors = np.vstack([embed_texts(encoder, texts), prototypes])
    return fit_head(
        vectors,
        [*texts, *(deslug(n) for n in names)],
        [*labels, *names],
        options,
        {"text_model_sha256": text_model_sha256},
    )


def few_shot_options(examples: int, labels: int) -> FitOptions:
    """Fit options by data size: a few examples per label favour embeddings-only and more L2."""
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
        head = load_head(path, source.sha256)
        trained_on = head.metadata.get("text_model_sha256")
        if trained_on and text_model_sha256 and trained_on != text_model_sha256:
            raise ModelLoadError(
                f"classifier head {path} was fitted on text model {trained_on[:12]}, but "
                f"{text_model_sha256[:12]} serves; refit it with `hybrid-router classifier fit`"
            )
        return LabelSet.of_head(head)
    try:
        rows = read_examples(path)
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"label set file {path}: {exc}") from exc
    labels = len({label for _, label in rows})
    head = fit_from_examples(encoder, rows, few_shot_options(len(rows), labels), text_model_sha256)
    return LabelSet.of_head(head)


def resolve_label_sets(
    sources: Mapping[str, LabelSetSource], encoder: TextEncoder, text_model_sha256: str = ""
) -> dict[str, LabelSet]:
    """Every configured label set, resolved (example files are fitted now, at startup)."""
    return {
        name: resolve_label_set(source, encoder, text_model_sha256)
        for name, source in sources.items()
    }
