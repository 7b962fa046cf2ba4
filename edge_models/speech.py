"""`detect_speech`: Silero VAD (ONNX) over 16 kHz audio → speech segments in seconds.

Every input is resampled to 16 kHz, even 8 kHz audio that Silero could take natively, so that
one batch runs at one rate and segment times mean the same thing for every input. The model
is recurrent; a batch runs its streams side by side, each row with its own state, 32 ms
(512 samples, plus 64 samples of context from the previous window) per `session.run`.
Segmentation follows `silero_vad.utils_vad.get_speech_timestamps` without its
`max_speech_duration_s` splitting (infinite there by default).
"""

import importlib.util
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import onnxruntime as ort

from edge_models.audio import decode_wav, encode_wav, resample
from edge_models.base import EdgeInput, EdgeModel, ModelSpec
from edge_models.errors import InputError, ModelLoadError
from edge_models.sessions import SessionOptions, create_session

SAMPLE_RATE = 16_000
WINDOW = 512  # samples per model step at 16 kHz
CONTEXT = 64  # samples of the previous window prepended to each step
STATE_SHAPE = (2, 128)  # per stream: state is (2, batch, 128)
BLOCK_STEPS = 256  # windows per block of audio copied into the batch (~8 s)
_INPUTS = frozenset({"input", "state", "sr"})


@dataclass(frozen=True)
class VadParams:
    """Segmentation thresholds, with `get_speech_timestamps`' defaults."""

    threshold: float = 0.5
    neg_threshold: float | None = None  # None: max(threshold - 0.15, 0.01)
    min_speech_duration_ms: int = 250
    min_silence_duration_ms: int = 100
    speech_pad_ms: int = 30

    @property
    def exit_threshold(self) -> float:
        """Probability below which speech ends."""
        if self.neg_threshold is not None:
            return self.neg_threshold
        return max(self.threshold - 0.15, 0.01)


@dataclass(frozen=True, eq=False)
class PreparedAudio:
    """Mono float32 audio at 16 kHz and the original duration."""

    samples: np.ndarray
    duration_s: float


def _block(streams: list[np.ndarray], start: int, width: int) -> np.ndarray:
    """Samples [start, start + width) of each stream, zero outside the stream."""
    block = np.zeros((len(streams), width), dtype=np.float32)
    for row, stream in enumerate(streams):
        lo, hi = max(start, 0), min(start + width, stream.size)
        if hi > lo:
            block[row, lo - start : hi - start] = stream[lo:hi]
    return block


