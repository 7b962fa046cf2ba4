"""The contract every edge model implements: validate one item, then run a batch in a thread."""

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar


@dataclass(frozen=True)
class EdgeInput:
    """One item for an edge model; binary fields are already base64-decoded by the router."""

    text: str | None = None
    image: bytes | None = None
    audio: bytes | None = None
    labels: tuple[str, ...] = ()
    label_set: str | None = None
    top_k: int = 5


@dataclass(frozen=True)
class ModelSpec:
    """Static facts about an edge model, as shown by `/v1/models` and used by the policy."""

    name: str
    task: str
    modality: str
    description: str
    max_batch_size: int = 32


class EdgeModel(ABC):
    """An ONNX-backed model; subclasses only pre- and post-process.

    Both methods run in the inference thread pool, never on the event loop. The batcher
    calls `prepare` per item, so a bad item fails alone, then `run_batch` on the good ones.
    """

    spec: ClassVar[ModelSpec]

    @abstractmethod
    def prepare(self, item: EdgeInput) -> Any:
        """Validate and pre-process one request item; raise InputError on bad input."""

    @abstractmethod
    def run_batch(self, prepared: list[Any]) -> list[dict[str, Any]]:
        """Run the model on prepared items and return one output dict per item, in order."""

    @abstractmethod
    def warm_up(self) -> None:
        """Run the model once on a representative input so the first request is not slow."""
