"""The LLM engine's vocabulary: its errors, sampling parameters, text deltas and completions.

Errors:

    LlmError                 the engine could not answer
    ├── PromptTooLong        the prompt does not fit the context window (a client error)
    ├── EmbeddingsDisabled   embed() on an engine loaded with embeddings=False
    └── EngineClosed         the engine was closed
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

FinishReason = Literal["stop", "length"]


class LlmError(Exception):
    """The engine could not answer."""


class PromptTooLong(LlmError):
    """The prompt does not fit the context window."""


class EmbeddingsDisabled(LlmError):
    """The engine was loaded without embeddings."""


class EngineClosed(LlmError):
    """The engine was closed."""


@dataclass(frozen=True)
class GenerationParams:
    """Sampling settings of one generation; temperature 0 is greedy and deterministic."""

    max_tokens: int = 128
    temperature: float = 0.7
    top_p: float = 0.95
    stop: tuple[str, ...] = ()
    seed: int | None = None

    def __post_init__(self) -> None:
        if self.max_tokens < 1:
            raise ValueError(f"max_tokens must be >= 1, got {self.max_tokens}")
        if self.temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")


@dataclass(frozen=True)
class Usage:
    """Token counts of one generation."""

    prompt_tokens: int
    completion_tokens: int


@dataclass(frozen=True)
class TextDelta:
    """A piece of generated text; the stream's last delta has empty text, reason and usage."""

    text: str
    finish_reason: FinishReason | None = None
    usage: Usage | None = None


@dataclass(frozen=True)
class Completion:
    """A finished generation."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: FinishReason
