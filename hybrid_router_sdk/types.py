"""What the SDK returns: frozen dataclasses, each keeping the raw JSON it came from."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class GenerateResponse:
    """A generated text or image and how the router produced it."""

    text: str | None
    image_url: str | None
    image_base64: str | None
    route: str
    route_reason: str
    model: str
    finish_reason: str | None = None
    usage: Mapping[str, int] = field(default_factory=dict)
    request_id: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class Label:
    """A label and its score."""

    label: str
    score: float


@dataclass(frozen=True)
class Segment:
    """A stretch of speech, in seconds from the start of the audio."""

    start_s: float
    end_s: float


@dataclass(frozen=True)
class Timeouts:
    """Total seconds for one attempt, and for connecting."""

    total_s: float = 60.0
    connect_s: float = 5.0
