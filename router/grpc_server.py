"""The edge's gRPC API (grpcio aio): the same Job → pipeline path as HTTP, other framing.

Requests are validated by the same pydantic model as `/v3` (common.schema.GenerateRequest)
and routed by `Pipeline.execute`; streaming asks `Pipeline.decide`, then relays
`central.stream`. ApiErrors become gRPC status codes (see STATUS_CODES) with the error's
code, request id and Retry-After in the trailing metadata. Callers authenticate with the
same API keys / JWTs as over HTTP (`authorization: Bearer …` or `x-api-key` metadata) and
the same access policies apply. A cancelled RPC closes the
central stream, which stops the central's generation.
"""

import logging
import re
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any, NoReturn

import grpc
from aiohttp import web
from multidict import CIMultiDict
from pydantic import ValidationError

from common.errors import ApiError, BadRequest, NotFound, Unavailable
from common.http import describe_validation_error
from common.schema import GenerateRequest as GenerateBody
from router.auth import PRINCIPAL, TASK_ACTIONS, AccessControl
from router.jobs import Job, job_for_model
from router.keys import ACCESS, PIPELINE, SETTINGS
from router.pipeline import Pipeline, Result
from router.proto import multimodal_pb2 as pb
from router.proto import multimodal_pb2_grpc as pb_grpc
from router.settings import Settings

log = logging.getLogger(__name__)

STATUS_CODES: dict[int, grpc.StatusCode] = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    401: grpc.StatusCode.UNAUTHENTICATED,
    403: grpc.StatusCode.PERMISSION_DENIED,
    404: grpc.StatusCode.NOT_FOUND,
    413: grpc.StatusCode.INVALID_ARGUMENT,
    415: grpc.StatusCode.INVALID_ARGUMENT,
    429: grpc.StatusCode.RESOURCE_EXHAUSTED,
    500: grpc.StatusCode.INTERNAL,
    501: grpc.StatusCode.UNIMPLEMENTED,
    502: grpc.StatusCode.UNAVAILABLE,
    503: grpc.StatusCode.UNAVAILABLE,
    504: grpc.StatusCode.DEADLINE_EXCEEDED,
}
EMBED_MODELS = ("auto", "all-minilm-l6-v2")
_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def status_code(error: ApiError) -> grpc.StatusCode:
    """The gRPC status for an ApiError's HTTP status."""
    return STATUS_CODES.get(error.status, grpc.StatusCode.UNKNOWN)


def request_id(context: grpc.aio.ServicerContext) -> str:
    """The caller's x-request-id metadata when safe to echo, else a fresh id."""
    given = dict(context.invocation_metadata() or ()).get("x-request-id", "")
    return given if isinstance(given, str) and _SAFE_ID.match(given) else uuid.uuid4().hex


def deadline_of(context: grpc.aio.ServicerContext, budget_ms: float | None) -> float | None:
    """Monotonic deadline from the RPC's deadline and latency_budget_ms (the tighter wins)."""
    now = time.monotonic()
    budgets = [budget_ms / 1000] if budget_ms is not None else []
    remaining = context.time_remaining()
    if remaining is not None:
        budgets.append(remaining)
    return now + min(budgets) if budgets else None


class GrpcCaller(dict[Any, Any]):
    """What `router.auth` reads from a web.Request (headers, remote, principal), from gRPC."""

    def __init__(self, context: grpc.aio.ServicerContext) -> None:
        super().__init__()
        metadata = context.invocation_metadata() or ()
        self.headers = CIMultiDict((k, v) for k, v in metadata if isinstance(v, str))
        peer = context.peer() or ""  # "ipv4:127.0.0.1:5000" or "ipv6:[::1]:5000"
        host = peer.partition(":")[2].rpartition(":")[0]
        self.remote = host.strip("[]")


def usage_message(raw: dict[str, Any]) -> pb.Usage:
    """Token counts as a Usage message."""
    prompt = int(raw.get("prompt_tokens", 0))
    completion = int(raw.get("completion_tokens", 0))
    return pb.Usage(
        prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion
    )


