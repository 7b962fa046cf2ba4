"""Central transcription: the Whisper's lifecycle, the `/v3` task, `/v1/audio/transcriptions`."""

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter

from central_client.media import decode_b64
from central_service.settings import CentralServiceSettings, TranscribeSettings
from central_service.transcribe import TranscribeOptions, Transcriber, Transcript
from common.audio_form import read_transcription_form, transcription_response
from common.errors import BadRequest, NotFound, NotSupported
from common.schema import InputItem

log = logging.getLogger(__name__)

TRANSCRIBER = web.AppKey("transcriber", Transcriber)
AUDIO_SECONDS = web.AppKey("audio_seconds", Counter)
SETTINGS_KEY = web.AppKey("transcribe_central_settings", CentralServiceSettings)
OPENAI_MODEL_ALIASES = frozenset({"whisper-1", "auto"})


def options_of(settings: TranscribeSettings) -> TranscribeOptions:
    """The loader's options from the `central_service.transcribe` settings."""
    return TranscribeOptions(
        model_path=settings.model_path,
        model_name=settings.model_name,
        compute_type=settings.compute_type,
        threads=settings.threads,
        beam_size=settings.beam_size,
        max_audio_seconds=settings.max_audio_seconds,
        max_pending=settings.max_pending,
    )


def transcriber_ctx(
    settings: TranscribeSettings,
) -> Callable[[web.Application], AsyncIterator[None]]:
    """A cleanup context that loads the Whisper on a thread before serving and frees it after."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        loop = asyncio.get_running_loop()
        transcriber = await loop.run_in_executor(None, Transcriber.load, options_of(settings))
        app[TRANSCRIBER] = transcriber
        log.info("transcription model %s loaded", settings.model_name)
        yield
        await loop.run_in_executor(None, transcriber.close)

    return ctx


def transcriber_of(app: web.Application) -> Transcriber:
    """The loaded Whisper, or 501 when transcription is switched off."""
    transcriber = app.get(TRANSCRIBER)
    if transcriber is None:
        raise NotSupported(
            "this central has transcription switched off (central_service.transcribe.enabled)",
            "transcribe_disabled",
        )
    return transcriber


def count(app: web.Application, transcript: Transcript) -> None:
    """Seconds of audio heard and seconds spent decoding it."""
    app[AUDIO_SECONDS].labels("audio").inc(transcript.duration_s)
    app[AUDIO_SECONDS].labels("decode").inc(transcript.elapsed_s)


async def transcribe_item(app: web.Application, item: InputItem) -> dict[str, Any]:
    """The `/v3` output of one `{"audio": base64 WAV, "task": "transcribe"}` input."""
    if not item.audio:
        raise BadRequest("transcribe needs `audio` (base64)", "missing_audio")
    transcript = await transcriber_of(app).transcribe(decode_b64(item.audio, "audio"))
    count(app, transcript)
    return transcript.output()


async def transcriptions(request: web.Request) -> web.Response:
    """`POST /v1/audio/transcriptions`: OpenAI's multipart form in, `json|text|verbose_json` out."""
    app = request.app
    settings = app[SETTINGS_KEY]
    transcriber = transcriber_of(app)
    form = await read_transcription_form(request, settings.max_body_bytes)
    known = OPENAI_MODEL_ALIASES | {transcriber.options.model_name, settings.model_name}
    if form.model not in known:
        raise NotFound(
            f"unknown transcription model {form.model!r}; available: {sorted(known)}",
            "unknown_model",
        )
    transcript = await transcriber.transcribe(form.audio, form.language)
    count(app, transcript)
    segments = [
        {"id": i, "start": s.start_s, "end": s.end_s, "text": s.text}
        for i, s in enumerate(transcript.segments)
    ]
    return transcription_response(form, transcript.output(), segments)


def register(
    app: web.Application, settings: CentralServiceSettings, registry: CollectorRegistry
) -> None:
    """Load the Whisper at startup (when enabled) and serve `/v1/audio/transcriptions`."""
    app[SETTINGS_KEY] = settings
    app[AUDIO_SECONDS] = Counter(
        "central_transcribe_seconds",
        "Seconds of audio transcribed (kind=audio) and spent decoding it (kind=decode)",
        ["kind"],
        registry=registry,
    )
    if settings.transcribe.enabled:
        app.cleanup_ctx.append(transcriber_ctx(settings.transcribe))
    app.router.add_post("/v1/audio/transcriptions", transcriptions)


def transcribe_tasks(app: web.Application) -> list[str]:
    """`["transcribe"]` while the Whisper is loaded, else nothing."""
    return ["transcribe"] if TRANSCRIBER in app else []
