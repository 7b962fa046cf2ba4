"""WAV decoding to mono float32 and band-limited resampling, with numpy only.

The RIFF parser is our own rather than the stdlib `wave` module, because `wave` (3.11)
rejects IEEE-float and WAVE_FORMAT_EXTENSIBLE files, which many recorders write. Supported:
integer PCM of 8/16/24/32 bits, float of 32/64 bits, any channel count (averaged to mono).
"""

import math
import struct
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from edge_models.errors import InputError

MIN_SAMPLE_RATE = 4_000
MAX_SAMPLE_RATE = 384_000
MAX_CHANNELS = 64
MAX_PHASES = 1024  # largest polyphase table; rarer rate ratios are approximated (< 1e-5)

_PCM = 0x0001
_FLOAT = 0x0003
_EXTENSIBLE = 0xFFFE
_SUPPORTED = frozenset({(_PCM, 8), (_PCM, 16), (_PCM, 24), (_PCM, 32), (_FLOAT, 32), (_FLOAT, 64)})


@dataclass(frozen=True, eq=False)
class Audio:
    """Decoded audio: mono float32 samples in [-1, 1] at `sample_rate`."""

    samples: np.ndarray
    sample_rate: int
    duration_s: float


@dataclass(frozen=True)
class WavFormat:
    """The fields of a WAV `fmt ` chunk that decoding needs."""

    encoding: int  # _PCM or _FLOAT
    channels: int
    sample_rate: int
    bits: int


@dataclass(frozen=True)
class _Chunks:
    """Where the format and the sample data are inside a RIFF/WAVE byte string."""

    fmt: bytes
    data_offset: int
    data_size: int


def _invalid(message: str) -> InputError:
    return InputError(message, code="invalid_audio")


