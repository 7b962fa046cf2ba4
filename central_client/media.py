"""Media types taken from the bytes themselves (never assumed), and base64 payloads of inputs."""

import base64
import binascii

from common.errors import BadRequest

IMAGE_SIGNATURES: tuple[tuple[bytes, int, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", 0, "image/png"),
    (b"\xff\xd8\xff", 0, "image/jpeg"),
    (b"GIF87a", 0, "image/gif"),
    (b"GIF89a", 0, "image/gif"),
    (b"BM", 0, "image/bmp"),
    (b"II*\x00", 0, "image/tiff"),
    (b"MM\x00*", 0, "image/tiff"),
)
AUDIO_SIGNATURES: tuple[tuple[bytes, int, str], ...] = (
    (b"fLaC", 0, "audio/flac"),
    (b"OggS", 0, "audio/ogg"),
    (b"ID3", 0, "audio/mpeg"),
    (b"\x1a\x45\xdf\xa3", 0, "audio/webm"),
)
# What OpenAI-compatible chat models take as image parts.
OPENAI_IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
# What /v1/audio/transcriptions takes.
OPENAI_AUDIO_TYPES = frozenset(
    {"audio/wav", "audio/mpeg", "audio/flac", "audio/ogg", "audio/webm", "audio/mp4"}
)
AUDIO_EXTENSIONS = {
    "audio/wav": "wav",
    "audio/mpeg": "mp3",
    "audio/flac": "flac",
    "audio/ogg": "ogg",
    "audio/webm": "webm",
    "audio/mp4": "m4a",
}


def _riff(data: bytes, kind: bytes) -> bool:
    return len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == kind


def image_type(data: bytes) -> str | None:
    """The image's MIME type from its magic bytes, or None when it is no image we know."""
    if _riff(data, b"WEBP"):
        return "image/webp"
    if len(data) >= 12 and data[4:8] == b"ftyp" and data[8:12] in (b"heic", b"heix", b"avif"):
        return "image/avif" if data[8:12] == b"avif" else "image/heic"
    for magic, offset, mime in IMAGE_SIGNATURES:
        if data[offset : offset + len(magic)] == magic:
            return mime
    return None


def audio_type(data: bytes) -> str | None:
    """The audio's MIME type from its magic bytes, or None when it is no audio we know."""
    if _riff(data, b"WAVE"):
        return "audio/wav"
    if len(data) >= 12 and data[4:8] == b"ftyp" and data[8:11] in (b"M4A", b"mp4", b"iso"):
        return "audio/mp4"
    if len(data) >= 2 and data[0] == 0xFF and data[1] & 0xE0 == 0xE0:
        return "audio/mpeg"
    for magic, offset, mime in AUDIO_SIGNATURES:
        if data[offset : offset + len(magic)] == magic:
            return mime
    return None


def decode_b64(value: str, field: str) -> bytes:
    """Base64 of an input field, or a 400 naming the field."""
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise BadRequest(f"`{field}` is not valid base64", "invalid_base64") from None


def image_data_url(value: str) -> tuple[str, str]:
    """A `data:` URL for base64 image bytes, with its sniffed type: (url, mime)."""
    data = decode_b64(value, "image")
    mime = image_type(data)
    if mime is None:
        raise BadRequest("`image` is not an image type we recognise", "unknown_image_type")
    return f"data:{mime};base64,{value}", mime


def data_url_type(url: str) -> str | None:
    """The type a `data:` URL declares, sniffed from its bytes; None for other URLs."""
    if not url.startswith("data:"):
        return None
    header, _, payload = url.partition(",")
    if ";base64" not in header:
        raise BadRequest("`image_url` data URLs must be base64", "invalid_data_url")
    mime = image_type(decode_b64(payload, "image_url"))
    if mime is None:
        raise BadRequest("`image_url` holds no image type we recognise", "unknown_image_type")
    return mime
