"""Trained classification heads over edge embeddings: numpy softmax regression, calibration, .npz.

A head is a multinomial logistic regression on standardised sentence embeddings plus hashed word
1-2-gram features of the raw text, fitted with full-batch Adam and L2 (numpy only, no scikit-learn
at fit or run time). Its temperature and cascade threshold come from a held-out split, then it is
refitted on everything. Storage is `edge_models.head_store` (.npz + sha256).
"""

import itertools
import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

_WORD = re.compile(r"[a-z0-9]+|[^\sa-z0-9]")


@dataclass(frozen=True)
class FitOptions:
    """Hyper-parameters of a head fit; the defaults were chosen on Banking77's train split."""

    l2: float = 1e-3
    steps: int = 200
    learning_rate: float = 0.01
    hash_dim: int = 4096  # word 1-2-grams hashed to this many columns; 0 turns them off
    holdout: float = 0.2  # share held out (per label) for the temperature and the threshold
    target_accuracy: float = 0.9  # the cascade threshold keeps answers at least this accurate
    seed: int = 0


@dataclass(frozen=True)
class Grams:
    """Hashed n-gram features as CSR (row pointer, column), one value per row, column order kept."""

    indptr: np.ndarray
    cols: np.ndarray
    row_value: np.ndarray  # every stored entry of a row has this value
    rows: np.ndarray  # the row of each stored entry
    by_col: np.ndarray  # entry order sorted by column
    col_starts: np.ndarray  # where each distinct column starts in `by_col` order

    def times(self, weights: np.ndarray) -> np.ndarray:
        """This sparse matrix times dense `weights` (hash_dim, k): row sums by `reduceat`."""
        out = np.zeros((len(self.indptr) - 1, weights.shape[1]), dtype=np.float32)
        filled = np.diff(self.indptr) > 0
        if filled.any():
            sums = np.add.reduceat(weights[self.cols], self.indptr[:-1][filled], axis=0)
            out[filled] = sums * self.row_value[filled, None]
        return out

    def transpose_times(self, grad: np.ndarray, hash_dim: int) -> np.ndarray:
        """Transpose of this matrix times dense `grad` (n, k), as (hash_dim, k)."""
        out = np.zeros((hash_dim, grad.shape[1]), dtype=np.float32)
        if len(self.cols):
            scaled = (grad * self.row_value[:, None]).astype(np.float32)
            sums = np.add.reduceat(scaled[self.rows[self.by_col]], self.col_starts, axis=0)
            out[self.cols[self.by_col][self.col_starts]] = sums
        return out

    def subset(self, rows: np.ndarray) -> "Grams":
        """The given rows, in order."""
        return grams_of([self.cols[self.indptr[r] : self.indptr[r + 1]] for r in rows])


def ngram_indices(text: str, dim: int) -> np.ndarray:
    """Hashed (crc32) word unigram and bigram columns of a lower-cased text."""
    words = _WORD.findall(text.lower())
    grams = words + [f"{a} {b}" for a, b in itertools.pairwise(words)]
    return np.asarray(sorted({zlib.crc32(g.encode()) % dim for g in grams}), dtype=np.int64)


def grams_of(columns: Sequence[np.ndarray]) -> Grams:
    """CSR n-gram features; each row's values are 1/sqrt(count) scaled like an embedding column."""
    lengths = np.asarray([len(c) for c in columns], dtype=np.int64)
    indptr = np.concatenate([[0], np.cumsum(lengths)])
    cols = np.concatenate([*columns, np.zeros(0, np.int64)]).astype(np.int64)
    by_col = np.argsort(cols, kind="stable")
    ordered = cols[by_col]
    starts = (
        np.flatnonzero(np.concatenate([[True], ordered[1:] != ordered[:-1]]))
        if len(cols)
        else by_col
    )
    return Grams(
        indptr=indptr,
        cols=cols,
        row_value=(np.sqrt(384.0) / np.sqrt(np.maximum(lengths, 1))).astype(np.float32),
        rows=np.repeat(np.arange(len(lengths)), lengths),
        by_col=by_col,
        col_starts=starts,
    )


