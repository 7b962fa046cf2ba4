"""OpenAI-compatible `POST /v1/audio/transcriptions` on the edge: a thin codec over the pipeline.

The multipart form becomes the same `transcribe` job as `/v3` with `{"audio", "task":
"transcribe"}`: the edge's VAD trims it, the central transcribes it. `whisper-1` (what
OpenAI clients send) means `auto`.
"""

from aiohttp import web

from common.audio_form import read_transcription_form, transcription_response
from router.catalogue import AUTO
from router.http_codec import context_of, route_headers
from router.jobs import JobInput, JobParams
from router.keys import BUILDER, PIPELINE, SETTINGS

OPENAI_ALIASES = frozenset({"whisper-1"})


async def transcriptions(request: web.Request) -> web.Response:
    """Parse the form, run a `transcribe` job, answer as `json`, `text` or `verbose_json`."""
    form = await read_transcription_form(request, request.app[SETTINGS].server.max_body_bytes)
    ctx = context_of(request, "openai")
    model = AUTO if form.model in OPENAI_ALIASES else form.model
    ctx.trace.task, ctx.trace.model = "transcribe", model
    inputs = [JobInput(audio=form.audio, modality="audio")]
    job = request.app[BUILDER].for_task(ctx, model, "transcribe", inputs, JobParams())
    result = await request.app[PIPELINE].handle(ctx, job)
    response = transcription_response(form, result.outputs[0])
    response.headers.update(route_headers(result))
    return response


def register(app: web.Application) -> None:
    """Add the route."""
    app.router.add_post("/v1/audio/transcriptions", transcriptions)