def _find_chunks(data: bytes) -> _Chunks:
    """Walk the RIFF chunks; a data chunk that claims more than is present is cut short."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise _invalid("audio is not a RIFF/WAVE file")
    fmt: bytes | None = None
    offset = 12
    while offset + 8 <= len(data):
        chunk_id = data[offset : offset + 4]
        (size,) = struct.unpack_from("<I", data, offset + 4)
        body = offset + 8
        if chunk_id == b"fmt ":
            fmt = data[body : body + size]
        elif chunk_id == b"data":
            if fmt is None:
                raise _invalid("WAV data chunk comes before its fmt chunk")
            return _Chunks(fmt, body, min(size, len(data) - body))
        offset = body + size + (size & 1)
    raise _invalid("WAV has no fmt chunk" if fmt is None else "WAV has no data chunk")


def parse_format(fmt: bytes) -> WavFormat:
    """Read and validate a `fmt ` chunk body."""
    if len(fmt) < 16:
        raise _invalid("WAV fmt chunk is truncated")
    encoding, channels, rate, _byte_rate, block_align, bits = struct.unpack_from("<HHIIHH", fmt)
    if encoding == _EXTENSIBLE:
        if len(fmt) < 26:
            raise _invalid("WAV extensible fmt chunk is truncated")
        (encoding,) = struct.unpack_from("<H", fmt, 24)  # first two bytes of the sub-format GUID
    if (encoding, bits) not in _SUPPORTED:
        raise _invalid(
            f"unsupported WAV encoding {encoding:#06x} with {bits} bits; "
            "supported: PCM 8/16/24/32-bit, float 32/64-bit"
        )
    if not 1 <= channels <= MAX_CHANNELS:
        raise _invalid(f"WAV has {channels} channels; supported: 1..{MAX_CHANNELS}")
    if not MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE:
        raise _invalid(
            f"WAV sample rate {rate} Hz is outside {MIN_SAMPLE_RATE}..{MAX_SAMPLE_RATE} Hz"
        )
    if block_align != channels * bits // 8:
        raise _invalid(f"WAV block align {block_align} does not match {channels}×{bits} bits")
    return WavFormat(encoding, channels, rate, bits)


def _to_float(raw: bytes, fmt: WavFormat) -> np.ndarray:
    """Interleaved sample bytes → float32 in [-1, 1], still interleaved."""
    if fmt.encoding == _FLOAT:
        values = np.frombuffer(raw, dtype="<f4" if fmt.bits == 32 else "<f8")
        values = np.nan_to_num(values, nan=0.0, posinf=1.0, neginf=-1.0)
        return np.clip(values, -1.0, 1.0).astype(np.float32)
    if fmt.bits == 8:
        return (np.frombuffer(raw, dtype=np.uint8).astype(np.float32) - 128.0) / 128.0
    if fmt.bits == 24:
        triples = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3).astype(np.int32)
        values = triples[:, 0] | (triples[:, 1] << 8) | (triples[:, 2] << 16)
        values = np.where(values >= 1 << 23, values - (1 << 24), values)
        return (values / float(1 << 23)).astype(np.float32)
    dtype = "<i2" if fmt.bits == 16 else "<i4"
    scale = float(1 << (fmt.bits - 1))
    return (np.frombuffer(raw, dtype=dtype).astype(np.float64) / scale).astype(np.float32)


def wav_duration_s(data: bytes) -> float:
    """Duration from the WAV header alone (InputError when it is not a readable WAV)."""
    chunks = _find_chunks(data)
    fmt = parse_format(chunks.fmt)
    return chunks.data_size // (fmt.channels * fmt.bits // 8) / fmt.sample_rate


def decode_wav(data: bytes, max_seconds: float) -> Audio:
    """Decode a WAV byte string to mono float32; InputError on bad or over-long audio."""
    chunks = _find_chunks(data)
    fmt = parse_format(chunks.fmt)
    frame_bytes = fmt.channels * fmt.bits // 8
    frames = chunks.data_size // frame_bytes
    if frames == 0:
        raise _invalid("WAV has no audio frames")
    duration_s = frames / fmt.sample_rate
    if duration_s > max_seconds:
        raise InputError(
            f"audio is {duration_s:.1f} s long; the limit is {max_seconds:g} s",
            code="audio_too_long",
        )
    raw = data[chunks.data_offset : chunks.data_offset + frames * frame_bytes]
    interleaved = _to_float(raw, fmt).reshape(frames, fmt.channels)
    mono = interleaved[:, 0] if fmt.channels == 1 else interleaved.mean(axis=1)
    return Audio(np.ascontiguousarray(mono, dtype=np.float32), fmt.sample_rate, duration_s)


@dataclass(frozen=True)
class ResampleFilter:
    """A Kaiser-windowed sinc low-pass; `rolloff` is the cutoff as a fraction of Nyquist."""

    zero_crossings: int = 16
    rolloff: float = 0.94
    beta: float = 8.6


def _ratio(from_rate: int, to_rate: int) -> tuple[int, int]:
    """(up, down) with up/down ≈ to_rate/from_rate and at most MAX_PHASES phases."""
    ratio = Fraction(from_rate, to_rate).limit_denominator(MAX_PHASES)
    return ratio.denominator, ratio.numerator


def _phase_table(up: int, down: int, spec: ResampleFilter) -> tuple[np.ndarray, int]:
    """Filter taps for each of the `up` output phases, and the half-width in input samples."""
    cutoff = min(1.0, up / down) * spec.rolloff
    half = math.ceil(spec.zero_crossings / cutoff)
    offsets = np.arange(-half + 1, half + 1, dtype=np.float64)
    t = offsets[None, :] - (np.arange(up, dtype=np.float64) / up)[:, None]
    window = np.i0(spec.beta * np.sqrt(np.clip(1.0 - (t / half) ** 2, 0.0, None)))
    taps = cutoff * np.sinc(cutoff * t) * window / np.i0(spec.beta)
    taps /= taps.sum(axis=1, keepdims=True)  # unit gain at DC for every phase
    return taps.astype(np.float32), half


def resample(
    samples: np.ndarray, from_rate: int, to_rate: int, spec: ResampleFilter = ResampleFilter()
) -> np.ndarray:
    """Polyphase windowed-sinc resampling of mono float32 audio (anti-aliased when downsampling).

    Output sample n sits at input position n·from_rate/to_rate and has length
    ceil(len·to_rate/from_rate). Exact for rate pairs whose reduced ratio has at most
    MAX_PHASES output phases (all common rates to 16 kHz); otherwise the nearest such ratio.
    """
    if from_rate <= 0 or to_rate <= 0:
        raise ValueError(f"sample rates must be positive, got {from_rate} and {to_rate}")
    x = np.asarray(samples, dtype=np.float32)
    if from_rate == to_rate or x.size == 0:
        return x.copy()
    up, down = _ratio(from_rate, to_rate)
    table, half = _phase_table(up, down, spec)
    n_out = -(-x.size * up // down)
    padded = np.concatenate([np.zeros(half, np.float32), x, np.zeros(half + down + 1, np.float32)])
    windows = np.lib.stride_tricks.sliding_window_view(padded, 2 * half)
    out = np.empty(n_out, dtype=np.float32)
    for first in range(min(up, n_out)):
        base, phase = divmod(first * down, up)
        count = -(-(n_out - first) // up)
        # outputs first, first+up, ... all share this phase; their windows step by `down`
        rows = windows[base + 1 : base + 1 + count * down : down]
        out[first::up] = rows @ table[phase]
    return out


def encode_wav(samples: np.ndarray, sample_rate: int) -> bytes:
    """Mono float samples in [-1, 1] as a 16-bit PCM WAV byte string."""
    pcm = np.clip(np.round(np.asarray(samples, dtype=np.float64) * 32768.0), -32768, 32767)
    data = pcm.astype("<i2").tobytes()
    header = struct.pack(
        "<4sI4s4sIHHIIHH4sI",
        b"RIFF",
        36 + len(data),
        b"WAVE",
        b"fmt ",
        16,
        _PCM,
        1,
        sample_rate,
        sample_rate * 2,
        2,
        16,
        b"data",
        len(data),
    )
    return header + data
