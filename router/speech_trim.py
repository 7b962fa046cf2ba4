"""`transcribe` jobs: the edge's Silero VAD cuts each WAV to its speech before it leaves.

Only the speech spans (padded, joined by short gaps, 16-bit mono at most 16 kHz) go to the
central; an input with no speech at all is answered here with an empty transcript. Each
output says how many audio bytes were sent and saved, and `edge_transcribe_audio_bytes`
counts them. Compressed audio (mp3, flac, ...) the edge cannot decode goes as it came;
bytes that are no audio at all are refused here, before anything leaves.
"""

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from central_client.adapters import CentralAnswer, CentralCall
from central_client.media import audio_type
from common.errors import BadRequest
from edge_models.base import EdgeInput
from edge_models.errors import InputError
from edge_models.registry import UnknownModel
from edge_models.runtime import EdgeRuntime, NotReady
from edge_models.speech import SpeechCut, cut_to_speech
from router.central_call import to_central_call
from router.jobs import Job, Result
from router.metrics import EdgeMetrics
from router.route_state import Decision

log = logging.getLogger(__name__)

VAD_TASK = "detect_speech"
NO_SPEECH_REASON = "vad:no-speech"


class TranscribeHost(Protocol):
    """What the transcribe path needs from the pipeline."""

    edge: EdgeRuntime

    async def run_edge_items(self, model: str, items: list[EdgeInput]) -> list[dict[str, Any]]:
        """Run items on an edge model, mapping bad input to 400."""


def vad_model(edge: EdgeRuntime) -> str | None:
    """The loaded VAD's name, or None (still loading, or not configured)."""
    try:
        return edge.registry.for_task(VAD_TASK).spec.name
    except (NotReady, UnknownModel):
        return None


def check_audio(job: Job) -> None:
    """400 for an input without audio or with bytes that are no audio format we know."""
    for index, item in enumerate(job.inputs):
        if not item.audio:
            raise BadRequest(f"inputs[{index}]: transcribe needs `audio`", "missing_audio")
        if audio_type(item.audio) is None:
            raise BadRequest(
                f"inputs[{index}].audio is not an audio format we recognise "
                "(wav, mp3, flac, ogg, webm, m4a)",
                "invalid_audio",
            )


async def cut_job(host: TranscribeHost, job: Job) -> list[SpeechCut | None]:
    """One cut per input (None where the audio goes as it came: not WAV, or no VAD loaded)."""
    model = vad_model(host.edge)
    wavs = [i for i, item in enumerate(job.inputs) if audio_type(item.audio or b"") == "audio/wav"]
    cuts: list[SpeechCut | None] = [None] * len(job.inputs)
    if model is None or not wavs:
        if model is None:
            log.info("no edge VAD loaded; transcribe audio is sent untrimmed")
        return cuts
    detected = await host.run_edge_items(
        model, [EdgeInput(audio=job.inputs[i].audio) for i in wavs]
    )
    for index, found in zip(wavs, detected, strict=True):
        segments = [(s["start_s"], s["end_s"]) for s in found["segments"]]
        try:
            cuts[index] = await asyncio.to_thread(cut_to_speech, job.inputs[index].audio, segments)
        except InputError as exc:
            raise BadRequest(f"inputs[{index}]: {exc}", exc.code) from None
    return cuts


def report(cut: SpeechCut | None, sent: int, original: int) -> dict[str, Any]:
    """The fields every transcribe output gains (`speech_s`: the speech kept, with pads)."""
    fields: dict[str, Any] = {"audio_bytes_sent": sent, "audio_bytes_saved": original - sent}
    if cut is not None:
        fields["speech_s"] = round(cut.speech_s, 3)
    return fields


async def transcribe(
    host: TranscribeHost,
    call: Callable[[CentralCall], Awaitable[CentralAnswer]],
    metrics: EdgeMetrics,
    job: Job,
    decision: Decision,
) -> Result:
    """Trim with the VAD, send only inputs with speech to the central, merge in order."""
    check_audio(job)
    cuts = await cut_job(host, job)
    outgoing, positions = [], []
    for index, (item, cut) in enumerate(zip(job.inputs, cuts, strict=True)):
        if cut is None or cut.wav:
            audio = item.audio if cut is None else cut.wav
            outgoing.append(dataclasses.replace(item, audio=audio))
            positions.append(index)
    outputs: list[dict[str, Any]] = []
    for cut in cuts:  # a placeholder, or the empty transcript of an input with no speech
        duration = {} if cut is None else {"duration_s": round(cut.duration_s, 3)}
        outputs.append({"text": "", "language": None, **duration})
    route, reason, model, usage = "edge", NO_SPEECH_REASON, vad_model(host.edge) or "edge", {}
    if outgoing:
        answer = await call(to_central_call(dataclasses.replace(job, inputs=tuple(outgoing))))
        for index, output in zip(positions, answer.outputs, strict=True):
            outputs[index] = dict(output)
        route, reason, model, usage = "central", decision.reason, answer.model, answer.usage
    received = sent = 0
    for index, (item, cut) in enumerate(zip(job.inputs, cuts, strict=True)):
        original = len(item.audio or b"")
        out = original if cut is None else len(cut.wav)
        outputs[index].update(report(cut, out, original))
        if cut is not None:  # the caller's audio, not the trimmed stretch the central heard
            outputs[index]["duration_s"] = round(cut.duration_s, 3)
        received, sent = received + original, sent + out
    metrics.transcribe_audio_bytes.labels("received").inc(received)
    metrics.transcribe_audio_bytes.labels("sent").inc(sent)
    metrics.transcribe_audio_bytes.labels("saved").inc(max(0, received - sent))
    return Result(outputs, route, reason, model, usage)