def text_grams(texts: Sequence[str], hash_dim: int) -> Grams:
    """Hashed n-gram features of raw texts."""
    return grams_of(
        [ngram_indices(t, hash_dim) if hash_dim else np.zeros(0, np.int64) for t in texts]
    )


@dataclass(frozen=True)
class Head:
    """A fitted head: labels, standardisation, weights, temperature and calibration metadata."""

    labels: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    weights: np.ndarray  # (384, labels) over standardised embeddings
    gram_weights: np.ndarray  # (hash_dim, labels); (0, labels) without n-grams
    bias: np.ndarray
    temperature: float = 1.0
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def hash_dim(self) -> int:
        """Columns of the hashed n-gram features (0: none)."""
        return int(self.gram_weights.shape[0])

    def logits(self, embeddings: np.ndarray, texts: Sequence[str]) -> np.ndarray:
        """Uncalibrated class scores, (n, labels)."""
        dense = ((embeddings - self.mean) / self.scale).astype(np.float32)
        out = dense @ self.weights + self.bias
        if self.hash_dim:
            out += text_grams(texts, self.hash_dim).times(self.gram_weights)
        return out

    def probabilities(self, embeddings: np.ndarray, texts: Sequence[str]) -> np.ndarray:
        """Calibrated class probabilities, (n, labels)."""
        return softmax(self.logits(embeddings, texts) / self.temperature)

    @property
    def cascade_threshold(self) -> float | None:
        """Confidence below which the cascade should escalate, measured on held-out data."""
        value = self.metadata.get("cascade_threshold")
        return float(value) if value is not None else None


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax, numerically stable."""
    exp = np.exp(logits - logits.max(axis=1, keepdims=True))
    return exp / exp.sum(axis=1, keepdims=True)


def _adam(
    params: list[np.ndarray], grads: list[np.ndarray], state: list[np.ndarray], step: int, lr: float
) -> None:
    """One Adam update in place (state holds first and second moments, two per parameter)."""
    beta1, beta2 = 0.9, 0.999
    for i, (p, g) in enumerate(zip(params, grads, strict=True)):
        m, v = state[2 * i], state[2 * i + 1]
        m *= beta1
        m += (1 - beta1) * g
        v *= beta2
        v += (1 - beta2) * g * g
        p -= lr * (m / (1 - beta1**step)) / (np.sqrt(v / (1 - beta2**step)) + 1e-8)


def fit_softmax(
    dense: np.ndarray, grams: Grams, y: np.ndarray, classes: int, options: FitOptions
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Multinomial logistic regression with L2 by full-batch Adam: (weights, gram weights, bias)."""
    n = len(y)
    w = np.zeros((dense.shape[1], classes), dtype=np.float32)
    wg = np.zeros((options.hash_dim, classes), dtype=np.float32)
    b = np.zeros(classes, dtype=np.float32)
    onehot = np.zeros((n, classes), dtype=np.float32)
    onehot[np.arange(n), y] = 1.0
    params = [w, wg, b]
    state = [np.zeros_like(p) for p in params for _ in range(2)]
    for step in range(1, options.steps + 1):
        logits = dense @ w + b
        if options.hash_dim:
            logits += grams.times(wg)
        grad = (softmax(logits) - onehot) / n
        g_wg = (
            grams.transpose_times(grad, options.hash_dim) if options.hash_dim else np.zeros_like(wg)
        )
        grads = [dense.T @ grad + options.l2 * w, g_wg + options.l2 * wg, grad.sum(axis=0)]
        lr = options.learning_rate * 0.5 * (1 + np.cos(np.pi * step / options.steps)) + 1e-5
        _adam(params, grads, state, step, lr)
    return w, wg, b


def fit_temperature(logits: np.ndarray, y: np.ndarray) -> float:
    """The temperature that minimises held-out negative log-likelihood (log grid, then refine)."""

    def nll(t: float) -> float:
        probs = softmax(logits / t)
        return float(-np.log(np.clip(probs[np.arange(len(y)), y], 1e-12, None)).mean())

    grid = np.exp(np.linspace(np.log(0.02), np.log(50.0), 80))
    best = float(min(grid, key=nll))
    return float(min(best * np.exp(np.linspace(-0.1, 0.1, 21)), key=nll))


