"""Fuzz image decoding: only InputError may come out of `open_image`; `image_pixels` never raises.

Inputs are raw bytes, or small real PNG/JPEG/WebP/GIF files mutated by the fuzzer (byte
overwrites, inserts, deletes, truncation). Run:
`python tests/fuzz/fuzz_image.py -runs=100000` (or -max_total_time=60).
"""

import functools
import io
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the checkout importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from PIL import Image

from edge_models.errors import InputError
from edge_models.image import image_pixels, open_image
from tests.fuzz.provider import Draw, mutate, run

MAX_PIXELS = (1, 64 * 64, 4_000_000)


@functools.cache
def sample_images() -> tuple[bytes, ...]:
    """Small valid images in the formats the decoder accepts, and one it refuses."""
    gradient = Image.linear_gradient("L").resize((24, 16))
    rgba = Image.merge("RGBA", [gradient, gradient, gradient, gradient])
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate
    out = []
    for image, fmt, extra in (
        (gradient.convert("RGB"), "PNG", {}),
        (rgba, "PNG", {}),
        (gradient.convert("P"), "PNG", {"transparency": 0}),
        (gradient.convert("I;16"), "PNG", {}),
        (gradient.convert("RGB"), "JPEG", {"exif": exif.tobytes()}),
        (gradient.convert("CMYK"), "JPEG", {"progressive": True}),
        (rgba, "WEBP", {"lossless": True}),
        (gradient.convert("RGB"), "WEBP", {}),
        (gradient.convert("RGB"), "GIF", {}),
    ):
        buffer = io.BytesIO()
        image.save(buffer, format=fmt, **extra)
        out.append(buffer.getvalue())
    return tuple(out)


def TestOneInput(data: bytes) -> str:
    """Decode one image; the outcome."""
    draw = Draw(data)
    mode = draw.byte() % 3
    max_pixels = draw.pick(MAX_PIXELS)
    raw = draw.rest() if mode == 0 else mutate(draw.pick(sample_images()), draw, 12)
    pixels = image_pixels(raw)
    assert pixels is None or pixels >= 0
    try:
        image = open_image(raw, max_pixels)
    except InputError:
        return "rejected"
    assert image.mode == "RGB"
    assert image.width * image.height <= max_pixels
    return "decoded"


def seed_inputs() -> list[bytes]:
    """Each sample image, unmutated, in seed mode."""
    return [bytes([1, 2, 0, i, 0, 0, 0]) for i in range(len(sample_images()))]


if __name__ == "__main__":
    run(TestOneInput, seed_inputs())
