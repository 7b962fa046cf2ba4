"""Few-shot classification heads: kernel ridge regression over unit embeddings, chosen by LOO.

For a few examples per label, a kernel classifier over the frozen sentence embeddings beats a
softmax regression (Banking77, 8 per label: 0.853 vs 0.849, mean of the same 5 draws). The kernel is
Gaussian on the unit sphere, k(x, z) = exp(-beta (1 - x.z)); the targets are centred one-hot
rows; the ridge strength and beta are chosen by exact leave-one-out accuracy over the examples
(one eigendecomposition per beta gives every ridge's LOO scores in closed form), never by
held-out test data. The temperature and the cascade threshold come from the same LOO scores.
Label-name prototypes can join the fit as anchors: always trained on, never scored.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edge_models.classifier import (
    Head,
    expected_calibration_error,
    fit_temperature,
    label_indices,
    selective_threshold,
    softmax,
)

MAX_KERNEL_ROWS = 4096  # eigendecompositions of n x n: ~8 s per beta at 4096 on two cores


@dataclass(frozen=True)
class KernelOptions:
    """The grid the leave-one-out selection searches, and the cascade's accuracy target."""

    betas: tuple[float, ...] = (1.0, 2.0, 3.0, 5.0, 8.0)
    ridges: tuple[float, ...] = (1e-3, 1e-2, 1e-1, 1.0)
    target_accuracy: float = 0.9


@dataclass(frozen=True)
class KernelHead:
    """A fitted kernel head: support vectors, dual coefficients, beta and temperature."""

    labels: tuple[str, ...]
    support: np.ndarray  # (n, 384) unit vectors
    dual: np.ndarray  # (n, labels)
    beta: float
    temperature: float = 1.0
    metadata: dict[str, Any] = field(default_factory=dict)

    def logits(self, embeddings: np.ndarray, texts: Sequence[str] = ()) -> np.ndarray:
        """Uncalibrated class scores, (n, labels); texts are not used."""
        similarity = embeddings.astype(np.float32) @ self.support.T
        return np.exp(self.beta * (similarity - 1.0)) @ self.dual

    def probabilities(self, embeddings: np.ndarray, texts: Sequence[str] = ()) -> np.ndarray:
        """Calibrated class probabilities, (n, labels)."""
        return softmax(self.logits(embeddings, texts) / self.temperature)

    @property
    def cascade_threshold(self) -> float | None:
        """Confidence below which the cascade should escalate, from leave-one-out answers."""
        value = self.metadata.get("cascade_threshold")
        return float(value) if value is not None else None


AnyHead = Head | KernelHead


@dataclass(frozen=True)
class _Candidate:
    """One (beta, ridge) point of the grid with its leave-one-out results."""

    beta: float
    ridge: float
    loo_accuracy: float
    loo_scores: np.ndarray
    dual: np.ndarray


def _nll(scores: np.ndarray, y: np.ndarray, temperature: float) -> float:
    """Mean negative log-likelihood of softmax(scores / temperature)."""
    probs = softmax(scores / temperature)
    return float(-np.log(np.clip(probs[np.arange(len(y)), y], 1e-12, None)).mean())


def _best(found: list[_Candidate], y: np.ndarray) -> tuple[_Candidate, float]:
    """The most LOO-accurate candidate (ties: the lowest calibrated NLL) and its temperature."""
    top = max(c.loo_accuracy for c in found)
    tied = [(c, fit_temperature(c.loo_scores, y)) for c in found if c.loo_accuracy == top]
    return min(tied, key=lambda pair: _nll(pair[0].loo_scores, y, pair[1]))


def _candidates(
    vectors: np.ndarray, y: np.ndarray, scored: np.ndarray, classes: int, options: KernelOptions
) -> list[_Candidate]:
    """Every grid point's dual coefficients and exact leave-one-out scores on the scored rows."""
    x = vectors.astype(np.float64)
    targets = np.eye(classes)[y] - 1.0 / classes
    out = []
    for beta in options.betas:
        eigenvalues, basis = np.linalg.eigh(np.exp(beta * (x @ x.T - 1.0)))
        eigenvalues = np.clip(eigenvalues, 0.0, None)
        projected = basis.T @ targets
        squares = basis[scored] ** 2
        for ridge in options.ridges:
            inverse = 1.0 / (eigenvalues + ridge)
            dual = basis @ (inverse[:, None] * projected)
            # LOO residual of ridge regression: dual_i / (K + ridge I)^-1_ii
            loo = targets[scored] - dual[scored] / (squares @ inverse)[:, None]
            accuracy = float((loo.argmax(axis=1) == y[scored]).mean())
            out.append(_Candidate(beta, ridge, accuracy, loo, dual))
    return out


def fit_kernel_head(
    vectors: np.ndarray,
    labels: Sequence[str],
    scored: np.ndarray | None = None,
    options: KernelOptions = KernelOptions(),
    metadata: dict[str, Any] | None = None,
) -> KernelHead:
    """Fit on unit `vectors` (rows outside the `scored` mask are anchors, trained on only)."""
    names, y = label_indices(labels)
    if len(vectors) > MAX_KERNEL_ROWS:
        raise ValueError(f"a kernel head takes at most {MAX_KERNEL_ROWS} rows, got {len(vectors)}")
    mask = np.ones(len(y), dtype=bool) if scored is None else np.asarray(scored, dtype=bool)
    if not mask.any():
        raise ValueError("a kernel head needs at least one scored example")
    best, temperature = _best(_candidates(vectors, y, mask, len(names), options), y[mask])
    probs = softmax(best.loo_scores / temperature)
    correct = (probs.argmax(axis=1) == y[mask]).astype(np.float64)
    meta: dict[str, Any] = {
        **(metadata or {}),
        "kind": "kernel",
        "selection": "leave-one-out accuracy over the examples",
        "examples": int(mask.sum()),
        "anchors": int((~mask).sum()),
        "held_out": int(mask.sum()),
        "held_out_accuracy": best.loo_accuracy,
        "held_out_ece": expected_calibration_error(probs, y[mask]),
        "cascade_threshold": selective_threshold(
            probs.max(axis=1), correct, options.target_accuracy
        ),
        "cascade_target_accuracy": options.target_accuracy,
        "beta": best.beta,
        "ridge": best.ridge,
    }
    return KernelHead(
        names,
        vectors.astype(np.float32),
        best.dual.astype(np.float32),
        best.beta,
        temperature,
        meta,
    )
