"""Kernel heads, fit plans, prototype heads and label-name/text files, without the text model."""

from pathlib import Path

import numpy as np
import pytest

from edge_models.classifier import Head, softmax
from edge_models.errors import ModelLoadError
from edge_models.head_store import checksum_path, load_head, save_head, sha256_file
from edge_models.kernel_head import (
    MAX_KERNEL_ROWS,
    KernelHead,
    KernelOptions,
    _candidates,
    fit_kernel_head,
)
from edge_models.label_sets import HeadPlan, fit_from_vectors, prototype_head
from edge_models.labels import LabelPrototype, read_label_names, read_texts, self_train


def blobs(n: int, seed: int, spread: float = 1.2) -> tuple[np.ndarray, list[str]]:
    """Three noisy clusters of unit vectors with fixed centres, n per label."""
    centres = np.random.default_rng(42).normal(size=(3, 384))
    rng = np.random.default_rng(seed)
    rows, labels = [], []
    for k, name in enumerate(("alpha", "beta", "gamma")):
        points = centres[k] + rng.normal(scale=spread, size=(n, 384))
        rows.append(points / np.linalg.norm(points, axis=1, keepdims=True))
        labels += [name] * n
    return np.vstack(rows).astype(np.float32), labels


def test_kernel_head_learns_from_few_examples_and_calibrates() -> None:
    x, labels = blobs(6, seed=0)
    head = fit_kernel_head(x, labels)
    test_x, test_labels = blobs(50, seed=1)
    probs = head.probabilities(test_x)
    y = np.asarray([head.labels.index(v) for v in test_labels])
    assert (probs.argmax(axis=1) == y).mean() >= 0.95
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    meta = head.metadata
    assert meta["kind"] == "kernel" and meta["examples"] == 18 and meta["anchors"] == 0
    assert meta["beta"] in KernelOptions().betas and meta["ridge"] in KernelOptions().ridges
    assert 0.0 <= head.cascade_threshold <= 1.0 and head.temperature > 0


def test_closed_form_leave_one_out_matches_refitting_without_each_row() -> None:
    x, labels = blobs(4, seed=3, spread=8.0)
    options = KernelOptions(betas=(2.0,), ridges=(0.1,))
    head = fit_kernel_head(x, labels, options=options)
    y = np.asarray([head.labels.index(v) for v in labels])
    (candidate,) = _candidates(x, y, np.ones(len(x), bool), 3, options)
    right = 0
    for i in range(len(x)):
        keep = np.arange(len(x)) != i
        targets = np.eye(3)[y[keep]] - 1 / 3
        kernel = np.exp(2.0 * (x[keep].astype(np.float64) @ x[keep].T - 1.0))
        dual = np.linalg.solve(kernel + 0.1 * np.eye(len(kernel)), targets)
        scores = np.exp(2.0 * (x[i].astype(np.float64) @ x[keep].T - 1.0)) @ dual
        np.testing.assert_allclose(candidate.loo_scores[i], scores, atol=1e-9)
        right += int(scores.argmax() == y[i])
    assert head.metadata["held_out_accuracy"] == pytest.approx(right / len(x))
    assert right < len(x)  # noisy enough that LOO is not trivially perfect


def test_anchors_are_trained_on_but_not_scored() -> None:
    x, labels = blobs(3, seed=4)
    anchors = np.vstack([x[labels.index(n)] for n in ("alpha", "beta", "gamma")])
    rows = np.vstack([x, anchors])
    scored = np.arange(len(rows)) < len(x)
    head = fit_kernel_head(rows, [*labels, "alpha", "beta", "gamma"], scored)
    assert head.metadata["examples"] == 9 and head.metadata["anchors"] == 3
    assert head.support.shape == (12, 384) and head.dual.shape == (12, 3)


