"""Scenarios: a weighted mix of requests, a rate and a duration, read from YAML.

A scenario file (`benchmarks/scenarios/<name>.yaml`) lists request templates. In a body,
the string `$text` becomes one of the template's `texts` (chosen by the seeded RNG) and
`$image:<name>` becomes a base64 JPEG of a photo from scikit-image's data (a generated
image when scikit-image is missing; the run's notes say so); `$audio:<sentence>` becomes a
base64 WAV of espeak-ng speaking it between stretches of silence.
"""

import base64
import io
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import yaml
from PIL import Image
from pydantic import BaseModel, ConfigDict, Field

from benchmarks.loadgen import Request, RequestFactory
from benchmarks.speech_eval import padded_speech_wav

SCENARIO_DIR = Path(__file__).parent / "scenarios"
TEXT_TOKEN = "$text"
IMAGE_PREFIX = "$image:"
AUDIO_PREFIX = "$audio:"


class RequestTemplate(BaseModel):
    """One kind of request in the mix; `name` labels its stats (default: the task)."""

    model_config = ConfigDict(extra="forbid")

    task: str
    name: str | None = None
    weight: float = Field(1.0, gt=0)
    method: Literal["GET", "POST"] = "POST"
    path: str = "/v3/models/auto/generate"
    target: Literal["edge", "central"] = "edge"
    body: dict[str, Any] | None = None
    texts: list[str] = Field(default_factory=list)

    @property
    def label(self) -> str:
        """The name its stats go under."""
        return self.name or self.task


Upstream = Literal["central", "tiny", "fallback"]


class Scenario(BaseModel):
    """A named mix of requests with an offered rate and a duration."""

    model_config = ConfigDict(extra="forbid")

    name: str
    description: str = ""
    rate: float = Field(10.0, gt=0)
    duration_s: float = Field(10.0, gt=0)
    seed: int = 0
    upstreams: list[Literal["central", "tiny", "fallback"]] = Field(
        default_factory=lambda: ["central"]
    )
    upstream_rates: dict[str, float] = Field(default_factory=dict)
    requests: list[RequestTemplate] = Field(min_length=1)

    def for_upstream(self, upstream: str) -> "Scenario":
        """The scenario at the rate set for `upstream` (if one is)."""
        rate = self.upstream_rates.get(upstream, self.rate)
        return self.model_copy(update={"rate": rate})

    def tasks(self) -> list[str]:
        """The stats labels of its requests, in order, without repeats."""
        return list(dict.fromkeys(t.label for t in self.requests))

    def only(self, label: str) -> "Scenario":
        """The same scenario restricted to one label's requests."""
        kept = [t for t in self.requests if t.label == label]
        return self.model_copy(update={"name": f"{self.name}:{label}", "requests": kept})


def builtin_names() -> list[str]:
    """Names of the scenarios shipped in `benchmarks/scenarios/`."""
    return sorted(p.stem for p in SCENARIO_DIR.glob("*.yaml"))


def load_scenario(name_or_file: str) -> Scenario:
    """A built-in scenario by name, or a YAML file by path."""
    path = Path(name_or_file)
    if not path.is_file():
        path = SCENARIO_DIR / f"{name_or_file}.yaml"
    if not path.is_file():
        raise ValueError(
            f"unknown scenario {name_or_file!r}; built-in: {builtin_names()} (or a YAML file)"
        )
    return Scenario.model_validate(yaml.safe_load(path.read_text()))


def _synthetic_image() -> np.ndarray:
    """A smooth colour gradient with a disc, 300x450 RGB."""
    y, x = np.mgrid[0:300, 0:450]
    disc = ((x - 225) ** 2 + (y - 150) ** 2 < 80**2) * 120
    rgb = np.stack([x * 255 // 450, y * 255 // 300, 128 + disc], axis=-1)
    return np.clip(rgb, 0, 255).astype(np.uint8)


def photo(name: str, notes: list[str]) -> np.ndarray:
    """A scikit-image data photo (e.g. `chelsea`), or a generated image noted in `notes`."""
    try:
        from skimage import data  # test-only dependency
    except ImportError:
        notes.append(f"scikit-image not importable: $image:{name} is a generated gradient image")
        return _synthetic_image()
    loader: Callable[[], np.ndarray] | None = getattr(data, name, None)
    if loader is None:
        raise ValueError(f"skimage.data has no image {name!r}")
    image = loader()
    if image.ndim == 2:
        image = np.stack([image] * 3, axis=-1)
    return image[..., :3]


def jpeg_base64(image: np.ndarray, quality: int = 90) -> str:
    """The image as base64 JPEG."""
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=quality)
    return base64.b64encode(buffer.getvalue()).decode()


@dataclass(frozen=True)
class Materials:
    """Inputs resolved once per run: images by name, speech by sentence."""

    images: dict[str, str]
    audios: dict[str, str] = field(default_factory=dict)


def materials(scenario: Scenario, notes: list[str]) -> Materials:
    """Encode every image the scenario's bodies name."""
    names: set[str] = set()
    sentences: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, str) and value.startswith(IMAGE_PREFIX):
            names.add(value[len(IMAGE_PREFIX) :])
        elif isinstance(value, str) and value.startswith(AUDIO_PREFIX):
            sentences.add(value[len(AUDIO_PREFIX) :])
        elif isinstance(value, dict):
            for v in value.values():
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)

    for template in scenario.requests:
        walk(template.body)
    return Materials(
        {name: jpeg_base64(photo(name, notes)) for name in sorted(names)},
        {text: base64.b64encode(padded_speech_wav(text)).decode() for text in sorted(sentences)},
    )


def fill(value: Any, text: str | None, mats: Materials) -> Any:
    """The body with `$text` and `$image:<name>` replaced."""
    if isinstance(value, str):
        if value == TEXT_TOKEN:
            if text is None:
                raise ValueError("a body uses $text but its template has no `texts`")
            return text
        if value.startswith(IMAGE_PREFIX):
            return mats.images[value[len(IMAGE_PREFIX) :]]
        if value.startswith(AUDIO_PREFIX):
            return mats.audios[value[len(AUDIO_PREFIX) :]]
        return value
    if isinstance(value, dict):
        return {k: fill(v, text, mats) for k, v in value.items()}
    if isinstance(value, list):
        return [fill(v, text, mats) for v in value]
    return value


def request_factory(scenario: Scenario, mats: Materials) -> RequestFactory:
    """Request i of the mix: a seeded weighted choice of template, then of text."""
    rng = random.Random(scenario.seed)
    templates = scenario.requests
    weights = [t.weight for t in templates]

    def make(index: int) -> Request:
        template = rng.choices(templates, weights)[0]
        text = rng.choice(template.texts) if template.texts else None
        return Request(
            template.method,
            template.path,
            fill(template.body, text, mats),
            template.label,
            template.target,
        )

    return make
