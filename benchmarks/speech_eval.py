"""Speech-to-text evaluation material: espeak-ng sentences, their WAVs and the word error rate."""

import re
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from edge_models.audio import decode_wav, encode_wav

# Everyday sentences without digits or names whose spelling is a convention (Whisper writes
# "seven" as "7"): what is scored is hearing, not text normalisation.
SENTENCES: tuple[str, ...] = (
    "The weather is nice today.",
    "Please send the report to my office before noon.",
    "She bought three apples and a loaf of bread.",
    "The train to the city leaves early in the morning.",
    "We need more time to finish the project.",
    "My brother lives in a small house near the river.",
    "Can you open the window, please?",
    "The children are playing in the garden.",
    "He reads a book every night before bed.",
    "The meeting has been moved to Thursday afternoon.",
    "Turn off the lights when you leave the room.",
    "Our team won the game by two points.",
)
_WORD = re.compile(r"[a-z0-9']+")
# Real recorded speech: LibriVox readings (public domain) that Debian's `pocketsphinx-testdata`
# ships with their transcriptions (`make setup` installs it).
LIBRIVOX_DIR = Path("/usr/share/pocketsphinx/test/data/librivox")
_TRANSCRIPT_LINE = re.compile(r"<s>\s*(.*?)\s*</s>\s*\((\S+)\)")


class EspeakMissing(RuntimeError):
    """espeak-ng is not installed."""


def espeak_wav(text: str, voice: str = "en") -> bytes:
    """`text` spoken by espeak-ng: a 16-bit mono WAV at its native 22.05 kHz."""
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise EspeakMissing("espeak-ng is not installed (apt-get install -y espeak-ng)")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "speech.wav"
        subprocess.run([exe, "-v", voice, "-w", str(out), text], check=True, timeout=60)
        return out.read_bytes()


def padded_speech_wav(text: str, lead_s: float = 1.5, tail_s: float = 1.0) -> bytes:
    """`text` from espeak-ng between `lead_s` and `tail_s` of silence: what a VAD trims."""
    audio = decode_wav(espeak_wav(text), 600)
    rate = audio.sample_rate
    silence = [np.zeros(round(s * rate), np.float32) for s in (lead_s, tail_s)]
    return encode_wav(np.concatenate([silence[0], audio.samples, silence[1]]), rate)


def recorded_clips(directory: Path = LIBRIVOX_DIR) -> list[tuple[str, bytes]]:
    """(reference transcript, WAV bytes) of each recorded clip; empty when not installed."""
    index = directory / "transcription"
    if not index.is_file():
        return []
    return [
        (m.group(1), (directory / f"{m.group(2)}.wav").read_bytes())
        for m in _TRANSCRIPT_LINE.finditer(index.read_text())
    ]


def words(text: str) -> list[str]:
    """Lower-case words without punctuation (hyphens split words)."""
    return _WORD.findall(text.lower().replace("-", " "))


def edit_distance(reference: Sequence[str], hypothesis: Sequence[str]) -> int:
    """Word-level Levenshtein distance: substitutions + deletions + insertions."""
    previous = list(range(len(hypothesis) + 1))
    for i, ref in enumerate(reference, 1):
        current = [i]
        for j, hyp in enumerate(hypothesis, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ref != hyp)))
        previous = current
    return previous[-1]


def word_error_rate(references: Sequence[str], hypotheses: Sequence[str]) -> float:
    """Corpus WER: total edits over total reference words."""
    pairs = zip(references, hypotheses, strict=True)  # one hypothesis per reference
    edits = sum(edit_distance(words(r), words(h)) for r, h in pairs)
    total = sum(len(words(r)) for r in references)
    if total == 0:
        raise ValueError("the references have no words")
    return edits / total
