"""Jobs: what a validated request asks for and what it produced, as plain frozen dataclasses."""

import json
from dataclasses import dataclass, field
from typing import Any

from edge_models.audio import wav_duration_s
from edge_models.base import EdgeInput
from edge_models.errors import InputError
from edge_models.image import image_pixels


@dataclass(frozen=True)
class JobInput:
    """One input with binary payloads decoded."""

    text: str | None = None
    image: bytes | None = None
    image_url: str | None = None
    audio: bytes | None = None
    modality: str | None = None
    messages: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class JobParams:
    """Parameters that change the answer or the route."""

    max_tokens: int = 128
    temperature: float = 0.7
    top_p: float = 0.95
    labels: tuple[str, ...] = ()
    label_set: str | None = None
    top_k: int = 5
    latency_budget_ms: float | None = None
    route: str = "auto"
    response_format: str = "url"
    cache: bool | None = None
    semantic_cache: bool = False
    stream: bool = False
    # OpenAI chat extras, as canonical JSON text (hashable); only a provider speaking the
    # openai protocol can honour them, so the chat codec refuses them otherwise.
    tools: str | None = None
    tool_choice: str | None = None
    chat_response_format: str | None = None

    def passthrough(self) -> dict[str, Any]:
        """The OpenAI extras that were given, decoded."""
        extras = {
            "tools": self.tools,
            "tool_choice": self.tool_choice,
            "chat_response_format": self.chat_response_format,
        }
        return {k: json.loads(v) for k, v in extras.items() if v is not None}


@dataclass(frozen=True)
class Job:
    """A request the pipeline can route and execute."""

    request_id: str
    model: str
    task: str
    inputs: tuple[JobInput, ...]
    params: JobParams
    tenant: str = "anonymous"
    pinned_edge_model: str | None = None
    deadline: float | None = None
    pii_kinds: frozenset[str] = frozenset()

    def edge_inputs(self) -> list[EdgeInput]:
        """Inputs in the shape edge models take."""
        return [
            EdgeInput(
                text=i.text,
                image=i.image,
                audio=i.audio,
                labels=self.params.labels,
                label_set=self.params.label_set,
                top_k=self.params.top_k,
            )
            for i in self.inputs
        ]

    def text_chars(self) -> int:
        """Total characters of text (and chat messages) across inputs."""
        return sum(len(i.text or "") + sum(len(c) for _, c in i.messages) for i in self.inputs)

    def max_image_pixels(self) -> int:
        """The largest image's pixel count, read from headers (0 without images)."""
        return max((image_pixels(i.image) or 0 for i in self.inputs if i.image), default=0)

    def max_audio_seconds(self) -> float:
        """The longest audio's duration, read from WAV headers (0 without audio)."""
        durations = []
        for item in self.inputs:
            if item.audio:
                try:
                    durations.append(wav_duration_s(item.audio))
                except InputError:
                    durations.append(0.0)
        return max(durations, default=0.0)

    def texts(self) -> list[str]:
        """Every text the job carries (inputs and chat messages)."""
        return [t for i in self.inputs for t in (i.text, *(c for _, c in i.messages)) if t]


@dataclass(frozen=True)
class Result:
    """A job's outputs and how they were produced."""

    outputs: list[dict[str, Any]]
    route: str
    reason: str
    model: str
    usage: dict[str, int] = field(default_factory=dict)
