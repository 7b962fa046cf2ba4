"""The committed EfficientNet-Lite0 ONNX file on real photographs (no torch needed)."""

import io
from pathlib import Path

import numpy as np
import pytest
import skimage.data
from PIL import Image

from edge_models.base import EdgeInput
from edge_models.errors import InputError, ModelLoadError
from edge_models.image import (
    ASSETS_DIR,
    MODEL_FILE,
    ImageClassifier,
    PreparedImage,
    file_sha256,
    imagenet_labels,
    load_image_classifier,
    normalize,
)
from edge_models.sessions import SessionOptions, create_session

REFERENCE = ASSETS_DIR / "efficientnet_lite0_reference.npz"
CATS = {"tabby", "tiger cat", "Egyptian cat"}


@pytest.fixture(scope="module")
def classifier() -> ImageClassifier:
    return load_image_classifier(SessionOptions())


def photo_bytes(name: str, fmt: str = "PNG") -> bytes:
    """A photo bundled with scikit-image (offline), encoded as `fmt`."""
    buffer = io.BytesIO()
    Image.fromarray(getattr(skimage.data, name)()).save(buffer, format=fmt)
    return buffer.getvalue()


def classify(model: ImageClassifier, data: bytes, top_k: int = 5) -> list[dict[str, object]]:
    """Top-k labels for one encoded image."""
    [output] = model.run_batch([model.prepare(EdgeInput(image=data, top_k=top_k))])
    return output["labels"]


def names(labels: list[dict[str, object]]) -> list[object]:
    return [entry["label"] for entry in labels]


def test_onnx_matches_pytorch_reference_logits(classifier: ImageClassifier) -> None:
    with np.load(REFERENCE, allow_pickle=False) as reference:
        crops, expected = reference["crops"], reference["logits"]
    assert crops.shape[1:] == (224, 224, 3) and len(crops) >= 3
    actual = classifier.logits(np.stack([normalize(crop) for crop in crops]))
    assert np.abs(actual - expected).max() < 1e-3
    assert (actual.argmax(axis=1) == expected.argmax(axis=1)).all()


def test_reference_crops_match_the_edge_preprocessing(classifier: ImageClassifier) -> None:
    with np.load(REFERENCE, allow_pickle=False) as reference:
        photo_names, crops = list(reference["names"]), reference["crops"]
    for name, crop in zip(photo_names, crops, strict=True):
        prepared = classifier.prepare(EdgeInput(image=photo_bytes(str(name))))
        # Equal up to one grey level, so a Pillow upgrade's rounding does not fail it.
        np.testing.assert_allclose(prepared.pixels, normalize(crop), rtol=0, atol=1.01 / 128)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_cat_photo_is_a_cat(classifier: ImageClassifier, fmt: str) -> None:
    labels = classify(classifier, photo_bytes("chelsea", fmt), top_k=3)
    assert set(names(labels)) <= CATS | {"lynx"}
    assert labels[0]["label"] in CATS


def test_coffee_photo_is_espresso(classifier: ImageClassifier) -> None:
    labels = classify(classifier, photo_bytes("coffee"))
    assert labels[0]["label"] == "espresso"
    assert labels[0]["score"] > 0.5


def test_rocket_photo_is_a_missile_or_shuttle(classifier: ImageClassifier) -> None:
    top5 = set(names(classify(classifier, photo_bytes("rocket"))))
    assert {"missile", "projectile", "space shuttle"} & top5


def test_greyscale_camera_photo_shows_a_tripod(classifier: ImageClassifier) -> None:
    assert names(classify(classifier, photo_bytes("camera"), top_k=1)) == ["tripod"]


def test_batch_gives_each_item_its_own_answer(classifier: ImageClassifier) -> None:
    items = [
        EdgeInput(image=photo_bytes("coffee", "JPEG"), top_k=2),
        EdgeInput(image=photo_bytes("chelsea"), top_k=4),
        EdgeInput(image=photo_bytes("camera"), top_k=1),
    ]
    prepared = [classifier.prepare(item) for item in items]
    batched = classifier.run_batch(prepared)
    singles = [classifier.run_batch([p])[0] for p in prepared]
    assert [len(out["labels"]) for out in batched] == [2, 4, 1]
    assert batched[0]["labels"][0]["label"] == "espresso"
    assert batched[1]["labels"][0]["label"] in CATS
    assert batched[2]["labels"][0]["label"] == "tripod"
    for batch_out, single_out in zip(batched, singles, strict=True):
        assert names(batch_out["labels"]) == names(single_out["labels"])
        np.testing.assert_allclose(
            [e["score"] for e in batch_out["labels"]],
            [e["score"] for e in single_out["labels"]],
            rtol=1e-4,
            atol=1e-6,
        )


