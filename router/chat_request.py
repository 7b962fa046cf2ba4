"""The chat request: OpenAI's `/v1/chat/completions` body (pydantic, at the boundary) and the
conversation as one `generate` input."""

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from common.errors import BadRequest
from common.schema import JsonBody
from router.job_builder import decode_base64
from router.jobs import JobInput

ROLES = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant"}


class ImageUrl(BaseModel):
    """An image part's URL: http(s) or a `data:` URL with base64 content."""

    model_config = ConfigDict(extra="ignore", strict=True)

    url: str = Field(min_length=1, max_length=20_000_000)
    detail: str | None = None


class ContentPart(BaseModel):
    """One part of a message's content: text or an image."""

    model_config = ConfigDict(extra="ignore", strict=True)

    type: Literal["text", "image_url"]
    text: str | None = Field(None, max_length=1_000_000)
    image_url: ImageUrl | None = None


class ChatTurn(BaseModel):
    """One message of the conversation."""

    model_config = ConfigDict(extra="ignore", strict=True)

    role: Literal["system", "developer", "user", "assistant"]
    content: str | list[ContentPart] | None = None
    name: str | None = None


class StreamOptions(BaseModel):
    """OpenAI's `stream_options`."""

    model_config = ConfigDict(extra="ignore", strict=True)

    include_usage: bool = False


class ChatCompletionRequest(JsonBody):
    """OpenAI's chat completion body (the fields this router honours; others are ignored)."""

    model_config = ConfigDict(extra="ignore", allow_inf_nan=False, strict=True)

    model: str = "auto"
    messages: list[ChatTurn] = Field(min_length=1, max_length=256)
    stream: bool = False
    stream_options: StreamOptions | None = None
    max_tokens: int | None = Field(None, ge=1, le=4096)
    max_completion_tokens: int | None = Field(None, ge=1, le=4096)
    temperature: float = Field(0.7, ge=0.0, le=2.0)
    top_p: float = Field(0.95, gt=0.0, le=1.0)
    n: int = Field(1, ge=1, le=1, description="only 1 is supported")
    stop: str | list[str] | None = Field(None, description="accepted and ignored")
    user: str | None = None
    tools: list[dict[str, Any]] | None = Field(None, max_length=128)
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    response_format: dict[str, Any] | None = None
    route: Literal["auto", "edge", "central"] = Field("auto", description="router extension")
    latency_budget_ms: float | None = Field(None, gt=0, le=600_000, description="router extension")

    def passthrough(self) -> dict[str, str]:
        """The OpenAI extras a plain text completion cannot honour, as canonical JSON."""
        extras: dict[str, Any] = {"tools": self.tools, "tool_choice": self.tool_choice}
        if self.response_format is not None and self.response_format.get("type") != "text":
            extras["chat_response_format"] = self.response_format
        return {k: json.dumps(v, sort_keys=True) for k, v in extras.items() if v is not None}


def split_content(turn: ChatTurn, index: int) -> tuple[str, list[str]]:
    """A message's text and its image URLs."""
    if turn.content is None or isinstance(turn.content, str):
        return turn.content or "", []
    texts: list[str] = []
    images: list[str] = []
    for part in turn.content:
        if part.type == "text":
            texts.append(part.text or "")
        elif part.image_url is None:
            raise BadRequest(f"messages[{index}]: image_url part without a url", "missing_image")
        else:
            images.append(part.image_url.url)
    return "\n".join(texts), images


def chat_input(body: ChatCompletionRequest, max_text_chars: int) -> JobInput:
    """The conversation as one generate input; an image part goes to image / image_url."""
    messages: list[tuple[str, str]] = []
    images: list[str] = []
    for index, turn in enumerate(body.messages):
        text, urls = split_content(turn, index)
        if urls and turn.role != "user":
            raise BadRequest(f"messages[{index}]: only user messages may hold images", "image_role")
        images.extend(urls)
        messages.append((ROLES[turn.role], text))
    if len(messages) >= 2 and messages[-1][0] == messages[-2][0] == "assistant":
        raise BadRequest(
            "the conversation may end with at most one assistant message (a prefill)",
            "trailing_assistant_messages",
        )
    if len(images) > 1:
        raise BadRequest("at most one image per conversation", "too_many_images")
    if sum(len(content) for _, content in messages) > max_text_chars:
        raise BadRequest(f"messages are over {max_text_chars} characters", "text_too_long")
    if not images:
        return JobInput(messages=tuple(messages))
    prompt = next((c for role, c in reversed(messages) if role == "user" and c), None)
    url = images[0]
    if url.startswith("data:"):
        return JobInput(text=prompt, image=decode_base64(url, "image", 0), messages=tuple(messages))
    if not url.startswith(("http://", "https://")):
        raise BadRequest("image_url must be http(s) or a data: URL", "invalid_image_url")
    return JobInput(text=prompt, image_url=url, messages=tuple(messages))