class MultimodalServicer(pb_grpc.MultimodalServiceServicer):
    """Generate, Embed and GenerateStream over the edge's pipeline."""

    def __init__(self, pipeline: Pipeline, settings: Settings, access: AccessControl) -> None:
        self._pipeline = pipeline
        self._settings = settings
        self._access = access

    def _job(
        self,
        context: grpc.aio.ServicerContext,
        model: str,
        body: dict[str, Any],
    ) -> Job:
        """Validate a `/v3`-shaped body and build its job, as the HTTP API does."""
        caller = GrpcCaller(context)
        caller[PRINCIPAL] = self._access.authenticate(caller)  # type: ignore[arg-type]
        model = model or "auto"
        try:
            request = GenerateBody.model_validate(body)
        except ValidationError as exc:
            raise BadRequest(describe_validation_error(exc), "invalid_request") from None
        job = job_for_model(
            request_id(context),
            model,
            request,
            central_model=self._settings.central.model,
            max_inputs=self._settings.server.max_inputs,
            max_text_chars=self._settings.server.max_text_chars,
            tenant=caller[PRINCIPAL],
            deadline=deadline_of(context, request.parameters.latency_budget_ms),
        )
        self._access.authorize(caller, TASK_ACTIONS[job.task], f"model/{model}")  # type: ignore[arg-type]
        return job

    def _generate_job(self, request: pb.GenerateRequest, context: grpc.aio.ServicerContext) -> Job:
        """The generate job for a GenerateRequest."""
        parameters: dict[str, Any] = {
            "route": request.route or "auto",
            "response_format": request.response_format or "url",
        }
        for name in ("temperature", "top_p", "max_tokens", "latency_budget_ms"):
            if request.HasField(name):
                parameters[name] = getattr(request, name)
        item = {"text": request.text, "modality": request.modality or "text", "task": "generate"}
        return self._job(context, request.model, {"inputs": item, "parameters": parameters})

    async def _abort(
        self, context: grpc.aio.ServicerContext, error: ApiError, rid: str
    ) -> NoReturn:
        """End the RPC with the error's gRPC status and details in trailing metadata."""
        metadata = [("error-code", error.code), ("x-request-id", rid)]
        if error.retry_after_s is not None:
            metadata.append(("retry-after", error.headers()["Retry-After"]))
        await context.abort(status_code(error), error.message, tuple(metadata))

    async def Generate(
        self, request: pb.GenerateRequest, context: grpc.aio.ServicerContext
    ) -> pb.GenerateResponse:
        """Route and run one generate request."""
        rid = request_id(context)
        try:
            job = self._generate_job(request, context)
            rid = job.request_id
            result = await self._pipeline.execute(job)
        except ApiError as exc:
            await self._abort(context, exc, rid)
        return generate_response(result, job.request_id)

    async def Embed(
        self, request: pb.EmbedRequest, context: grpc.aio.ServicerContext
    ) -> pb.EmbedResponse:
        """Embed texts (on the edge, as the policy decides)."""
        rid = request_id(context)
        try:
            model = request.model or "auto"
            if model not in EMBED_MODELS:
                raise NotFound(
                    f"unknown embedding model {model!r}; available: {list(EMBED_MODELS)}",
                    "unknown_model",
                )
            inputs = [{"text": text, "task": "embed"} for text in request.texts]
            job = self._job(context, model, {"inputs": inputs})
            rid = job.request_id
            result = await self._pipeline.execute(job)
        except ApiError as exc:
            await self._abort(context, exc, rid)
        return pb.EmbedResponse(
            embeddings=[pb.Embedding(values=o["embedding"]) for o in result.outputs],
            route=result.route,
            route_reason=result.reason,
            model=result.model,
            request_id=job.request_id,
        )

    async def GenerateStream(
        self, request: pb.GenerateRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.GenerateChunk]:
        """Stream a generation from the central, piece by piece."""
        rid = request_id(context)
        try:
            job = self._generate_job(request, context)
            rid = job.request_id
            events, reason = await self._open_stream(job)
        except ApiError as exc:
            await self._abort(context, exc, rid)
            return
        first = True
        try:
            async for event in events:
                if "error" in event:
                    upstream = event["error"] if isinstance(event["error"], dict) else {}
                    message = str(upstream.get("message", "the central failed mid-stream"))
                    raise Unavailable(message, str(upstream.get("code", "central_error")))
                chunk = pb.GenerateChunk(text=str(event.get("text", "")))
                if first:
                    chunk.route, chunk.route_reason, first = "central", reason, False
                if event.get("finish_reason"):
                    chunk.finish_reason = str(event["finish_reason"])
                    chunk.usage.CopyFrom(usage_message(event.get("usage") or {}))
                yield chunk
        except ApiError as exc:
            await self._abort(context, exc, rid)
        finally:
            await events.aclose()  # also on cancellation: stops the central's generation

    async def _open_stream(self, job: Job) -> tuple[AsyncIterator[dict[str, Any]], str]:
        """The central's event stream for a job, after the routing decision allows it."""
        events, decision = await self._pipeline.open_stream(job)
        return events, decision.reason


def generate_response(result: Result, rid: str) -> pb.GenerateResponse:
    """A pipeline result as a GenerateResponse."""
    output = result.outputs[0] if result.outputs else {}
    return pb.GenerateResponse(
        text=str(output.get("text") or ""),
        route=result.route,
        route_reason=result.reason,
        model=result.model,
        usage=usage_message(result.usage),
        finish_reason=str(output.get("finish_reason") or ""),
        image_url=str(output.get("image_url") or ""),
        image_base64=str(output.get("image_base64") or ""),
        request_id=rid,
    )


def grpc_ctx(
    port: int, host: str = "127.0.0.1"
) -> Callable[[web.Application], AsyncIterator[None]]:
    """A cleanup_ctx running the gRPC server on host:port (0 = disabled); append it last."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        if port == 0:
            yield
            return
        settings = app[SETTINGS]
        server = grpc.aio.server()
        pb_grpc.add_MultimodalServiceServicer_to_server(
            MultimodalServicer(app[PIPELINE], settings, app[ACCESS]), server
        )
        if server.add_insecure_port(f"{host}:{port}") == 0:
            raise OSError(f"gRPC could not bind {host}:{port}")
        await server.start()
        log.info("gRPC listening on %s:%d", host, port)
        try:
            yield
        finally:
            await server.stop(settings.server.shutdown_grace_s)

    return ctx