@pytest.mark.parametrize("top_k", [1, 3, 10])
def test_top_k_is_honoured_and_sorted(classifier: ImageClassifier, top_k: int) -> None:
    labels = classify(classifier, photo_bytes("coffee"), top_k=top_k)
    scores = [entry["score"] for entry in labels]
    assert len(labels) == top_k
    assert len(set(names(labels))) == top_k
    assert scores == sorted(scores, reverse=True)
    assert all(isinstance(s, float) and 0.0 <= s <= 1.0 for s in scores)


def test_top_k_above_class_count_returns_every_class(classifier: ImageClassifier) -> None:
    labels = classify(classifier, photo_bytes("coffee"), top_k=5000)
    assert len(labels) == 1000
    assert sum(entry["score"] for entry in labels) == pytest.approx(1.0, abs=1e-4)


def test_top_k_below_one_is_rejected(classifier: ImageClassifier) -> None:
    with pytest.raises(InputError) as info:
        classifier.prepare(EdgeInput(image=photo_bytes("coffee"), top_k=0))
    assert info.value.code == "invalid_top_k"


def test_missing_image_is_rejected(classifier: ImageClassifier) -> None:
    with pytest.raises(InputError) as info:
        classifier.prepare(EdgeInput(text="a cat"))
    assert info.value.code == "missing_image"


@pytest.mark.parametrize(
    "data",
    [b"\xff\xd8\xff\xe0 corrupt jpeg", b"just some text\n", photo_bytes("chelsea")[:5000]],
    ids=["corrupt", "text", "truncated-png"],
)
def test_bad_image_bytes_are_rejected(classifier: ImageClassifier, data: bytes) -> None:
    with pytest.raises(InputError) as info:
        classifier.prepare(EdgeInput(image=data))
    assert info.value.code == "invalid_image"


def test_image_over_max_pixels_is_rejected() -> None:
    session = create_session(ASSETS_DIR / MODEL_FILE, SessionOptions())
    small = ImageClassifier(session, imagenet_labels(), max_pixels=100_000)
    with pytest.raises(InputError) as info:
        small.prepare(EdgeInput(image=photo_bytes("chelsea")))  # 451x300 = 135,300 pixels
    assert info.value.code == "image_too_large"


def test_empty_batch_gives_no_outputs(classifier: ImageClassifier) -> None:
    assert classifier.run_batch([]) == []


def test_warm_up_runs(classifier: ImageClassifier) -> None:
    classifier.warm_up()
    zeros = PreparedImage(np.zeros((3, 224, 224), dtype=np.float32), 1)
    assert len(classifier.run_batch([zeros])[0]["labels"]) == 1


def test_wrong_label_count_is_rejected() -> None:
    session = create_session(ASSETS_DIR / MODEL_FILE, SessionOptions())
    with pytest.raises(ModelLoadError, match="1000 classes"):
        ImageClassifier(session, ["cat", "dog"])


def test_checksum_mismatch_refuses_to_load(tmp_path: Path) -> None:
    model = tmp_path / MODEL_FILE
    model.symlink_to(ASSETS_DIR / MODEL_FILE)
    (tmp_path / f"{MODEL_FILE}.sha256").write_text(f"{'0' * 64}  {MODEL_FILE}\n")
    with pytest.raises(ModelLoadError, match="sha256"):
        load_image_classifier(SessionOptions(), model_path=model)


def test_committed_checksum_matches_the_model_file() -> None:
    digest, name = (ASSETS_DIR / f"{MODEL_FILE}.sha256").read_text().split()
    assert name == MODEL_FILE
    assert digest == file_sha256(ASSETS_DIR / MODEL_FILE)