def speech_segments(
    probs: np.ndarray, num_samples: int, params: VadParams, rate: int = SAMPLE_RATE
) -> list[tuple[int, int]]:
    """Per-window speech probabilities → padded (start, end) sample ranges of speech."""
    min_speech = rate * params.min_speech_duration_ms / 1000
    min_silence = rate * params.min_silence_duration_ms / 1000
    pad = rate * params.speech_pad_ms / 1000
    exit_threshold = params.exit_threshold
    raw: list[list[int]] = []
    start: int | None = None
    silence_from: int | None = None
    for index, prob in enumerate(probs.tolist()):
        sample = index * WINDOW
        if prob >= params.threshold:
            silence_from = None
            if start is None:
                start = sample
            continue
        if start is not None and prob < exit_threshold:
            if silence_from is None:
                silence_from = sample
            if sample - silence_from >= min_silence:
                if silence_from - start > min_speech:
                    raw.append([start, silence_from])
                start = silence_from = None
    if start is not None and num_samples - start > min_speech:
        raw.append([start, num_samples])
    for i, segment in enumerate(raw):
        if i == 0:
            segment[0] = int(max(0, segment[0] - pad))
        if i + 1 < len(raw):
            gap = raw[i + 1][0] - segment[1]
            if gap < 2 * pad:
                segment[1] += int(gap // 2)
                raw[i + 1][0] = int(max(0, raw[i + 1][0] - gap // 2))
            else:
                segment[1] = int(min(num_samples, segment[1] + pad))
                raw[i + 1][0] = int(max(0, raw[i + 1][0] - pad))
        else:
            segment[1] = int(min(num_samples, segment[1] + pad))
    return [(s, e) for s, e in raw]


@dataclass(frozen=True)
class SpeechCut:
    """Audio cut down to its speech: the bytes that leave the device, and what that saved."""

    wav: bytes  # 16-bit mono WAV of the speech spans joined by short gaps; b"" for no speech
    original_bytes: int
    duration_s: float
    speech_s: float
    spans: tuple[tuple[float, float], ...]

    @property
    def bytes_saved(self) -> int:
        """Original size minus what is sent (negative only for tiny low-rate 8-bit input)."""
        return self.original_bytes - len(self.wav)


def padded_spans(
    segments: Sequence[tuple[float, float]], duration_s: float, pad_s: float
) -> list[tuple[float, float]]:
    """Segments widened by `pad_s`, clipped to the audio, overlapping ones merged."""
    spans: list[tuple[float, float]] = []
    for start, end in sorted(segments):
        lo, hi = max(0.0, start - pad_s), min(duration_s, end + pad_s)
        if hi <= lo:
            continue
        if spans and lo <= spans[-1][1]:
            spans[-1] = (spans[-1][0], max(spans[-1][1], hi))
        else:
            spans.append((lo, hi))
    return spans


def cut_to_speech(
    data: bytes,
    segments: Sequence[tuple[float, float]],
    *,
    pad_s: float = 0.2,
    gap_s: float = 0.3,
    max_seconds: float = 600.0,
) -> SpeechCut:
    """Keep only the (padded) speech segments of a WAV, `gap_s` of silence between them.

    The result is 16-bit mono at min(original rate, 16 kHz): what a speech recogniser needs.
    """
    audio = decode_wav(data, max_seconds)
    rate = min(audio.sample_rate, SAMPLE_RATE)
    samples = resample(audio.samples, audio.sample_rate, rate)
    spans = padded_spans(segments, audio.duration_s, pad_s)
    if not spans:
        return SpeechCut(b"", len(data), audio.duration_s, 0.0, ())
    gap = np.zeros(round(gap_s * rate), dtype=np.float32)
    pieces: list[np.ndarray] = []
    for index, (start, end) in enumerate(spans):
        if index:
            pieces.append(gap)
        pieces.append(samples[round(start * rate) : round(end * rate)])
    speech_s = sum(end - start for start, end in spans)
    return SpeechCut(
        encode_wav(np.concatenate(pieces), rate),
        len(data),
        audio.duration_s,
        speech_s,
        tuple(spans),
    )


def silero_model_path() -> Path:
    """`silero_vad/data/silero_vad.onnx`, found without importing the package (it needs torch)."""
    spec = importlib.util.find_spec("silero_vad")
    if spec is None or not spec.submodule_search_locations:
        raise ModelLoadError(
            "package 'silero_vad' is not installed; run `pip install --no-deps silero-vad`"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "data" / "silero_vad.onnx"


class SpeechDetector(EdgeModel):
    """`detect_speech`: WAV audio → speech segments, by Silero VAD."""

    spec: ClassVar[ModelSpec] = ModelSpec(
        name="silero-vad",
        task="detect_speech",
        modality="audio",
        description="Silero VAD (ONNX): speech segments in WAV audio of any rate",
        max_batch_size=16,
    )

    def __init__(
        self,
        session: ort.InferenceSession,
        max_audio_seconds: float = 600.0,
        params: VadParams = VadParams(),
    ) -> None:
        names = {i.name for i in session.get_inputs()}
        if names != _INPUTS:
            raise ModelLoadError(
                f"not a Silero VAD v5+ model: inputs {sorted(names)}, expected {sorted(_INPUTS)}"
            )
        self._session = session
        self._max_audio_seconds = max_audio_seconds
        self._params = params

    def prepare(self, item: EdgeInput) -> PreparedAudio:
        """Decode the WAV bytes and resample them to 16 kHz."""
        if not item.audio:
            raise InputError(
                "detect_speech needs an `audio` input (base64 WAV)", code="missing_audio"
            )
        audio = decode_wav(item.audio, self._max_audio_seconds)
        samples = resample(audio.samples, audio.sample_rate, SAMPLE_RATE)
        return PreparedAudio(samples, audio.duration_s)

    def speech_probs(self, prepared: list[PreparedAudio]) -> list[np.ndarray]:
        """Speech probability per 512-sample window for each stream, run as one batch.

        Streams run longest first, so finished ones leave the batch at block boundaries.
        """
        order = sorted(range(len(prepared)), key=lambda i: -prepared[i].samples.size)
        streams = [prepared[i].samples for i in order]
        lengths = [-(-stream.size // WINDOW) for stream in streams]
        probs = [np.empty(n, dtype=np.float32) for n in lengths]
        state = np.zeros((STATE_SHAPE[0], len(streams), STATE_SHAPE[1]), dtype=np.float32)
        rate = np.array(SAMPLE_RATE, dtype=np.int64)
        for first in range(0, lengths[0], BLOCK_STEPS):
            active = sum(n > first for n in lengths)
            state = np.ascontiguousarray(state[:, :active])
            steps = min(BLOCK_STEPS, lengths[0] - first)
            audio = _block(streams[:active], first * WINDOW - CONTEXT, CONTEXT + steps * WINDOW)
            block = np.empty((active, steps), dtype=np.float32)
            for step in range(steps):
                window = audio[:, step * WINDOW : step * WINDOW + CONTEXT + WINDOW]
                out, state = self._session.run(
                    ["output", "stateN"], {"input": window, "state": state, "sr": rate}
                )
                block[:, step] = out[:, 0]
            for row in range(active):
                kept = min(steps, lengths[row] - first)
                probs[row][first : first + kept] = block[row, :kept]
        result: list[np.ndarray] = [np.empty(0, dtype=np.float32)] * len(prepared)
        for position, index in enumerate(order):
            result[index] = probs[position]
        return result

    def run_batch(self, prepared: list[PreparedAudio]) -> list[dict[str, Any]]:
        """Detect speech in each stream; segments in seconds, clipped to the duration."""
        outputs: list[dict[str, Any]] = []
        for item, probs in zip(prepared, self.speech_probs(prepared), strict=True):
            segments = speech_segments(probs, item.samples.size, self._params)
            outputs.append(
                {
                    "segments": [
                        {
                            "start_s": round(start / SAMPLE_RATE, 3),
                            "end_s": round(min(end / SAMPLE_RATE, item.duration_s), 3),
                        }
                        for start, end in segments
                    ],
                    "duration_s": round(item.duration_s, 3),
                }
            )
        return outputs

    def warm_up(self) -> None:
        """Run one second of silence."""
        self.run_batch([PreparedAudio(np.zeros(SAMPLE_RATE, dtype=np.float32), 1.0)])


def load_speech_detector(
    options: SessionOptions, max_audio_seconds: float = 600.0
) -> SpeechDetector:
    """Build the Silero VAD session from the installed `silero-vad` package's ONNX file."""
    return SpeechDetector(create_session(silero_model_path(), options), max_audio_seconds)
