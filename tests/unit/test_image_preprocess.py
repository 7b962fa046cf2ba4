"""Image decoding, size limits, crop and normalisation for EfficientNet-Lite0, and its export."""

import hashlib
import io
import struct
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from edge_models.errors import InputError, ModelLoadError
from edge_models.export_efficientnet import ExportError, export, same_padding
from edge_models.image import (
    CROP_SIZE,
    center_crop,
    imagenet_labels,
    normalize,
    open_image,
    softmax,
    verify_sha256,
)


def encode(image: Image.Image, fmt: str, **params: object) -> bytes:
    """Image → encoded bytes in `fmt`."""
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **params)
    return buffer.getvalue()


def png_chunk(kind: bytes, body: bytes) -> bytes:
    """One PNG chunk: length, type, body, CRC."""
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_header(width: int, height: int) -> bytes:
    """A well-formed PNG declaring width x height RGB, with only a few bytes of pixel data."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + png_chunk(b"IEND", b"")
    )


def gradient(width: int, height: int) -> Image.Image:
    """An RGB test image with different content in every region."""
    x = np.linspace(0, 255, width, dtype=np.float32)[None, :].repeat(height, 0)
    y = np.linspace(0, 255, height, dtype=np.float32)[:, None].repeat(width, 1)
    return Image.fromarray(np.stack([x, y, 255 - x], axis=-1).astype(np.uint8))


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
def test_open_image_decodes_supported_formats_to_rgb(fmt: str) -> None:
    image = open_image(encode(gradient(64, 48), fmt), max_pixels=10_000)
    assert image.mode == "RGB"
    assert image.size == (64, 48)


def test_open_image_converts_greyscale_to_rgb() -> None:
    grey = Image.fromarray(np.full((20, 30), 77, dtype=np.uint8))
    pixels = np.asarray(open_image(encode(grey, "PNG"), max_pixels=10_000))
    assert pixels.shape == (20, 30, 3)
    assert (pixels == 77).all()


def test_open_image_puts_transparent_pixels_on_white() -> None:
    rgba = Image.new("RGBA", (8, 8), (255, 0, 0, 0))
    rgba.putpixel((0, 0), (255, 0, 0, 255))
    pixels = np.asarray(open_image(encode(rgba, "PNG"), max_pixels=10_000))
    assert tuple(pixels[0, 0]) == (255, 0, 0)
    assert tuple(pixels[7, 7]) == (255, 255, 255)


def test_open_image_applies_exif_orientation() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    data = encode(gradient(60, 20), "JPEG", exif=exif.tobytes())
    assert open_image(data, max_pixels=10_000).size == (20, 60)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x00\x01\x02 definitely not an image",
        b"name,score\nalice,3\nbob,4\n",
        b"\x89PNG\r\n\x1a\n" + b"\x00" * 40,
    ],
    ids=["empty", "garbage", "text", "png-signature-only"],
)
def test_open_image_rejects_non_images(data: bytes) -> None:
    with pytest.raises(InputError) as info:
        open_image(data, max_pixels=10_000)
    assert info.value.code == "invalid_image"


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_open_image_rejects_truncated_files(fmt: str) -> None:
    data = encode(gradient(64, 64), fmt)
    with pytest.raises(InputError) as info:
        open_image(data[: len(data) // 2], max_pixels=10_000)
    assert info.value.code == "invalid_image"


def test_open_image_rejects_unsupported_formats() -> None:
    with pytest.raises(InputError) as info:
        open_image(encode(gradient(16, 16), "GIF"), max_pixels=10_000)
    assert info.value.code == "invalid_image"
    assert "PNG" in str(info.value)


@pytest.mark.parametrize("side", [7_000, 20_000, 65_535])
def test_open_image_rejects_oversized_header_before_decoding(side: int) -> None:
    # The file has almost no pixel data: decoding it would fail as invalid_image, so
    # image_too_large proves the size is checked from the header alone.
    with pytest.raises(InputError) as info:
        open_image(png_header(side, side), max_pixels=40_000_000)
    assert info.value.code == "image_too_large"


def test_open_image_header_within_limit_is_decoded_and_found_truncated() -> None:
    with pytest.raises(InputError) as info:
        open_image(png_header(100, 100), max_pixels=40_000_000)
    assert info.value.code == "invalid_image"


def test_open_image_honours_max_pixels() -> None:
    data = encode(gradient(100, 100), "PNG")
    assert open_image(data, max_pixels=10_000).size == (100, 100)
    with pytest.raises(InputError) as info:
        open_image(data, max_pixels=9_999)
    assert info.value.code == "image_too_large"


@pytest.mark.parametrize("size", [(640, 480), (300, 900), (224, 224), (10, 7)])
def test_center_crop_is_224_square(size: tuple[int, int]) -> None:
    crop = center_crop(gradient(*size))
    assert crop.shape == (CROP_SIZE, CROP_SIZE, 3)
    assert crop.dtype == np.uint8


def test_center_crop_keeps_the_middle() -> None:
    pixels = np.zeros((256, 512, 3), dtype=np.uint8)
    pixels[:, :, 0] = 255  # red sides
    pixels[:, 128:384] = (0, 0, 255)  # blue middle, wider than the 224 crop
    crop = center_crop(Image.fromarray(pixels))
    assert (crop == (0, 0, 255)).all()


def test_normalize_scales_to_minus_one_one_in_chw_order() -> None:
    crop = np.zeros((CROP_SIZE, CROP_SIZE, 3), dtype=np.uint8)
    crop[..., 0] = 255
    out = normalize(crop)
    assert out.shape == (3, CROP_SIZE, CROP_SIZE)
    assert out.dtype == np.float32
    assert out.flags["C_CONTIGUOUS"]
    np.testing.assert_allclose(out[0], 1.0)
    np.testing.assert_allclose(out[1:], -127.0 / 128.0)


def test_softmax_is_stable_and_sums_to_one() -> None:
    probs = softmax(np.array([[1000.0, 1000.0, -1000.0], [0.0, 1.0, 2.0]]))
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)
    np.testing.assert_allclose(probs[0], [0.5, 0.5, 0.0], atol=1e-12)
    assert probs[1, 2] > probs[1, 1] > probs[1, 0]


def test_imagenet_labels_are_the_1000_classes_in_order() -> None:
    labels = imagenet_labels()
    assert len(labels) == 1000
    assert labels[0] == "tench"
    assert labels[281] == "tabby"
    assert labels[967] == "espresso"


def test_verify_sha256_accepts_match_and_rejects_mismatch(tmp_path: Path) -> None:
    model = tmp_path / "model.onnx"
    model.write_bytes(b"model bytes")
    record = tmp_path / "model.onnx.sha256"
    record.write_text(f"{hashlib.sha256(b'model bytes').hexdigest()}  model.onnx\n")
    verify_sha256(model)
    record.write_text(f"{hashlib.sha256(b'other bytes').hexdigest()}  model.onnx\n")
    with pytest.raises(ModelLoadError, match="sha256"):
        verify_sha256(model)


def test_verify_sha256_requires_the_record(tmp_path: Path) -> None:
    model = tmp_path / "model.onnx"
    model.write_bytes(b"model bytes")
    with pytest.raises(ModelLoadError, match="missing"):
        verify_sha256(model)


@pytest.mark.parametrize(
    ("size", "kernel", "stride", "expected"),
    [(224, 3, 2, (0, 1)), (112, 5, 2, (1, 2)), (225, 3, 2, (1, 1)), (56, 3, 1, (1, 1))],
)
def test_export_uses_tensorflow_same_padding(
    size: int, kernel: int, stride: int, expected: tuple[int, int]
) -> None:
    assert same_padding(size, kernel, stride) == expected


def test_export_without_torch_fails_clearly(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)  # makes `import torch` raise ImportError
    with pytest.raises(ExportError, match="needs torch"):
        export(tmp_path / "out")
    assert not (tmp_path / "out").exists()
