"""WAV decoding and resampling in edge_models.audio."""

import struct

import numpy as np
import pytest

from edge_models.audio import decode_wav, resample
from edge_models.errors import InputError
from tests.speech_fixtures import wav_bytes


def _ramp(n: int = 1000) -> np.ndarray:
    """A full-scale signal with both signs and many distinct values."""
    return (0.9 * np.sin(np.linspace(0, 20 * np.pi, n))).astype(np.float32)


def _riff(fmt_body: bytes, data: bytes, extra: bytes = b"") -> bytes:
    """A RIFF/WAVE file from a fmt body, optional chunks before data, and sample bytes."""
    chunks = b"fmt " + struct.pack("<I", len(fmt_body)) + fmt_body + extra
    chunks += b"data" + struct.pack("<I", len(data)) + data
    return b"RIFF" + struct.pack("<I", 4 + len(chunks)) + b"WAVE" + chunks


def _fmt(encoding: int, channels: int, rate: int, bits: int) -> bytes:
    block = channels * bits // 8
    return struct.pack("<HHIIHH", encoding, channels, rate, rate * block, block, bits)


@pytest.mark.parametrize(
    ("sampwidth", "tolerance"), [(1, 1 / 200), (2, 1e-4), (3, 1e-6), (4, 1e-6)]
)
def test_decodes_integer_pcm_of_each_width(sampwidth: int, tolerance: float) -> None:
    signal = _ramp()
    audio = decode_wav(wav_bytes(signal, 8000, sampwidth=sampwidth), max_seconds=10)
    assert audio.sample_rate == 8000
    assert audio.samples.dtype == np.float32
    assert audio.samples.shape == signal.shape
    assert audio.duration_s == pytest.approx(len(signal) / 8000)
    np.testing.assert_allclose(audio.samples, signal, atol=tolerance)


def test_extreme_integer_values_map_into_unit_range() -> None:
    data = struct.pack("<hh", -32768, 32767)
    audio = decode_wav(_riff(_fmt(1, 1, 16000, 16), data), max_seconds=1)
    assert audio.samples[0] == -1.0
    assert 0.9999 < audio.samples[1] < 1.0


def test_stereo_is_averaged_to_mono() -> None:
    left = _ramp()
    right = np.full_like(left, 0.25)
    audio = decode_wav(wav_bytes(np.stack([left, right], axis=1), 22050), max_seconds=10)
    assert audio.samples.shape == left.shape
    np.testing.assert_allclose(audio.samples, (left + right) / 2, atol=1e-4)


def test_opposite_channels_cancel() -> None:
    left = _ramp()
    audio = decode_wav(wav_bytes(np.stack([left, -left], axis=1), 16000), max_seconds=10)
    assert np.abs(audio.samples).max() < 1e-4


@pytest.mark.parametrize("encoding", ["float", "extensible"])
def test_decodes_float32_wav(encoding: str) -> None:
    signal = np.array([0.0, 0.5, -0.25, 1.5, np.nan], dtype="<f4")
    if encoding == "float":
        fmt = _fmt(3, 1, 16000, 32)
    else:
        guid_tail = bytes.fromhex("000000001000800000aa00389b71")
        fmt = _fmt(0xFFFE, 1, 16000, 32) + struct.pack("<HHIH", 22, 32, 4, 3) + guid_tail
    audio = decode_wav(_riff(fmt, signal.tobytes()), max_seconds=1)
    np.testing.assert_array_equal(audio.samples, [0.0, 0.5, -0.25, 1.0, 0.0])


def test_skips_odd_sized_chunks_before_data() -> None:
    data = struct.pack("<3h", 0, 16384, -16384)
    extra = b"LIST" + struct.pack("<I", 3) + b"abc" + b"\x00"
    audio = decode_wav(_riff(_fmt(1, 1, 8000, 16), data, extra), max_seconds=1)
    np.testing.assert_array_equal(audio.samples, [0.0, 0.5, -0.5])


