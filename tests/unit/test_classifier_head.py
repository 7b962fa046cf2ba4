"""Heads without the text model: fit, calibration, ECE, storage checks, label files, presets."""

from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from common.errors import BadRequest
from common.schema import GenerateRequest, Parameters
from edge_models.classifier import (
    FitOptions,
    expected_calibration_error,
    fit_head,
    selective_threshold,
    text_grams,
)
from edge_models.errors import ModelLoadError
from edge_models.head_store import checksum_path, load_head, save_head
from edge_models.labels import deslug, read_examples
from router.job_builder import to_job_params
from router.settings import Settings

FAST = FitOptions(steps=120, learning_rate=0.05, hash_dim=64)


def blobs(n: int = 40, seed: int = 0) -> tuple[np.ndarray, list[str], list[str]]:
    """Three noisy clusters of unit vectors, with texts that carry a word of their label."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(3, 384))
    rows, texts, labels = [], [], []
    for k, name in enumerate(("alpha", "beta", "gamma")):
        points = centres[k] + rng.normal(scale=2.5, size=(n, 384))
        rows.append(points / np.linalg.norm(points, axis=1, keepdims=True))
        texts += [f"text about {name} number {i}" for i in range(n)]
        labels += [name] * n
    return np.vstack(rows).astype(np.float32), texts, labels


def test_head_learns_calibrates_and_records_a_threshold() -> None:
    x, texts, labels = blobs()
    head = fit_head(x, texts, labels, FAST)
    test_x, test_texts, test_labels = blobs(seed=0)
    probs = head.probabilities(test_x, test_texts)
    y = np.asarray([head.labels.index(v) for v in test_labels])
    assert (probs.argmax(axis=1) == y).mean() >= 0.95
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    assert head.metadata["held_out"] > 0 and 0.0 <= head.cascade_threshold <= 1.0
    assert head.temperature > 0


def test_head_needs_two_labels() -> None:
    x, texts, _ = blobs(n=3)
    with pytest.raises(ValueError, match="two distinct labels"):
        fit_head(x, texts, ["same"] * len(texts), FAST)


def test_ece_is_zero_when_confidence_matches_accuracy_and_large_when_overconfident() -> None:
    y = np.array([0, 0, 1, 1])
    honest = np.array([[0.5, 0.5], [0.5, 0.5], [0.5, 0.5], [0.5, 0.5]])  # half right at 0.5
    assert expected_calibration_error(honest, y) == pytest.approx(0.0)
    overconfident = np.array([[0.99, 0.01], [0.01, 0.99], [0.99, 0.01], [0.01, 0.99]])
    assert expected_calibration_error(overconfident, y) == pytest.approx(0.49, abs=1e-6)


def test_selective_threshold_keeps_answers_at_the_target_accuracy() -> None:
    confidence = np.array([0.95, 0.9, 0.8, 0.7, 0.6, 0.5])
    correct = np.array([1, 1, 1, 0, 1, 0], dtype=float)
    assert selective_threshold(confidence, correct, 0.8) == 0.6  # 4/5 right at >= 0.6
    assert selective_threshold(confidence, correct, 1.0) == 0.8
    assert selective_threshold(np.array([0.9]), np.array([0.0]), 0.9) == 1.0


def test_grams_are_deterministic_and_sparse() -> None:
    a = text_grams(["Where is my card?"], 4096)
    b = text_grams(["where is my CARD ?"], 4096)
    np.testing.assert_array_equal(a.cols, b.cols)
    assert 0 < len(a.cols) <= 9


def test_saved_head_round_trips_and_a_changed_file_is_refused(tmp_path: Path) -> None:
    x, texts, labels = blobs(n=10)
    head = fit_head(x, texts, labels, FAST)
    path = tmp_path / "head.npz"
    digest = save_head(head, path)
    loaded = load_head(path)
    assert loaded.labels == head.labels and loaded.temperature == head.temperature
    np.testing.assert_allclose(loaded.probabilities(x, texts), head.probabilities(x, texts))
    assert load_head(path, digest).labels == head.labels
    with pytest.raises(ModelLoadError, match="expected"):
        load_head(path, "0" * 64)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ModelLoadError, match="refusing"):
        load_head(path)
    checksum_path(path).unlink()
    with pytest.raises(ModelLoadError, match="no checksum file"):
        load_head(path)


@pytest.mark.parametrize(
    ("slug", "words"),
    [
        ("card_arrival", "card arrival"),
        ("reverted_card_payment?", "reverted card payment"),
        ("Refund_not_showing_up", "refund not showing up"),
        ("cardArrival", "card arrival"),
        ("billing", "billing"),
    ],
)
def test_deslug(slug: str, words: str) -> None:
    assert deslug(slug) == words


def test_example_files_csv_and_yaml(tmp_path: Path) -> None:
    csv_file = tmp_path / "x.csv"
    csv_file.write_text("text,label\nhi there,greet\nbye now,leave\n")
    assert read_examples(csv_file) == [("hi there", "greet"), ("bye now", "leave")]
    yaml_file = tmp_path / "x.yaml"
    yaml_file.write_text("greet: [hi there]\nleave: [bye now]\n")
    assert read_examples(yaml_file) == [("hi there", "greet"), ("bye now", "leave")]
    bad = tmp_path / "x.csv"
    bad.write_text("sentence,intent\nhi,greet\n")
    with pytest.raises(ValueError, match="text"):
        read_examples(bad)


def test_presets_set_temperature_and_explicit_temperature_wins() -> None:
    assert to_job_params(Parameters(preset="factual")).temperature == 0.3
    assert to_job_params(Parameters(preset="creative")).temperature == 0.9
    assert to_job_params(Parameters(preset="creative", temperature=0.1)).temperature == 0.1
    assert to_job_params(Parameters(preset="factual"), {"factual": 0.05}).temperature == 0.05
    assert to_job_params(Parameters()).temperature == 0.7
    with pytest.raises(BadRequest) as err:
        to_job_params(Parameters(preset="poetic"))
    assert err.value.code == "unknown_preset"


def test_presets_are_configurable_and_checked() -> None:
    assert Settings(routing={"presets": {"factual": 0.1}}).routing.presets == {"factual": 0.1}
    with pytest.raises(ValidationError):
        Settings(routing={"presets": {"wild": 3.0}})


@pytest.mark.parametrize(
    "parameters",
    [{"max_tokens": "10"}, {"temperature": True}, {"temperature": "0.5"}, {"preset": 1}],
)
def test_strict_parameters(parameters: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        GenerateRequest.model_validate({"inputs": {"text": "x"}, "parameters": parameters})


def test_request_label_sets_up_to_512() -> None:
    labels = [f"intent {i}" for i in range(256)]
    body = GenerateRequest.model_validate(
        {"inputs": {"text": "x"}, "parameters": {"labels": labels}}
    )
    assert len(body.parameters.labels or []) == 256
    with pytest.raises(ValidationError):
        GenerateRequest.model_validate(
            {"inputs": {"text": "x"}, "parameters": {"labels": [f"l{i}" for i in range(513)]}}
        )
