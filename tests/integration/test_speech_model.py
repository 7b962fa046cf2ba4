"""Silero VAD on real speech rendered by espeak-ng, at several rates and layouts."""

import ast
import itertools
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from edge_models.base import EdgeInput
from edge_models.errors import InputError, ModelLoadError
from edge_models.sessions import SessionOptions, create_session
from edge_models.speech import (
    BLOCK_STEPS,
    SAMPLE_RATE,
    WINDOW,
    SpeechDetector,
    VadParams,
    load_speech_detector,
    silero_model_path,
    speech_segments,
)
from tests.speech_fixtures import ESPEAK_RATE, change_rate, render_speech, wav_bytes

LEAD_S = 1.0


@pytest.fixture(scope="module")
def detector() -> SpeechDetector:
    return load_speech_detector(SessionOptions())


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    """One spoken sentence at espeak's 22.05 kHz, starting within its first 20 ms."""
    return render_speech()


def _speech_extent(samples: np.ndarray, rate: int) -> tuple[float, float]:
    """First and last 10 ms frame whose RMS is above 1% of the loudest frame."""
    frame = rate // 100
    rms = np.sqrt(np.mean(samples[: samples.size // frame * frame].reshape(-1, frame) ** 2, 1))
    active = np.nonzero(rms > 0.01 * rms.max())[0]
    return active[0] / 100, (active[-1] + 1) / 100


def _detect(detector: SpeechDetector, wav: bytes) -> dict[str, Any]:
    return detector.run_batch([detector.prepare(EdgeInput(audio=wav))])[0]


def _with_lead(speech: np.ndarray, rate: int) -> np.ndarray:
    audio = change_rate(speech, ESPEAK_RATE, rate)
    return np.concatenate([np.zeros(round(LEAD_S * rate), np.float32), audio])


def _spans(output: dict[str, Any]) -> list[tuple[float, float]]:
    return [(s["start_s"], s["end_s"]) for s in output["segments"]]


def test_spec_describes_the_speech_task(detector: SpeechDetector) -> None:
    assert (detector.spec.name, detector.spec.task, detector.spec.modality) == (
        "silero-vad",
        "detect_speech",
        "audio",
    )


def test_speech_is_found_where_it_is_spoken(detector: SpeechDetector, speech: np.ndarray) -> None:
    spoken_from, spoken_to = _speech_extent(speech, ESPEAK_RATE)
    output = _detect(detector, wav_bytes(_with_lead(speech, ESPEAK_RATE), ESPEAK_RATE))
    spans = _spans(output)
    assert spans, output
    assert output["duration_s"] == pytest.approx(LEAD_S + speech.size / ESPEAK_RATE, abs=1e-3)
    assert spans[0][0] == pytest.approx(LEAD_S + spoken_from, abs=0.15)
    covered = sum(end - start for start, end in spans)
    assert covered >= 0.8 * (spoken_to - spoken_from)
    assert spans[-1][1] <= output["duration_s"]
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(spans))


def test_two_phrases_apart_give_two_segments(detector: SpeechDetector, speech: np.ndarray) -> None:
    gap = np.zeros(ESPEAK_RATE, np.float32)
    audio = np.concatenate([gap, speech, gap, speech])
    spans = _spans(_detect(detector, wav_bytes(audio, ESPEAK_RATE)))
    assert len(spans) == 2
    second_start = 2 * LEAD_S + speech.size / ESPEAK_RATE
    assert spans[0][1] < second_start < spans[1][0] + 0.15


def test_no_speech_in_digital_silence(detector: SpeechDetector) -> None:
    output = _detect(detector, wav_bytes(np.zeros(3 * 16000, np.float32), 16000))
    assert output == {"segments": [], "duration_s": 3.0}


@pytest.mark.parametrize("rms", [0.003, 0.03])
def test_no_speech_in_low_level_white_noise(detector: SpeechDetector, rms: float) -> None:
    noise = np.random.default_rng(7).standard_normal(5 * 16000).astype(np.float32) * rms
    assert _detect(detector, wav_bytes(noise, 16000))["segments"] == []


@pytest.mark.parametrize(
    ("rate", "channels"),
    [(8000, 1), (16000, 1), (ESPEAK_RATE, 1), (44100, 2), (48000, 1)],
)
def test_segments_agree_across_rates_and_channels(
    detector: SpeechDetector, speech: np.ndarray, rate: int, channels: int
) -> None:
    reference = _spans(_detect(detector, wav_bytes(_with_lead(speech, 16000), 16000)))
    audio = _with_lead(speech, rate)
    output = _detect(detector, wav_bytes(np.repeat(audio[:, None], channels, axis=1), rate))
    spans = _spans(output)
    assert output["duration_s"] == pytest.approx(audio.size / rate, abs=1e-3)
    assert len(spans) == len(reference) > 0
    for got, want in zip(spans, reference, strict=True):
        assert got == pytest.approx(want, abs=0.2)


def test_batched_streams_match_single_runs(detector: SpeechDetector, speech: np.ndarray) -> None:
    long = np.tile(_with_lead(speech, 16000), 3)  # longer than one block of BLOCK_STEPS windows
    assert long.size > BLOCK_STEPS * WINDOW
    items = [
        detector.prepare(EdgeInput(audio=wav_bytes(_with_lead(speech, 16000), 16000))),
        detector.prepare(EdgeInput(audio=wav_bytes(long, 16000))),
        detector.prepare(EdgeInput(audio=wav_bytes(np.zeros(8000, np.float32), 8000))),
        detector.prepare(EdgeInput(audio=wav_bytes(speech, ESPEAK_RATE))),
    ]
    batched = detector.speech_probs(items)
    for item, probs in zip(items, batched, strict=True):
        alone = detector.speech_probs([item])[0]
        assert probs.shape == (-(-item.samples.size // WINDOW),)
        np.testing.assert_allclose(probs, alone, atol=1e-5)
    assert detector.run_batch(items) == [detector.run_batch([item])[0] for item in items]


def _silero_reference() -> Callable[..., list[dict[str, int]]]:
    """silero-vad's own `get_speech_timestamps_from_probs`, lifted out without importing torch."""
    source = (silero_model_path().parents[1] / "utils_vad.py").read_text()
    tree = ast.parse(source)
    func = next(
        node
        for node in tree.body
        if isinstance(node, ast.FunctionDef) and node.name == "get_speech_timestamps_from_probs"
    )
    namespace: dict[str, Any] = {"List": list}
    exec(compile(ast.Module(body=[func], type_ignores=[]), "utils_vad.py", "exec"), namespace)
    return namespace["get_speech_timestamps_from_probs"]


def _random_probs(rng: np.random.Generator, steps: int) -> np.ndarray:
    """Smooth random speech probabilities: runs of speech and silence with jitter."""
    levels = np.repeat(rng.uniform(0, 1, steps // 4 + 1) > 0.5, rng.integers(1, 20, steps // 4 + 1))
    noisy = levels[:steps] * 0.8 + rng.uniform(0, 0.3, min(steps, levels.size))
    return np.clip(noisy, 0, 1).astype(np.float32)


def test_segmentation_matches_silero_reference(
    detector: SpeechDetector, speech: np.ndarray
) -> None:
    reference = _silero_reference()
    rng = np.random.default_rng(3)
    real = detector.speech_probs(
        [detector.prepare(EdgeInput(audio=wav_bytes(_with_lead(speech, 16000), 16000)))]
    )[0]
    cases = [real] + [_random_probs(rng, int(rng.integers(5, 400))) for _ in range(200)]
    multi = 0
    for params in (VadParams(), VadParams(threshold=0.6, neg_threshold=0.3, speech_pad_ms=100)):
        for probs in cases:
            length = probs.size * WINDOW - int(rng.integers(0, WINDOW))
            want = reference(
                probs.tolist(),
                sampling_rate=SAMPLE_RATE,
                threshold=params.threshold,
                neg_threshold=params.neg_threshold,
                min_speech_duration_ms=params.min_speech_duration_ms,
                min_silence_duration_ms=params.min_silence_duration_ms,
                speech_pad_ms=params.speech_pad_ms,
                audio_length_samples=length,
            )
            got = speech_segments(probs, length, params)
            assert got == [(s["start"], s["end"]) for s in want]
            multi += len(got) > 1
    assert multi > 50  # the cases exercise merging and padding between segments


def test_short_speech_is_dropped_and_trailing_speech_ends_at_the_end() -> None:
    probs = np.full(10, 0.9, np.float32)
    assert speech_segments(probs, 5000, VadParams()) == [(0, 5000)]
    assert speech_segments(probs[:3], 1500, VadParams()) == []  # 94 ms < 250 ms minimum
    gap = np.concatenate([probs, np.zeros(10, np.float32), probs])
    assert speech_segments(gap, 30 * WINDOW, VadParams()) == [(0, 5600), (9760, 30 * WINDOW)]


@pytest.mark.parametrize(
    ("audio", "code"),
    [
        (b"OggS\x00\x02 definitely not a wav", "invalid_audio"),
        (wav_bytes(np.zeros(0, np.float32), 16000), "invalid_audio"),
        (wav_bytes(np.zeros(1600, np.float32), 16000)[:30], "invalid_audio"),
        (wav_bytes(np.zeros(16000 * 3, np.float32), 16000), "audio_too_long"),
        (None, "missing_audio"),
    ],
    ids=["not-wav", "no-frames", "truncated-header", "too-long", "missing"],
)
def test_bad_audio_is_an_input_error(audio: bytes | None, code: str) -> None:
    short = load_speech_detector(SessionOptions(), max_audio_seconds=2.0)
    with pytest.raises(InputError) as info:
        short.prepare(EdgeInput(audio=audio))
    assert info.value.code == code


def test_warm_up_runs(detector: SpeechDetector) -> None:
    detector.warm_up()


def test_a_model_with_other_inputs_is_refused() -> None:
    sequence_model = silero_model_path().with_name("silero_vad_16k_sequence.onnx")
    session = create_session(sequence_model, SessionOptions())
    with pytest.raises(ModelLoadError, match="inputs"):
        SpeechDetector(session)