def expected_calibration_error(probs: np.ndarray, y: np.ndarray, bins: int = 15) -> float:
    """ECE of the top-1 confidence over equal-width bins (Guo et al., 2017)."""
    confidence = probs.max(axis=1)
    correct = (probs.argmax(axis=1) == y).astype(np.float64)
    edges = np.linspace(0.0, 1.0, bins + 1)
    total = 0.0
    for low, high in itertools.pairwise(edges):
        inside = (confidence > low) & (confidence <= high)
        if inside.any():
            total += inside.mean() * abs(correct[inside].mean() - confidence[inside].mean())
    return float(total)


def selective_threshold(confidence: np.ndarray, correct: np.ndarray, target: float) -> float:
    """The lowest confidence such that answers at or above it are at least `target` accurate."""
    order = np.argsort(-confidence)
    running = np.cumsum(correct[order]) / np.arange(1, len(order) + 1)
    ok = np.where(running >= target)[0]
    return float(confidence[order][ok[-1]]) if len(ok) else 1.0


def _split(y: np.ndarray, share: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-label held-out split: (fit rows, held-out rows); labels with one example stay in fit."""
    rng = np.random.default_rng(seed)
    held: list[np.ndarray] = []
    for label in np.unique(y):
        rows = rng.permutation(np.where(y == label)[0])
        take = round(len(rows) * share) if len(rows) > 1 else 0
        held.append(rows[: max(1, take) if len(rows) > 1 else 0])
    out = np.sort(np.concatenate(held)) if held else np.zeros(0, np.int64)
    return np.setdiff1d(np.arange(len(y)), out), out


def label_indices(labels: Sequence[str]) -> tuple[tuple[str, ...], np.ndarray]:
    """The distinct labels in first-seen order and each row's index into them (at least two)."""
    names = tuple(dict.fromkeys(labels))
    if len(names) < 2:
        raise ValueError("a head needs at least two distinct labels")
    index = {name: i for i, name in enumerate(names)}
    return names, np.asarray([index[x] for x in labels], dtype=np.int64)


def fit_head(
    embeddings: np.ndarray,
    texts: Sequence[str],
    labels: Sequence[str],
    options: FitOptions = FitOptions(),
    metadata: dict[str, Any] | None = None,
) -> Head:
    """Fit, calibrate on a held-out split, then refit on everything; metadata records how."""
    names, y = label_indices(labels)
    mean = embeddings.mean(axis=0)
    std = embeddings.std(axis=0)
    scale = np.where(std < 1e-6, 1.0, std).astype(np.float32)
    dense = ((embeddings - mean) / scale).astype(np.float32)
    grams = text_grams(texts, options.hash_dim)
    fit_rows, held = _split(y, options.holdout, options.seed)
    meta: dict[str, Any] = {**(metadata or {}), "examples": len(y), "held_out": len(held)}
    temperature = 1.0
    if len(held) and len(np.unique(y[fit_rows])) == len(names):
        w, wg, b = fit_softmax(
            dense[fit_rows], grams.subset(fit_rows), y[fit_rows], len(names), options
        )
        held_logits = (
            dense[held] @ w + b + (grams.subset(held).times(wg) if options.hash_dim else 0)
        )
        temperature = fit_temperature(held_logits, y[held])
        probs = softmax(held_logits / temperature)
        correct = (probs.argmax(axis=1) == y[held]).astype(np.float64)
        meta |= {
            "held_out_accuracy": float(correct.mean()),
            "held_out_ece": expected_calibration_error(probs, y[held]),
            "cascade_threshold": selective_threshold(
                probs.max(axis=1), correct, options.target_accuracy
            ),
            "cascade_target_accuracy": options.target_accuracy,
        }
    w, wg, b = fit_softmax(dense, grams, y, len(names), options)
    meta |= {"l2": options.l2, "steps": options.steps, "hash_dim": options.hash_dim}
    return Head(names, mean.astype(np.float32), scale, w, wg, b, temperature, meta)
