"""OpenAI-compatible providers (OpenAI, Azure OpenAI, vLLM, llama.cpp, LiteLLM, ...).

generate → /v1/chat/completions (text, images as content parts with their sniffed type,
tools/tool_choice/response_format passed through) or /v1/images/generations (modality image);
embed → /v1/embeddings (input arrays: the one batch this protocol carries);
transcribe → /v1/audio/transcriptions (multipart).
"""

import base64
from dataclasses import dataclass
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
from central_client.media import AUDIO_EXTENSIONS, OPENAI_AUDIO_TYPES, audio_type, decode_b64
from central_client.openai_shapes import chat_messages, multipart
from common.errors import BadRequest, BadUpstream, NotSupported

CHAT_PASSTHROUGH = ("tools", "tool_choice", "parallel_tool_calls", "seed", "stop", "user")


@dataclass(frozen=True)
class OpenAIModels:
    """The upstream's model per endpoint (Azure: deployment names)."""

    chat: str
    embedding: str
    transcription: str
    image: str


class OpenAIAdapter(AdapterBase):
    """The OpenAI REST shapes, Bearer API key."""

    protocol: ClassVar[str] = "openai"

    def __init__(
        self,
        models: OpenAIModels,
        api_key: str | None,
        extra_headers: dict[str, str] | None = None,
        capabilities: Capabilities | None = None,
    ) -> None:
        super().__init__(dict(extra_headers or {}))
        self.models = models
        self._api_key = api_key
        self.capabilities = capabilities or Capabilities(
            tasks=frozenset({"generate", "embed", "transcribe"}),
            image_input=True,
            image_output=True,
            audio_tasks=frozenset({"transcribe"}),
        )

    # --- per-protocol spelling ---------------------------------------------------------

    def auth_headers(self) -> dict[str, str]:
        """`Authorization: Bearer <api key>` when a key is configured."""
        headers = dict(self.extra_headers)
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        return headers

    def path(self, endpoint: str, model: str) -> str:
        """The URL path of an endpoint (`chat/completions`, `embeddings`, ...)."""
        return f"/v1/{endpoint}"

    def model_field(self, model: str) -> dict[str, str]:
        """The body's `model` field."""
        return {"model": model}

    def auth_rejected(self) -> bool:
        """A static key cannot be refreshed."""
        return False

    # --- requests ----------------------------------------------------------------------

    def carries_batch(self, call: CentralCall) -> bool:
        """Only embeddings take an input array."""
        return call.task == "embed"

    def request(self, call: CentralCall) -> Wire:
        """The endpoint for the call's task."""
        params = call.params()
        if call.task == "embed":
            texts = [str(i.get("text", "")) for i in call.inputs]
            body = {**self.model_field(self.models.embedding), "input": texts}
            return json_wire(self.path("embeddings", self.models.embedding), body)
        if len(call.inputs) != 1:
            raise BadUpstream("one input per OpenAI request", "adapter_batch")
        item = call.inputs[0]
        if call.task == "transcribe":
            return self._transcription(item, params)
        if call.task != "generate":
            raise NotSupported(f"the OpenAI protocol has no task {call.task!r}", "unsupported_task")
        if item.get("modality") == "image":
            fmt = "b64_json" if params.get("response_format") == "base64" else "url"
            body = {
                **self.model_field(self.models.image),
                "prompt": str(item.get("text", "")),
                "n": 1,
                "response_format": fmt,
            }
            return json_wire(self.path("images/generations", self.models.image), body)
        return json_wire(self.path("chat/completions", self.models.chat), self._chat(item, params))

    def _chat(self, item: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
        body: dict[str, Any] = {
            **self.model_field(self.models.chat),
            "messages": chat_messages(item),
            "max_tokens": params.get("max_tokens", 128),
            "temperature": params.get("temperature", 0.7),
            "top_p": params.get("top_p", 1.0),
        }
        if isinstance(params.get("response_format"), dict):
            body["response_format"] = params["response_format"]
        for name in CHAT_PASSTHROUGH:
            if params.get(name) is not None:
                body[name] = params[name]
        return body

    def _transcription(self, item: dict[str, Any], params: dict[str, Any]) -> Wire:
        if item.get("audio") is None:
            raise BadRequest("transcribe needs `audio`", "missing_audio")
        audio = decode_b64(str(item["audio"]), "audio")
        mime = audio_type(audio)
        if mime is None or mime not in OPENAI_AUDIO_TYPES:
            raise BadRequest(
                "`audio` is not an audio format we recognise (wav, mp3, flac, ogg, webm, m4a)",
                "unknown_audio_type",
            )
        fields = {**self.model_field(self.models.transcription), "response_format": "json"}
        if params.get("language"):
            fields["language"] = str(params["language"])
        body, content_type = multipart(fields, (f"audio.{AUDIO_EXTENSIONS[mime]}", mime, audio))
        return Wire(
            self.path("audio/transcriptions", self.models.transcription), body, content_type
        )

    def stream_request(self, call: CentralCall) -> Wire:
        """Chat with top-level `stream: true` and usage in the last chunk."""
        if call.task != "generate" or call.inputs[0].get("modality") == "image":
            raise BadRequest("only text generation streams", "stream_unsupported")
        body = {
            **self._chat(call.inputs[0], call.params()),
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        return json_wire(self.path("chat/completions", self.models.chat), body)

    # --- answers -----------------------------------------------------------------------

    def parse(self, body: bytes, call: CentralCall) -> CentralAnswer:
        """Choices, embedding rows, transcripts or images back as `/v3` outputs."""
        data = self.load(body)
        if not isinstance(data, dict):
            raise BadUpstream("provider answer is not an object", "bad_upstream_shape")
        try:
            outputs = self._outputs(data, call)
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            raise BadUpstream(
                "provider answer has an unexpected shape", "bad_upstream_shape"
            ) from exc
        return CentralAnswer(outputs, str(data.get("model", "")), usage_of(data))

    def _outputs(self, data: dict[str, Any], call: CentralCall) -> list[dict[str, Any]]:
        if call.task == "embed":
            rows = sorted(data["data"], key=lambda r: int(r["index"]))
            if len(rows) != len(call.inputs):
                raise ValueError("embedding count differs from input count")
            return [{"embedding": [float(x) for x in r["embedding"]]} for r in rows]
        if call.task == "transcribe":
            return [{"text": str(data["text"])}]
        if call.inputs[0].get("modality") == "image":
            item = data["data"][0]
            if item.get("b64_json"):
                base64.b64decode(item["b64_json"], validate=True)
                return [{"image_base64": str(item["b64_json"])}]
            return [{"image_url": str(item["url"])}]
        choice = data["choices"][0]
        message = choice["message"]
        content = message.get("content")
        output: dict[str, Any] = {
            "text": "" if content is None else str(content),
            "finish_reason": choice.get("finish_reason"),
        }
        if message.get("tool_calls"):
            output["tool_calls"] = list(message["tool_calls"])
        if content is None and not message.get("tool_calls"):
            raise ValueError("a choice with neither content nor tool calls")
        return [output]

    def event(self, data: Any) -> dict[str, Any] | None:
        """One chat chunk: `choices[0].delta.content`, `finish_reason`, a usage chunk."""
        if not isinstance(data, dict):
            raise BadUpstream("provider stream event is not an object", "bad_upstream_shape")
        if "error" in data:
            return {"error": data["error"]}
        choices = data.get("choices")
        if not isinstance(choices, list):
            raise BadUpstream("provider stream event has no `choices`", "bad_upstream_shape")
        event: dict[str, Any] = {}
        if choices:
            choice = choices[0]
            delta = choice.get("delta") if isinstance(choice, dict) else None
            if not isinstance(delta, dict):
                raise BadUpstream("provider stream choice has no `delta`", "bad_upstream_shape")
            content = delta.get("content")
            if content is not None and not isinstance(content, str):
                raise BadUpstream("provider stream delta content is not text", "bad_upstream_shape")
            event["text"] = content or ""
            if choice.get("finish_reason"):
                event["finish_reason"] = str(choice["finish_reason"])
        if isinstance(data.get("usage"), dict):
            event["usage"] = usage_of(data)
        return event or None

    def models_path(self) -> str:
        """OpenAI's model list (warms the pool)."""
        return "/v1/models"

    def learn(self, models: Any) -> None:
        """OpenAI model lists say nothing about tasks; keep what is configured."""


class AzureOpenAIAdapter(OpenAIAdapter):
    """Azure OpenAI: `api-key` header, deployment in the path, `api-version` query."""

    protocol: ClassVar[str] = "azure-openai"

    def __init__(
        self,
        models: OpenAIModels,
        api_key: str | None,
        api_version: str,
        extra_headers: dict[str, str] | None = None,
        capabilities: Capabilities | None = None,
    ) -> None:
        super().__init__(models, api_key, extra_headers, capabilities)
        self._api_version = api_version

    def auth_headers(self) -> dict[str, str]:
        """`api-key: <key>`."""
        headers = dict(self.extra_headers)
        if self._api_key:
            headers["api-key"] = self._api_key
        return headers

    def path(self, endpoint: str, model: str) -> str:
        """`/openai/deployments/{deployment}/{endpoint}?api-version=...`."""
        return f"/openai/deployments/{model}/{endpoint}?api-version={self._api_version}"

    def model_field(self, model: str) -> dict[str, str]:
        """The deployment in the path names the model."""
        return {}

    def models_path(self) -> str:
        """Azure's model list."""
        return f"/openai/models?api-version={self._api_version}"