def test_kernel_head_refuses_one_label_and_too_many_rows() -> None:
    x, _ = blobs(3, seed=5)
    with pytest.raises(ValueError, match="two distinct labels"):
        fit_kernel_head(x, ["same"] * len(x))
    big = np.zeros((MAX_KERNEL_ROWS + 1, 384), np.float32)
    with pytest.raises(ValueError, match="at most"):
        fit_kernel_head(big, ["a", "b"] * (len(big) // 2) + ["a"])


def test_saved_kernel_head_round_trips_and_tampering_is_refused(tmp_path: Path) -> None:
    x, labels = blobs(5, seed=6)
    head = fit_kernel_head(x, labels)
    path = tmp_path / "kernel.npz"
    digest = save_head(head, path)
    loaded = load_head(path, digest)
    assert isinstance(loaded, KernelHead) and loaded.labels == head.labels
    assert loaded.beta == head.beta and loaded.cascade_threshold == head.cascade_threshold
    np.testing.assert_allclose(loaded.probabilities(x), head.probabilities(x), rtol=1e-6)
    data = bytearray(path.read_bytes())
    data[len(data) // 3] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(ModelLoadError, match="refusing"):
        load_head(path)


def test_a_head_file_of_unknown_format_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "odd.npz"
    meta = np.frombuffer(b'{"format": "someone-else/9", "labels": ["a", "b"]}', np.uint8)
    with path.open("wb") as f:
        np.savez(f, meta=meta)
    checksum_path(path).write_text(f"{sha256_file(path)}  odd.npz\n")
    with pytest.raises(ModelLoadError, match="someone-else/9"):
        load_head(path)


def test_plan_picks_kernel_for_few_rows_and_linear_for_many() -> None:
    assert HeadPlan().kind(MAX_KERNEL_ROWS) == "kernel"
    assert HeadPlan().kind(MAX_KERNEL_ROWS + 1) == "linear"
    assert HeadPlan(method="linear").kind(10) == "linear"
    with pytest.raises(ValueError, match="unknown head method"):
        HeadPlan(method="svm").kind(10)


def test_fit_from_vectors_adds_name_prototypes_as_anchors() -> None:
    x, labels = blobs(4, seed=7)
    names = list(dict.fromkeys(labels))
    prototypes = np.vstack([x[labels.index(n)] for n in names])
    kernel = fit_from_vectors(x, ["t"] * len(x), labels, prototypes, HeadPlan(), "abc")
    assert isinstance(kernel, KernelHead) and kernel.metadata["anchors"] == 3
    assert kernel.metadata["text_model_sha256"] == "abc"
    linear = fit_from_vectors(x, ["t"] * len(x), labels, prototypes, HeadPlan(method="linear"))
    assert isinstance(linear, Head) and linear.metadata["examples"] == len(x) + 3
    with pytest.raises(ValueError, match="name prototypes"):
        fit_from_vectors(x, ["t"] * len(x), labels, prototypes[:2])


def test_prototype_head_scores_like_zero_shot() -> None:
    x, labels = blobs(4, seed=8)
    prototypes = np.vstack([x[labels.index(n)] for n in ("alpha", "beta", "gamma")])
    head = prototype_head(["alpha", "beta", "gamma"], prototypes, 20.0, {})
    expected = softmax(20.0 * (x @ prototypes.T))
    np.testing.assert_allclose(head.probabilities(x, [""] * len(x)), expected, rtol=1e-5)
    moved = self_train(prototypes, x, rounds=2)
    assert moved.shape == prototypes.shape
    np.testing.assert_allclose(np.linalg.norm(moved, axis=1), 1.0, rtol=1e-5)


def test_label_name_files(tmp_path: Path) -> None:
    listed = tmp_path / "labels.json"
    listed.write_text('["card_arrival", "card_linking", "card_arrival"]')
    assert [p.label for p in read_label_names(listed)] == ["card_arrival", "card_linking"]
    described = tmp_path / "labels.yaml"
    described.write_text("billing: Questions about invoices\nshipping: Where a parcel is\n")
    assert read_label_names(described)[0] == LabelPrototype(
        "billing", (), "Questions about invoices"
    )
    lines = tmp_path / "labels.txt"
    lines.write_text("a\n\nb\n")
    assert [p.label for p in read_label_names(lines)] == ["a", "b"]
    lines.write_text("only\n")
    with pytest.raises(ValueError, match="two labels"):
        read_label_names(lines)


def test_unlabeled_text_files(tmp_path: Path) -> None:
    csv_file = tmp_path / "texts.csv"
    csv_file.write_text('text,category\n"hi, there",x\nbye,y\n')
    assert read_texts(csv_file) == ["hi, there", "bye"]
    txt = tmp_path / "texts.txt"
    txt.write_text("one\n\n two \n")
    assert read_texts(txt) == ["one", "two"]
    txt.write_text("\n")
    with pytest.raises(ValueError, match="no texts"):
        read_texts(txt)
