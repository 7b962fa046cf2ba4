"""The real MiniLM: parity with fp32 reference vectors, similarity, zero-shot accuracy."""

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from edge_models.base import EdgeInput
from edge_models.errors import InputError
from edge_models.minilm_assets import model_file
from edge_models.sessions import SessionOptions
from edge_models.text import MAX_TOKENS, Embedder, LabelPrototype, TextEncoder, ZeroShotClassifier

DATA = Path(__file__).parent.parent / "data"


@pytest.fixture(scope="module")
def encoder() -> TextEncoder:
    return TextEncoder.load(SessionOptions())


def test_int8_vectors_match_fp32_reference(encoder: TextEncoder) -> None:
    reference = json.loads((DATA / "minilm_fp32_reference.json").read_text())
    ours = encoder.embed(reference["sentences"])
    theirs = np.asarray(reference["vectors"], dtype=np.float32)
    cosines = (ours * theirs).sum(axis=1)
    assert ours.shape == (len(reference["sentences"]), 384)
    assert cosines.min() >= 0.99, cosines


def test_vectors_are_unit_length(encoder: TextEncoder) -> None:
    norms = np.linalg.norm(encoder.embed(["one", "a somewhat longer sentence here"]), axis=1)
    np.testing.assert_allclose(norms, 1.0, atol=1e-5)


def test_related_pairs_score_above_unrelated(encoder: TextEncoder) -> None:
    pairs_related = [
        ("A man is eating food.", "A man is eating a piece of bread."),
        ("How do I reset my password?", "I forgot my password and need a new one."),
        ("The stock market fell today.", "Share prices dropped sharply this afternoon."),
    ]
    pairs_unrelated = [
        ("A man is eating food.", "The quarterly revenue grew by twelve percent."),
        ("How do I reset my password?", "A woman is playing violin."),
        ("The stock market fell today.", "Knead the dough and let it rise."),
    ]

    def cosine(a: str, b: str) -> float:
        va, vb = encoder.embed([a, b])
        return float(va @ vb)

    related = [cosine(a, b) for a, b in pairs_related]
    unrelated = [cosine(a, b) for a, b in pairs_unrelated]
    assert min(related) > max(unrelated) + 0.2, (related, unrelated)


@pytest.mark.parametrize("precision", ["int8", "fp32"])
def test_a_text_embeds_the_same_alone_and_in_any_batch(precision: str) -> None:
    # int8 activations are quantized per token, so batch mates (and padding) never move a row
    encoder = TextEncoder.load(SessionOptions(), model_file(precision))
    text = encoder.encode("How do I reset my password?")
    short = encoder.encode("ok")
    long = encoder.encode("Where is my card? I ordered it two weeks ago, it is not here. " * 3)
    alone = encoder.embed_run([text])[0]
    for mates in ([short], [long], [long, short], [short, long] * 16):
        batched = encoder.embed_run([*mates[:1], text, *mates[1:]])  # one padded session run
        np.testing.assert_allclose(batched[1], alone, atol=1e-6, err_msg=f"{len(mates)} mates")
        np.testing.assert_allclose(batched[0], encoder.embed_run(mates[:1])[0], atol=1e-6)
        # the served path splits a batch into runs of similar length: the same vectors
        served = encoder.embed_encoded([*mates[:1], text, *mates[1:]])
        np.testing.assert_allclose(served, batched, atol=1e-6)


def test_long_text_is_truncated_and_flagged(encoder: TextEncoder) -> None:
    embedder = Embedder(encoder)
    prepared = embedder.prepare(EdgeInput(text="word " * 1000))
    assert len(prepared.ids) == MAX_TOKENS
    assert embedder.run_batch([prepared])[0]["truncated"] is True
    short = embedder.run_batch([embedder.prepare(EdgeInput(text="hi"))])[0]
    assert "truncated" not in short


def test_zero_shot_accuracy_on_labelled_set(encoder: TextEncoder) -> None:
    data = yaml.safe_load((DATA / "zero_shot.yaml").read_text())
    assert len(data["examples"]) >= 30
    classifier = ZeroShotClassifier(encoder, {})
    labels = tuple(data["labels"])
    items = [
        classifier.prepare(EdgeInput(text=t, labels=labels, top_k=1)) for t, _ in data["examples"]
    ]
    outputs = classifier.run_batch(items)
    predicted = [o["labels"][0] for o in outputs]
    correct = [p["label"] == y for p, (_, y) in zip(predicted, data["examples"], strict=True)]
    assert sum(correct) / len(correct) >= 0.9
    # calibration: right answers are more confident than wrong ones on average
    right = [p["score"] for p, ok in zip(predicted, correct, strict=True) if ok]
    wrong = [p["score"] for p, ok in zip(predicted, correct, strict=True) if not ok]
    if wrong:
        assert np.mean(right) > np.mean(wrong)


def test_scores_are_a_distribution(encoder: TextEncoder) -> None:
    classifier = ZeroShotClassifier(encoder, {})
    item = classifier.prepare(
        EdgeInput(text="It will snow tonight", labels=("weather", "food", "music"), top_k=3)
    )
    scores = [x["score"] for x in classifier.run_batch([item])[0]["labels"]]
    assert sum(scores) == pytest.approx(1.0, abs=1e-5)
    assert scores == sorted(scores, reverse=True)


def test_configured_label_set_with_examples(encoder: TextEncoder) -> None:
    sets = {
        "support": (
            LabelPrototype("billing", ("I was charged twice", "refund my payment")),
            LabelPrototype("login", ("I cannot sign in", "my password does not work")),
        )
    }
    classifier = ZeroShotClassifier(encoder, sets)
    item = classifier.prepare(
        EdgeInput(text="Why is there a double charge on my card?", label_set="support")
    )
    assert classifier.run_batch([item])[0]["labels"][0]["label"] == "billing"
    with pytest.raises(InputError) as err:
        classifier.prepare(EdgeInput(text="x", label_set="nope"))
    assert err.value.code == "unknown_label_set"


@pytest.mark.parametrize(
    ("item", "code"),
    [
        (EdgeInput(text="x"), "missing_labels"),
        (EdgeInput(text="x", labels=("only",)), "invalid_labels"),
        (EdgeInput(text="   ", labels=("a", "b")), "missing_text"),
        (EdgeInput(labels=("a", "b")), "missing_text"),
    ],
)
def test_classify_bad_inputs(encoder: TextEncoder, item: EdgeInput, code: str) -> None:
    with pytest.raises(InputError) as err:
        ZeroShotClassifier(encoder, {}).prepare(item)
    assert err.value.code == code
