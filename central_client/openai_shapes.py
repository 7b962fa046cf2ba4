"""OpenAI request shapes: chat messages with image content parts, and multipart bodies."""

import uuid
from typing import Any

from central_client.media import OPENAI_IMAGE_TYPES, data_url_type, image_data_url
from common.errors import NotSupported


def _parts(item: dict[str, Any]) -> list[dict[str, Any]]:
    """The image of an input as a content part, its type sniffed from the bytes."""
    if item.get("image") is not None:
        url, mime = image_data_url(str(item["image"]))
    elif item.get("image_url") is not None:
        url = str(item["image_url"])
        mime = data_url_type(url) or ""
    else:
        return []
    if mime and mime not in OPENAI_IMAGE_TYPES:
        raise NotSupported(
            f"the provider takes images as {sorted(OPENAI_IMAGE_TYPES)}, not {mime}",
            "unsupported_image_type",
        )
    return [{"type": "image_url", "image_url": {"url": url}}]


def chat_messages(item: dict[str, Any]) -> list[dict[str, Any]]:
    """The conversation, with the input's image added to the last user turn."""
    messages: list[dict[str, Any]] = [
        {"role": str(m.get("role", "user")), "content": m.get("content", "")}
        for m in item.get("messages") or []
        if isinstance(m, dict)
    ] or [{"role": "user", "content": item.get("text", "") or ""}]
    images = _parts(item)
    if images:
        last = next((m for m in reversed(messages) if m["role"] == "user"), None)
        if last is None:
            last = {"role": "user", "content": ""}
            messages.append(last)
        text = last["content"] if isinstance(last["content"], str) else ""
        last["content"] = [{"type": "text", "text": text or "Describe this image."}, *images]
    return messages


def multipart(fields: dict[str, str], file: tuple[str, str, bytes]) -> tuple[bytes, str]:
    """A multipart/form-data body: text fields and one file; (body, content type)."""
    boundary = f"hr-{uuid.uuid4().hex}"
    out = bytearray()
    for name, value in fields.items():
        out += f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
        out += value.encode() + b"\r\n"
    filename, mime, data = file
    out += (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
        f'filename="{filename}"\r\nContent-Type: {mime}\r\n\r\n'
    ).encode()
    out += data + f"\r\n--{boundary}--\r\n".encode()
    return bytes(out), f"multipart/form-data; boundary={boundary}"
