"""The OpenAI `/v1/audio/transcriptions` multipart form, read within limits (edge and central)."""

from dataclasses import dataclass
from typing import Any, Literal, cast

from aiohttp import BodyPartReader, hdrs, web

from common.content_encoding import encodings
from common.errors import BadRequest, PayloadTooLarge, UnsupportedMedia

ResponseFormat = Literal["json", "text", "verbose_json"]
RESPONSE_FORMATS: tuple[str, ...] = ("json", "text", "verbose_json")
MAX_FIELD_BYTES = 4096  # any text field (model, language, prompt, ...)
KNOWN_FIELDS = frozenset({"model", "language", "response_format", "prompt", "temperature"})


@dataclass(frozen=True)
class TranscriptionForm:
    """What a transcription request asks for."""

    audio: bytes
    filename: str
    model: str
    language: str | None = None
    response_format: ResponseFormat = "json"
    prompt: str | None = None
    temperature: float = 0.0


async def _read_part(part: BodyPartReader, limit: int, what: str) -> bytes:
    """A part's bytes, or 413 once it passes `limit`."""
    data = bytearray()
    while chunk := await part.read_chunk(64 * 1024):
        data += chunk
        if len(data) > limit:
            raise PayloadTooLarge(f"`{what}` is over {limit} bytes", "body_too_large")
    return bytes(data)


def _text(raw: bytes, name: str) -> str:
    try:
        return raw.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise BadRequest(f"form field `{name}` is not UTF-8 text", "invalid_form") from None


def _temperature(value: str) -> float:
    try:
        temperature = float(value)
    except ValueError:
        raise BadRequest("`temperature` must be a number", "invalid_form") from None
    if not 0.0 <= temperature <= 1.0:
        raise BadRequest("`temperature` must be in [0, 1]", "invalid_form")
    return temperature


async def read_transcription_form(request: web.Request, max_audio_bytes: int) -> TranscriptionForm:
    """Parse the form: `file` (required), `model`, `language`, `response_format`, `prompt`."""
    if request.content_type != "multipart/form-data":
        raise UnsupportedMedia(
            "send the audio as multipart/form-data with a `file` field", "expected_multipart"
        )
    if encodings(request.headers.get(hdrs.CONTENT_ENCODING, "")):
        raise UnsupportedMedia(
            "send the form without Content-Encoding (the audio file is compressed already)",
            "unsupported_content_encoding",
        )
    try:
        reader = await request.multipart()
    except (ValueError, AssertionError) as exc:
        raise BadRequest(f"malformed multipart body: {exc}", "invalid_form") from None
    fields: dict[str, str] = {}
    audio: bytes | None = None
    filename = "audio"
    while True:
        try:
            part = await reader.next()
        except ValueError as exc:
            raise BadRequest(f"malformed multipart body: {exc}", "invalid_form") from None
        if part is None:
            break
        if not isinstance(part, BodyPartReader):
            raise BadRequest("nested multipart bodies are not supported", "invalid_form")
        if part.name == "file":
            audio = await _read_part(part, max_audio_bytes, "file")
            filename = part.filename or filename
        elif part.name in KNOWN_FIELDS:
            fields[part.name] = _text(await _read_part(part, MAX_FIELD_BYTES, part.name), part.name)
        else:  # e.g. timestamp_granularities[]: read and ignore, within the same small limit
            await _read_part(part, MAX_FIELD_BYTES, part.name or "field")
    if not audio:
        raise BadRequest("the form needs a non-empty `file` field with the audio", "missing_file")
    response_format = fields.get("response_format") or "json"
    if response_format not in RESPONSE_FORMATS:
        raise BadRequest(
            f"response_format {response_format!r} is not supported; use one of {RESPONSE_FORMATS}",
            "unsupported_response_format",
        )
    return TranscriptionForm(
        audio=audio,
        filename=filename,
        model=fields.get("model") or "whisper-1",
        language=fields.get("language") or None,
        response_format=cast(ResponseFormat, response_format),
        prompt=fields.get("prompt") or None,
        temperature=_temperature(fields["temperature"]) if fields.get("temperature") else 0.0,
    )


def transcription_response(
    form: TranscriptionForm, output: dict[str, Any], segments: list[dict[str, Any]] | None = None
) -> web.Response:
    """The answer in the asked format: `{"text"}`, plain text, or verbose JSON."""
    text = str(output.get("text", ""))
    if form.response_format == "text":
        return web.Response(text=text, content_type="text/plain")
    if form.response_format == "json":
        return web.json_response({"text": text})
    body: dict[str, Any] = {
        "task": "transcribe",
        "language": output.get("language"),
        "duration": output.get("duration_s"),
        "text": text,
        "segments": segments or [],
    }
    extras = {k: v for k, v in output.items() if k.startswith("audio_")}
    return web.json_response({**body, **extras})
