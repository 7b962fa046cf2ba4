"""Label-name zero-shot: content-token pooling and the wider template set, on the real MiniLM."""

from collections.abc import Sequence

import numpy as np
import pytest

from edge_models.base import EdgeInput
from edge_models.labels import (
    TEMPLATES,
    ZERO_SHOT_TEMPLATES,
    LabelPrototype,
    LabelSet,
    PrototypeCache,
)
from edge_models.sessions import SessionOptions
from edge_models.text import (
    ZERO_SHOT_SCALE,
    TextEncoder,
    ZeroShotClassifier,
    content_mask,
    load_tokenizer,
)


@pytest.fixture(scope="module")
def encoder() -> TextEncoder:
    return TextEncoder.load(SessionOptions())


def hidden_states(encoder: TextEncoder, text: str) -> tuple[np.ndarray, np.ndarray]:
    """Token ids and last hidden states of one text, straight from the ONNX session."""
    ids = encoder.encode(text).ids[None, :]
    feeds = {"input_ids": ids, "attention_mask": np.ones_like(ids)}
    if "token_type_ids" in {i.name for i in encoder._session.get_inputs()}:
        feeds["token_type_ids"] = np.zeros_like(ids)
    return ids[0], encoder._session.run(None, feeds)[0][0]


def unit(vector: np.ndarray) -> np.ndarray:
    return vector / np.linalg.norm(vector)


def test_content_mask_drops_special_tokens_and_punctuation() -> None:
    tokenizer = load_tokenizer()
    keep = content_mask(tokenizer)
    vocab = tokenizer.get_vocab()
    for token in ("[CLS]", "[SEP]", "[PAD]", "[UNK]", "?", "!", ".", ",", "$", "，", "？"):
        assert not keep[vocab[token]], token
    for token in ("card", "##s", "arrival", "1", "€"):
        assert keep[vocab[token]], token


def test_content_pooling_averages_only_content_token_states(encoder: TextEncoder) -> None:
    text = "Where is my card?! It hasn't arrived."
    ids, hidden = hidden_states(encoder, text)
    kept = content_mask(encoder._tokenizer)[ids]
    assert 0 < kept.sum() < len(ids) - 2  # [CLS], [SEP] and punctuation are left out
    expected = unit(hidden[kept].mean(axis=0))
    np.testing.assert_allclose(encoder.embed_content([text])[0], expected, atol=1e-5)
    standard = encoder.embed([text])[0]
    np.testing.assert_allclose(standard, unit(hidden.mean(axis=0)), atol=1e-5)
    assert float(standard @ expected) < 0.999  # the two poolings are different vectors


def test_a_text_of_punctuation_only_pools_all_its_tokens(encoder: TextEncoder) -> None:
    vector = encoder.embed_content(["?!"])[0]
    np.testing.assert_allclose(vector, encoder.embed(["?!"])[0], atol=1e-6)
    assert np.isfinite(vector).all()


def test_zero_shot_phrases_use_the_wider_templates_and_anchors_keep_theirs() -> None:
    label = LabelPrototype("card_arrival", ("my card never came",), "when a card arrives")
    assert label.phrases() == (
        *(t.format("card arrival") for t in TEMPLATES),
        "when a card arrives",
        "my card never came",
    )
    zero_shot = label.zero_shot_phrases()
    assert len(zero_shot) == len(ZERO_SHOT_TEMPLATES) + 2 > len(label.phrases())
    assert "card arrival?" in zero_shot and "card arrival" in zero_shot


def test_prototype_cache_embeds_the_phrases_it_is_given_once() -> None:
    calls: list[list[str]] = []

    def embed(texts: Sequence[str]) -> np.ndarray:
        calls.append(list(texts))
        return np.stack([np.eye(4)[len(t) % 4] for t in texts]).astype(np.float32)

    cache = PrototypeCache(embed, phrases=LabelPrototype.zero_shot_phrases)
    labels = (LabelPrototype("a"), LabelPrototype("bb"))
    first = cache.vectors(labels)
    assert calls == [[p for x in labels for p in x.zero_shot_phrases()]]
    np.testing.assert_allclose(np.linalg.norm(first, axis=1), 1.0, rtol=1e-6)
    np.testing.assert_array_equal(cache.vectors(labels[::-1]), first[::-1])
    assert len(calls) == 1  # cached: nothing embedded again


def test_label_names_are_scored_in_the_content_space(encoder: TextEncoder) -> None:
    classifier = ZeroShotClassifier(encoder, {})
    names = ("card_arrival", "exchange_rate", "lost_or_stolen_phone", "top_up_limits")
    text = "My new card still hasn't arrived, when will it come?"
    item = classifier.prepare(EdgeInput(text=text, labels=names, top_k=len(names)))
    served = {x["label"]: x["score"] for x in classifier.run_batch([item])[0]["labels"]}
    prototypes = classifier.zero_shot_prototypes(tuple(LabelPrototype(n) for n in names))
    logits = ZERO_SHOT_SCALE * (prototypes @ encoder.embed_content([text])[0])
    expected = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
    np.testing.assert_allclose([served[n] for n in names], expected, atol=1e-5)
    assert max(served, key=served.__getitem__) == "card_arrival"
    # heads and self-training keep starting from the embed task's space (TEMPLATES, mean pooling)
    anchors = classifier.prototypes(tuple(LabelPrototype(n) for n in names))
    np.testing.assert_allclose(
        anchors[0], unit(encoder.embed(LabelPrototype(names[0]).phrases()).mean(axis=0)), atol=1e-5
    )
    assert LabelSet(tuple(LabelPrototype(n) for n in names)).by_prototypes
    assert not LabelSet((LabelPrototype("a"),), vectors=np.eye(1, 384)).by_prototypes
