"""Fuzz WAV decoding: only InputError may come out of `decode_wav` and `wav_duration_s`.

Inputs are raw bytes, or RIFF files assembled from fuzzed header fields (format tag, channels,
rate, bits, block align, chunk sizes that lie) around fuzzed sample bytes. Run:
`python tests/fuzz/fuzz_wav.py -runs=100000` (or -max_total_time=60).
"""

import io
import struct
import sys
import wave
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the checkout importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import numpy as np

from edge_models.audio import decode_wav, wav_duration_s
from edge_models.errors import InputError
from tests.fuzz.provider import Draw, run

EXTENSIBLE_GUID_TAIL = b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"


def riff(draw: Draw) -> bytes:
    """A RIFF/WAVE file whose header fields come from `draw`."""
    tag = draw.pick((1, 3, 0xFFFE, draw.int(2)))
    channels = draw.pick((1, 2, 0, 64, 65, draw.int(2)))
    rate = draw.pick((16_000, 8_000, 44_100, 0, 3_999, 384_001, draw.int(4)))
    bits = draw.pick((8, 16, 24, 32, 64, 0, 12, draw.int(2)))
    align = draw.pick((channels * bits // 8, draw.int(2))) & 0xFFFF
    fmt = struct.pack("<HHIIHH", tag, channels, rate, (rate * align) & 0xFFFFFFFF, align, bits)
    if tag == 0xFFFE:
        sub = draw.pick((1, 3, draw.int(2)))
        fmt += struct.pack("<HHIH", 22, bits, 0, sub) + EXTENSIBLE_GUID_TAIL
    fmt = fmt[: draw.pick((len(fmt), draw.below(len(fmt) + 1)))]
    samples = draw.bytes(4096)
    data_size = draw.pick((len(samples), draw.int(4)))
    chunks = [b"fmt " + struct.pack("<I", len(fmt)) + fmt]
    if draw.byte() & 1:
        junk = draw.bytes(16)
        chunks.insert(
            draw.below(2), b"LIST" + struct.pack("<I", draw.pick((len(junk), draw.int(4)))) + junk
        )
    chunks.append(b"data" + struct.pack("<I", data_size) + samples)
    if draw.byte() & 1:
        chunks.reverse()
    body = b"WAVE" + b"".join(chunks)
    return b"RIFF" + struct.pack("<I", len(body)) + body


def TestOneInput(data: bytes) -> str:
    """Decode one WAV; the outcome."""
    draw = Draw(data)
    mode = draw.byte() % 3
    max_seconds = draw.pick((0.01, 30.0, 600.0))
    wav = draw.rest() if mode == 0 else riff(draw)
    try:
        wav_duration_s(wav)
        header_ok = True
    except InputError:
        header_ok = False
    try:
        audio = decode_wav(wav, max_seconds)
    except InputError:
        return "rejected"
    assert header_ok, "decode_wav accepted a header wav_duration_s refused"
    assert audio.samples.ndim == 1 and audio.samples.dtype == np.float32
    assert audio.samples.size > 0 and 0 < audio.duration_s <= max_seconds
    return "decoded"


def seed_inputs() -> list[bytes]:
    """Real WAVs in raw mode, and assembled ones."""
    seeds = []
    for channels, width, rate in ((1, 2, 16_000), (2, 1, 8_000), (1, 4, 44_100)):
        buffer = io.BytesIO()
        with wave.open(buffer, "wb") as out:
            out.setnchannels(channels)
            out.setsampwidth(width)
            out.setframerate(rate)
            out.writeframes(bytes(range(256)) * 4)
        seeds.append(b"\x00\x01\x00" + buffer.getvalue())
    seeds.append(b"\x01" + bytes(40) + bytes(range(256)))
    return seeds


if __name__ == "__main__":
    run(TestOneInput, seed_inputs())
