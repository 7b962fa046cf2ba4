"""The central's Whisper in-process: word error rate and real-time factor, written as JSON.

`python -m benchmarks.transcribe_bench [--beam-size 5] [--threads 1]` scores the espeak-ng
sentences of `benchmarks.speech_eval` and the recorded LibriVox clips (when installed). The
real-time factor is decoding seconds over audio seconds (below 1 is faster than real time);
the load average goes into the file because the number moves with the machine's load.
Latency through the edge is the `transcribe` scenario of `hybrid-router bench`.
"""

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.results import DEFAULT_OUT, envelope, timestamp, write_results
from benchmarks.speech_eval import SENTENCES, espeak_wav, recorded_clips, word_error_rate
from central_service.transcribe import TranscribeOptions, Transcriber, decode_audio


def score(transcriber: Transcriber, clips: Sequence[tuple[str, bytes]]) -> dict[str, Any]:
    """WER, RTF and per-clip results over (reference, audio) pairs."""
    rows, hypotheses = [], []
    audio_s = decode_s = 0.0
    for reference, audio in clips:
        samples = decode_audio(audio, transcriber.options.max_audio_seconds)
        transcript = transcriber.transcribe_samples(samples, "en")
        hypotheses.append(transcript.text)
        audio_s += transcript.duration_s
        decode_s += transcript.elapsed_s
        rows.append(
            {
                "reference": reference,
                "hypothesis": transcript.text,
                "audio_s": round(transcript.duration_s, 3),
                "decode_s": round(transcript.elapsed_s, 3),
            }
        )
    return {
        "clips": len(rows),
        "wer": round(word_error_rate([r for r, _ in clips], hypotheses), 4),
        "audio_s": round(audio_s, 3),
        "decode_s": round(decode_s, 3),
        "real_time_factor": round(decode_s / audio_s, 3),
        "rows": rows,
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Score, print a summary, write `transcribe-quality-<time>.json`."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--beam-size", type=int, default=TranscribeOptions.beam_size)
    parser.add_argument("--threads", type=int, default=TranscribeOptions.threads)
    parser.add_argument("--compute-type", default=TranscribeOptions.compute_type)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    options = TranscribeOptions(
        beam_size=args.beam_size, threads=args.threads, compute_type=args.compute_type
    )
    transcriber = Transcriber.load(options)
    try:
        transcriber.transcribe_samples(decode_audio(espeak_wav("Warm up."), 60), "en")
        sets = {"espeak": score(transcriber, [(s, espeak_wav(s)) for s in SENTENCES])}
        recorded = recorded_clips()
        if recorded:
            sets["librivox"] = score(transcriber, recorded)
    finally:
        transcriber.close()
    command = [
        Path(sys.executable).name,
        "-m",
        "benchmarks.transcribe_bench",
        *(argv or sys.argv[1:]),
    ]
    document = {
        **envelope("transcribe-quality", command, {"model": options.model_name, **vars(args)}),
        "load_average": os.getloadavg(),
        "sets": sets,
    }
    path = write_results(args.out, f"transcribe-quality-{timestamp()}", document)
    for name, result in sets.items():
        print(
            f"{name}: {result['clips']} clips, WER {result['wer']:.3f}, "
            f"RTF {result['real_time_factor']:.2f} ({result['audio_s']:.1f} s of audio)"
        )
    print(f"results: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
