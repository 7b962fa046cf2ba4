"""Provider adapters: how a central call is spelled on the wire, behind one small interface."""

import json
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from common.errors import BadUpstream


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


@dataclass(frozen=True)
class CentralAnswer:
    """Outputs (one per input; a failed batch item holds `error`), model and token usage."""

    outputs: list[dict[str, Any]]
    model: str
    usage: dict[str, int]


class Adapter(Protocol):
    """Builds the HTTP request for a call and parses the answer."""

    tasks: ClassVar[frozenset[str]]  # what the protocol can carry, until the upstream says

    def request(self, call: CentralCall, model: str) -> tuple[str, dict[str, Any]]:
        """Path and JSON body."""

    def parse(self, body: Any, call: CentralCall) -> CentralAnswer:
        """The answer from the upstream's JSON (BadUpstream on a wrong shape)."""


def _usage(body: dict[str, Any]) -> dict[str, int]:
    usage = body.get("usage") or {}
    if not isinstance(usage, dict):
        return {}
    return {k: int(v) for k, v in usage.items() if isinstance(v, int | float)}


class V3Adapter:
    """The project's own `/v3/models/{model}/generate` protocol."""

    tasks: ClassVar[frozenset[str]] = frozenset({"generate", "embed", "classify"})

    def request(self, call: CentralCall, model: str) -> tuple[str, dict[str, Any]]:
        """One input or a batch list, with the parameters the central understands."""
        inputs: Any = list(call.inputs) if len(call.inputs) > 1 else call.inputs[0]
        return f"/v3/models/{model}/generate", {"inputs": inputs, "parameters": call.params()}

    def parse(self, body: Any, call: CentralCall) -> CentralAnswer:
        """Check the shape: a dict with one output per input."""
        if not isinstance(body, dict) or not isinstance(body.get("outputs"), list):
            raise BadUpstream("central answer has no `outputs` list", "bad_upstream_shape")
        outputs = body["outputs"]
        if len(outputs) != len(call.inputs) or not all(isinstance(o, dict) for o in outputs):
            raise BadUpstream(
                "central answered a different number of outputs", "bad_upstream_shape"
            )
        return CentralAnswer(outputs, str(body.get("model", "")), _usage(body))


class OpenAIAdapter:
    """Any OpenAI-compatible upstream: chat completions and embeddings."""

    tasks: ClassVar[frozenset[str]] = frozenset({"generate", "embed"})

    def request(self, call: CentralCall, model: str) -> tuple[str, dict[str, Any]]:
        """`/v1/embeddings` for embed, `/v1/chat/completions` for generate."""
        params = call.params()
        if call.task == "embed":
            texts = [i.get("text", "") for i in call.inputs]
            return "/v1/embeddings", {"model": model, "input": texts}
        if call.task != "generate" or len(call.inputs) != 1:
            raise BadUpstream(
                f"the OpenAI adapter cannot run task {call.task!r} in batches",
                "adapter_unsupported",
            )
        item = call.inputs[0]
        messages = item.get("messages") or [{"role": "user", "content": item.get("text", "")}]
        return "/v1/chat/completions", {
            "model": model,
            "messages": messages,
            "max_tokens": params.get("max_tokens", 128),
            "temperature": params.get("temperature", 0.7),
            "top_p": params.get("top_p", 1.0),
        }

    def parse(self, body: Any, call: CentralCall) -> CentralAnswer:
        """Map choices or embedding rows back to `/v3` outputs."""
        if not isinstance(body, dict):
            raise BadUpstream("upstream answer is not an object", "bad_upstream_shape")
        try:
            if call.task == "embed":
                rows = sorted(body["data"], key=lambda r: int(r["index"]))
                outputs = [{"embedding": [float(x) for x in r["embedding"]]} for r in rows]
            else:
                choice = body["choices"][0]
                outputs = [
                    {
                        "text": str(choice["message"]["content"]),
                        "finish_reason": choice.get("finish_reason"),
                    }
                ]
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            raise BadUpstream(
                "upstream answer has an unexpected shape", "bad_upstream_shape"
            ) from exc
        return CentralAnswer(outputs, str(body.get("model", "")), _usage(body))


ADAPTERS: dict[str, type[Adapter]] = {"v3": V3Adapter, "openai": OpenAIAdapter}
