"""`cut_to_speech`: a WAV cut down to its (padded) speech spans, and what that saves."""

import numpy as np
import pytest

from edge_models.audio import decode_wav, encode_wav
from edge_models.errors import InputError
from edge_models.speech import cut_to_speech, padded_spans
from tests.speech_fixtures import wav_bytes


def test_spans_are_padded_clipped_and_merged() -> None:
    spans = padded_spans([(0.05, 1.0), (1.3, 2.0), (4.0, 4.5), (9.9, 9.95)], 10.0, 0.2)
    flat = [edge for span in spans for edge in span]
    assert flat == pytest.approx([0.0, 2.2, 3.8, 4.7, 9.7, 10.0])
    assert padded_spans([], 5.0, 0.2) == []
    assert padded_spans([(6.0, 7.0)], 5.0, 0.2) == []  # wholly past the end


def test_encode_wav_round_trips() -> None:
    samples = np.sin(np.linspace(0, 100, 16_000)).astype(np.float32) * 0.5
    audio = decode_wav(encode_wav(samples, 16_000), 10)
    assert audio.sample_rate == 16_000 and audio.duration_s == pytest.approx(1.0)
    assert np.max(np.abs(audio.samples - samples)) < 1e-4


def test_cut_keeps_only_the_spans_with_gaps_between() -> None:
    rate = 16_000
    ramp = np.linspace(-0.9, 0.9, rate * 10).astype(np.float32)
    data = wav_bytes(ramp, rate)
    cut = cut_to_speech(data, [(1.0, 2.0), (5.0, 5.5)], pad_s=0.1, gap_s=0.25)
    assert [e for span in cut.spans for e in span] == pytest.approx([0.9, 2.1, 4.9, 5.6])
    audio = decode_wav(cut.wav, 60)
    assert audio.sample_rate == rate
    assert audio.samples.size == round(1.2 * rate) + round(0.25 * rate) + round(0.7 * rate)
    first = audio.samples[: round(1.2 * rate)]
    np.testing.assert_allclose(first, ramp[round(0.9 * rate) : round(2.1 * rate)], atol=1e-4)
    gap = audio.samples[round(1.2 * rate) : round(1.45 * rate)]
    assert not gap.any()
    assert cut.speech_s == pytest.approx(1.9)
    assert cut.duration_s == pytest.approx(10.0)
    assert cut.bytes_saved == len(data) - len(cut.wav) > 0


def test_high_rate_stereo_comes_out_16k_mono_and_low_rates_keep_theirs() -> None:
    stereo = np.zeros((44_100 * 2, 2), np.float32)
    cut = cut_to_speech(wav_bytes(stereo, 44_100), [(0.5, 1.5)], pad_s=0.0)
    audio = decode_wav(cut.wav, 60)
    assert audio.sample_rate == 16_000 and audio.duration_s == pytest.approx(1.0)
    cut = cut_to_speech(wav_bytes(np.zeros(8_000 * 2, np.float32), 8_000), [(0.5, 1.5)], pad_s=0)
    assert decode_wav(cut.wav, 60).sample_rate == 8_000


def test_no_speech_sends_nothing() -> None:
    data = wav_bytes(np.zeros(16_000, np.float32), 16_000)
    cut = cut_to_speech(data, [])
    assert cut.wav == b"" and cut.spans == () and cut.bytes_saved == len(data)


def test_non_wav_is_an_input_error() -> None:
    with pytest.raises(InputError):
        cut_to_speech(b"not a wav at all", [(0.0, 1.0)])
