"""The edge models this node serves, loaded and warmed at startup."""

from collections.abc import Iterable
from dataclasses import field
from typing import Annotated, Any, Literal

from pydantic import Field
from pydantic.dataclasses import dataclass as config_dataclass

from common.settings_base import STRICT
from edge_models.base import EdgeModel, ModelSpec
from edge_models.batcher import BatchPolicy
from edge_models.image import load_image_classifier
from edge_models.label_sets import LabelSetSource, resolve_label_sets
from edge_models.minilm_assets import choose_text_model
from edge_models.sessions import SessionOptions
from edge_models.speech import load_speech_detector
from edge_models.text import ZERO_SHOT_SCALE, Embedder, TextEncoder, ZeroShotClassifier


@config_dataclass(frozen=True, config=STRICT)
class EdgeModelsConfig(SessionOptions, BatchPolicy):
    """The `models` section: ORT session options and micro-batching (inherited), what to load."""

    tasks: frozenset[str] = frozenset({"embed", "classify", "classify_image", "detect_speech"})
    text_precision: Literal["auto", "int8", "fp32"] = "auto"  # auto: the MiniLM build's choice
    inference_threads: Annotated[int, Field(ge=1)] = 2
    # how far below the event loop a model's batches run while it sheds (see runtime)
    inference_nice: Annotated[int, Field(ge=0, le=19)] = 10
    classify_scale: Annotated[float, Field(gt=0)] = ZERO_SHOT_SCALE  # zero-shot softmax scale
    # name → labels (zero-shot), or a file: examples fitted at startup, or a head (.npz)
    label_sets: dict[str, LabelSetSource] = field(default_factory=dict)
    max_image_pixels: Annotated[int, Field(ge=1)] = 40_000_000
    max_audio_seconds: Annotated[float, Field(gt=0)] = 600.0


class UnknownModel(LookupError):
    """No edge model has this name or serves this task."""


class EdgeRegistry:
    """Loaded edge models, found by name or by task."""

    def __init__(self, models: Iterable[EdgeModel], info: dict[str, Any] | None = None) -> None:
        self._by_name = {m.spec.name: m for m in models}
        self._by_task = {m.spec.task: m for m in self._by_name.values()}
        self.info: dict[str, Any] = info or {}  # which files serve, for /readyz

    def specs(self) -> list[ModelSpec]:
        """Specs of every loaded model."""
        return [m.spec for m in self._by_name.values()]

    def by_name(self, name: str) -> EdgeModel:
        """The model called `name`."""
        try:
            return self._by_name[name]
        except KeyError:
            raise UnknownModel(
                f"unknown edge model {name!r}; available: {sorted(self._by_name)}"
            ) from None

    def for_task(self, task: str) -> EdgeModel:
        """The model that serves `task`."""
        try:
            return self._by_task[task]
        except KeyError:
            raise UnknownModel(
                f"no edge model for task {task!r}; edge tasks: {sorted(self._by_task)}"
            ) from None

    def models(self) -> list[EdgeModel]:
        """Every loaded model."""
        return list(self._by_name.values())


def load_models(config: EdgeModelsConfig) -> EdgeRegistry:
    """Build every configured model's session and warm it up (blocking; call in a thread)."""
    models: list[EdgeModel] = []
    info: dict[str, Any] = {}
    if {"embed", "classify"} & config.tasks:
        choice = choose_text_model(config.text_precision)
        info["text_model"] = choice.describe()
        encoder = TextEncoder.load(config, choice.path)
        if "embed" in config.tasks:
            models.append(Embedder(encoder))
        if "classify" in config.tasks:
            label_sets = resolve_label_sets(config.label_sets, encoder, choice.sha256)
            models.append(ZeroShotClassifier(encoder, label_sets, scale=config.classify_scale))
    if "classify_image" in config.tasks:
        models.append(load_image_classifier(config, max_pixels=config.max_image_pixels))
    if "detect_speech" in config.tasks:
        models.append(load_speech_detector(config, max_audio_seconds=config.max_audio_seconds))
    for model in models:
        model.warm_up()
    return EdgeRegistry(models, info)