def test_data_chunk_longer_than_payload_uses_whole_frames_present() -> None:
    wav = wav_bytes(_ramp(1000), 8000)
    audio = decode_wav(wav[:-3], max_seconds=10)  # drop one and a half frames
    assert audio.samples.size == 998


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"ID3\x03\x00 not audio at all",
        b"RIFF\x24\x00\x00\x00AVI LIST",
        b"RIFF\x24\x00\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00",  # header cut inside fmt
    ],
    ids=["empty-bytes", "mp3ish", "riff-not-wave", "truncated-header"],
)
def test_rejects_non_wav_and_truncated_header(data: bytes) -> None:
    with pytest.raises(InputError) as info:
        decode_wav(data, max_seconds=10)
    assert info.value.code == "invalid_audio"


def test_rejects_wav_with_no_frames() -> None:
    with pytest.raises(InputError, match="no audio frames") as info:
        decode_wav(wav_bytes(np.zeros(0, np.float32), 16000), max_seconds=10)
    assert info.value.code == "invalid_audio"


@pytest.mark.parametrize(
    "fmt",
    [_fmt(1, 1, 16000, 12), _fmt(1, 0, 16000, 16), _fmt(1, 1, 100, 16), _fmt(2, 1, 16000, 16)],
    ids=["12-bit", "no-channels", "100-Hz", "adpcm"],
)
def test_rejects_unsupported_formats(fmt: bytes) -> None:
    with pytest.raises(InputError) as info:
        decode_wav(_riff(fmt, b"\x00" * 64), max_seconds=10)
    assert info.value.code == "invalid_audio"


def test_rejects_audio_over_the_limit_from_the_header() -> None:
    claimed = 8000 * 2 * 11  # 11 s of 16-bit mono at 8 kHz
    header = _riff(_fmt(1, 1, 8000, 16), b"")[:-4] + struct.pack("<I", claimed)
    wav = header + b"\x00" * claimed
    with pytest.raises(InputError) as info:
        decode_wav(wav, max_seconds=10)
    assert info.value.code == "audio_too_long"
    assert decode_wav(wav, max_seconds=11).duration_s == pytest.approx(11.0)


def _peak_hz(samples: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(samples.size)))
    return float(np.fft.rfftfreq(samples.size, 1 / rate)[np.argmax(spectrum)])


@pytest.mark.parametrize(
    ("from_rate", "to_rate"),
    [(44100, 16000), (22050, 16000), (48000, 16000), (8000, 16000), (16000, 8000), (44101, 16000)],
)
@pytest.mark.parametrize("freq", [440.0, 3000.0])
def test_resampled_sine_keeps_its_frequency(from_rate: int, to_rate: int, freq: float) -> None:
    t = np.arange(from_rate) / from_rate
    out = resample(np.sin(2 * np.pi * freq * t).astype(np.float32), from_rate, to_rate)
    assert out.dtype == np.float32
    assert out.size == pytest.approx(to_rate, abs=1)
    assert _peak_hz(out, to_rate) == pytest.approx(freq, abs=1.5)
    middle = out[200:-200]
    assert np.sqrt(np.mean(middle**2)) == pytest.approx(np.sqrt(0.5), rel=0.01)


def test_resample_matches_the_ideal_sine_closely() -> None:
    rate = 44100
    t = np.arange(rate) / rate
    out = resample(np.sin(2 * np.pi * 440 * t).astype(np.float32), rate, 16000)
    ideal = np.sin(2 * np.pi * 440 * np.arange(out.size) / 16000)
    assert np.abs(out - ideal)[100:-100].max() < 1e-3


def test_downsampling_removes_tones_above_the_new_nyquist() -> None:
    rate = 44100
    t = np.arange(rate) / rate
    out = resample(np.sin(2 * np.pi * 10_000 * t).astype(np.float32), rate, 16000)
    assert np.sqrt(np.mean(out[200:-200] ** 2)) < 1e-3


def test_resample_output_length_and_passthrough() -> None:
    x = _ramp(1001)
    assert resample(x, 44100, 16000).size == -(-1001 * 16000 // 44100)
    assert resample(x, 8000, 16000).size == 2002
    same = resample(x, 16000, 16000)
    np.testing.assert_array_equal(same, x)
    assert same is not x
    assert resample(np.zeros(0, np.float32), 44100, 16000).size == 0


def test_resample_keeps_dc_level() -> None:
    out = resample(np.full(5000, 0.5, np.float32), 22050, 16000)
    np.testing.assert_allclose(out[100:-100], 0.5, atol=1e-5)


def test_resample_rejects_non_positive_rates() -> None:
    with pytest.raises(ValueError, match="positive"):
        resample(_ramp(), 0, 16000)
