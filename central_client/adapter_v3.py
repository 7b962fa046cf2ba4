"""The project's own `/v3/models/{model}/generate` protocol, authenticated with minted JWTs."""

from typing import Any, ClassVar

from central_client.adapters import (
    AdapterBase,
    Capabilities,
    CentralAnswer,
    CentralCall,
    Wire,
    json_wire,
    usage_of,
)
from common.errors import BadUpstream
from common.tokens import TokenMinter

V3_DEFAULT = Capabilities(
    tasks=frozenset({"generate", "embed", "classify", "transcribe"}),
    image_input=True,  # the central answers 501 itself when it has no image provider
    image_output=True,
    audio_tasks=frozenset({"transcribe"}),
)


class V3Adapter(AdapterBase):
    """Any input list in one request; streams `data: {"text", "finish_reason", "usage"}`."""

    protocol: ClassVar[str] = "v3"

    def __init__(
        self,
        model: str,
        minter: TokenMinter,
        extra_headers: dict[str, str] | None = None,
        capabilities: Capabilities = V3_DEFAULT,
    ) -> None:
        super().__init__(dict(extra_headers or {}))
        self._model = model
        self._minter = minter
        self.capabilities = capabilities

    def auth_headers(self) -> dict[str, str]:
        """A fresh-enough JWT as the Bearer token."""
        return {**self.extra_headers, "Authorization": f"Bearer {self._minter.token()}"}

    def auth_rejected(self) -> bool:
        """Mint a new token next time; one more try is worth it."""
        self._minter.invalidate()
        return True

    def carries_batch(self, call: CentralCall) -> bool:
        """/v3 takes a list of inputs for every task."""
        return True

    def request(self, call: CentralCall) -> Wire:
        """One input, or a batch list, with the call's parameters."""
        inputs: Any = list(call.inputs) if len(call.inputs) > 1 else call.inputs[0]
        return json_wire(
            f"/v3/models/{self._model}/generate", {"inputs": inputs, "parameters": call.params()}
        )

    def stream_request(self, call: CentralCall) -> Wire:
        """The one input with `parameters.stream`."""
        return json_wire(
            f"/v3/models/{self._model}/generate",
            {"inputs": call.inputs[0], "parameters": {**call.params(), "stream": True}},
        )

    def parse(self, body: bytes, call: CentralCall) -> CentralAnswer:
        """A dict with one output object per input."""
        data = self.load(body)
        if not isinstance(data, dict) or not isinstance(data.get("outputs"), list):
            raise BadUpstream("central answer has no `outputs` list", "bad_upstream_shape")
        outputs = data["outputs"]
        if len(outputs) != len(call.inputs) or not all(isinstance(o, dict) for o in outputs):
            raise BadUpstream(
                "central answered a different number of outputs", "bad_upstream_shape"
            )
        return CentralAnswer(outputs, str(data.get("model", "")), usage_of(data))

    def event(self, data: Any) -> dict[str, Any] | None:
        """Our own event shape, checked."""
        if not isinstance(data, dict):
            raise BadUpstream("central stream event is not an object", "bad_upstream_shape")
        if "error" in data:
            return {"error": data["error"]}
        text = data.get("text", "")
        if not isinstance(text, str):
            raise BadUpstream("central stream event has no text", "bad_upstream_shape")
        event: dict[str, Any] = {"text": text}
        if data.get("finish_reason"):
            event["finish_reason"] = str(data["finish_reason"])
            event["usage"] = usage_of(data)
        return event

    def models_path(self) -> str:
        """The central lists models with their tasks."""
        return "/v1/models"

    def learn(self, models: Any) -> None:
        """Tasks and image flags the central advertises."""
        rows = models.get("data") if isinstance(models, dict) else None
        if not isinstance(rows, list):
            return
        rows = [r for r in rows if isinstance(r, dict)]
        tasks = frozenset(str(t) for r in rows for t in r.get("tasks", []) or [])
        if not tasks:
            return
        self.capabilities = Capabilities(
            tasks=tasks,
            image_input=any(r.get("image_input", True) for r in rows),
            image_output=any(r.get("image_output", True) for r in rows),
            audio_tasks=tasks & {"transcribe"},
        )
