"""Test audio: real speech rendered by espeak-ng, and WAV encoding with the stdlib `wave`.

Resampling here uses scipy, not `edge_models.audio`, so tests check ours against another.
"""

import io
import shutil
import subprocess
import tempfile
import wave
from math import gcd
from pathlib import Path

import numpy as np
import pytest
from scipy.signal import resample_poly

ESPEAK_RATE = 22_050  # espeak-ng's native output rate
SPEECH_TEXT = "The quick brown fox jumps over the lazy dog, and then it runs far away."


def espeak_path() -> str | None:
    """The espeak-ng executable, or None when it is not installed."""
    return shutil.which("espeak-ng")


def require_espeak() -> str:
    """The espeak-ng executable; skips the test when it is missing."""
    path = espeak_path()
    if path is None:
        pytest.skip("espeak-ng is not installed (apt-get install -y espeak-ng)")
    return path


def render_speech(text: str = SPEECH_TEXT) -> np.ndarray:
    """Speak `text` with espeak-ng; mono float32 samples at ESPEAK_RATE."""
    exe = require_espeak()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "speech.wav"
        subprocess.run([exe, "-v", "en", "-w", str(out), text], check=True, timeout=60)
        with wave.open(str(out), "rb") as wav:
            assert wav.getframerate() == ESPEAK_RATE and wav.getnchannels() == 1
            raw = wav.readframes(wav.getnframes())
    return (np.frombuffer(raw, dtype="<i2").astype(np.float32) / 32768.0).copy()


def change_rate(samples: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    """Resample with scipy's polyphase filter (an independent reference)."""
    if from_rate == to_rate:
        return samples.astype(np.float32)
    g = gcd(from_rate, to_rate)
    return resample_poly(samples, to_rate // g, from_rate // g).astype(np.float32)


def wav_bytes(samples: np.ndarray, rate: int, sampwidth: int = 2) -> bytes:
    """Encode float samples in [-1, 1], shaped (n,) or (n, channels), as integer PCM WAV."""
    frames = samples[:, None] if samples.ndim == 1 else samples
    clipped = np.clip(frames, -1.0, 1.0)
    if sampwidth == 1:
        raw = np.clip(np.round(clipped * 128 + 128), 0, 255).astype(np.uint8).tobytes()
    else:
        full = float(1 << (8 * sampwidth - 1))
        ints = np.clip(np.round(clipped * full), -full, full - 1).astype("<i4")
        if sampwidth == 3:
            raw = ints.reshape(-1, 1).view(np.uint8)[:, :3].tobytes()
        else:
            raw = ints.astype("<i2" if sampwidth == 2 else "<i4").tobytes()
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(frames.shape[1])
        wav.setsampwidth(sampwidth)
        wav.setframerate(rate)
        wav.writeframes(raw)
    return buffer.getvalue()


def render_speech_wav(
    text: str = SPEECH_TEXT,
    rate: int = ESPEAK_RATE,
    *,
    lead_silence_s: float = 0.0,
    channels: int = 1,
) -> bytes:
    """16-bit WAV of `text` spoken at `rate`, after `lead_silence_s` of digital silence."""
    speech = change_rate(render_speech(text), ESPEAK_RATE, rate)
    audio = np.concatenate([np.zeros(round(lead_silence_s * rate), np.float32), speech])
    return wav_bytes(np.repeat(audio[:, None], channels, axis=1), rate)
