"""What a call to the central is, what it needs of a provider, and the adapter interface.

An adapter spells calls in one protocol: `request` (path, body), `parse` (the answer's bytes
to `/v3` outputs) and `event` (one streamed `data:` payload to our stream events). It never
does I/O; the layers in `provider.py` send what it builds.
"""

import json
import math
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

import orjson

from common.errors import BadRequest, BadUpstream, NotSupported

IDEMPOTENT_TASKS = frozenset({"embed", "classify", "transcribe", "classify_image"})


@dataclass(frozen=True)
class CentralCall:
    """One call to the central: a task, `/v3` inputs, parameters, and a deadline."""

    task: str
    inputs: tuple[dict[str, Any], ...]
    parameters: tuple[tuple[str, Any], ...]
    request_id: str
    deadline: float | None = None

    def params(self) -> dict[str, Any]:
        """Parameters as a dict."""
        return dict(self.parameters)

    def batch_key(self) -> str:
        """Calls with equal keys may share one batch request."""
        return json.dumps([self.task, self.parameters], sort_keys=True, default=str)

    def idempotent(self) -> bool:
        """True when asking twice gives the same answer (safe to hedge)."""
        if self.task in IDEMPOTENT_TASKS:
            return True
        params = self.params()
        return (
            self.task == "generate"
            and params.get("temperature") == 0
            and not any(i.get("modality") == "image" for i in self.inputs)
        )


@dataclass(frozen=True)
class CentralAnswer:
    """Outputs (one per input; a failed batch item holds `error`), model, usage, provider."""

    outputs: list[dict[str, Any]]
    model: str
    usage: dict[str, int]
    provider: str = ""


@dataclass(frozen=True)
class Capabilities:
    """What a provider can take: tasks and media."""

    tasks: frozenset[str]
    image_input: bool = False  # images in generate
    image_output: bool = False  # text → image
    audio_tasks: frozenset[str] = frozenset()  # tasks that take audio


@dataclass(frozen=True)
class Wire:
    """An HTTP body an adapter built: path (with query), bytes and content type."""

    path: str
    body: bytes
    content_type: str = "application/json"


def json_wire(path: str, body: dict[str, Any]) -> Wire:
    """A JSON body, refusing text that cannot be encoded (lone surrogates) as a 400."""
    if _has_non_finite(body):  # orjson would write NaN and Infinity as null
        raise BadRequest("the input holds a number JSON cannot carry", "invalid_number")
    try:
        return Wire(path, orjson.dumps(body))
    except orjson.JSONEncodeError as exc:
        if "surrogates" in str(exc):
            raise BadRequest(
                "the input holds text that is not valid Unicode", "invalid_unicode"
            ) from None
    # an integer past 64 bits: valid JSON that only the standard encoder writes
    return Wire(path, json.dumps(body, ensure_ascii=False).encode("utf-8"))


def _has_non_finite(value: object) -> bool:
    """Whether a float in nested dicts and lists is NaN or infinite (strings are not walked)."""
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, dict):
        return any(_has_non_finite(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(_has_non_finite(v) for v in value)
    return False


def needs(call: CentralCall) -> list[str]:
    """What a provider must take for this call, in words used by `missing`."""
    wanted: list[str] = [f"task {call.task}"]
    for item in call.inputs:
        if item.get("image") is not None or item.get("image_url") is not None:
            wanted.append(f"images with task {call.task}")
        if item.get("audio") is not None:
            wanted.append(f"audio with task {call.task}")
        if item.get("modality") == "image" and call.task == "generate":
            wanted.append("image generation")
    return list(dict.fromkeys(wanted))


def missing(call: CentralCall, caps: Capabilities) -> list[str]:
    """The needs of `call` that `caps` does not cover (empty when it can serve it)."""
    out = []
    for need in needs(call):
        gaps = (
            (need.startswith("task ") and call.task not in caps.tasks)
            or (need.startswith("images with") and not caps.image_input)
            or (need.startswith("images with") and call.task != "generate")
            or (need.startswith("audio with") and call.task not in caps.audio_tasks)
            or (need == "image generation" and not caps.image_output)
        )
        if gaps:
            out.append(need)
    return out


def unsupported(call: CentralCall, gaps: list[str]) -> NotSupported:
    """The 501 for a call no configured provider can take, naming what is missing."""
    what = "; ".join(gaps) or f"task {call.task}"
    return NotSupported(
        f"no configured central provider takes {what}; add a provider that does to "
        "central.providers",
        "provider_capability",
    )


class Adapter(Protocol):
    """Spells calls in one protocol, for one provider."""

    protocol: ClassVar[str]
    capabilities: Capabilities

    def auth_headers(self) -> dict[str, str]:
        """Credentials and extra headers for every request."""

    def auth_rejected(self) -> bool:
        """Credentials were refused: refresh them; True when one more try makes sense."""

    def carries_batch(self, call: CentralCall) -> bool:
        """True when several inputs of this call fit one request."""

    def request(self, call: CentralCall) -> Wire:
        """The request for a call."""

    def parse(self, body: bytes, call: CentralCall) -> CentralAnswer:
        """The answer from the body of a 200 (BadUpstream on garbage or a wrong shape)."""

    def stream_request(self, call: CentralCall) -> Wire:
        """The request for a streamed generate."""

    def event(self, data: Any) -> dict[str, Any] | None:
        """One streamed payload as `{"text"?, "finish_reason"?, "usage"?}`; None to skip."""

    def models_path(self) -> str:
        """Where the provider lists its models (warm-up)."""

    def learn(self, models: Any) -> None:
        """Update capabilities from the provider's model list."""


@dataclass
class AdapterBase:
    """Shared helpers of the adapters."""

    extra_headers: dict[str, str] = field(default_factory=dict)

    @staticmethod
    def load(body: bytes) -> Any:
        """JSON from an answer body, or BadUpstream."""
        try:
            return orjson.loads(body)  # fast; what it refuses (big ints, NaN) json decides
        except orjson.JSONDecodeError:
            pass
        try:
            return json.loads(body)
        except (UnicodeDecodeError, ValueError):
            raise BadUpstream("the provider answered invalid JSON", "upstream_garbage") from None


def usage_of(body: Any) -> dict[str, int]:
    """Token counts from an answer's `usage`, numbers only."""
    usage = body.get("usage") if isinstance(body, dict) else None
    if not isinstance(usage, dict):
        return {}
    return {
        k: int(v)
        for k, v in usage.items()
        if isinstance(v, int | float) and not isinstance(v, bool)
    }
