"""The edge's gRPC API (grpcio aio): a thin codec over the same pipeline and recorder as HTTP.

Requests are validated by the same pydantic model as `/v3` (common.schema.GenerateRequest),
built into jobs by the one job builder and run by `Pipeline.handle` / `Pipeline.open_stream`.
Every RPC is recorded once (metrics and call log) like an HTTP request. ApiErrors become gRPC
status codes (see STATUS_CODES) with the error's code, request id and Retry-After in the
trailing metadata. Callers authenticate with the same API keys / JWTs as over HTTP
(`authorization: Bearer …` or `x-api-key` metadata) and the same access policies apply.
A cancelled RPC closes the central stream, which stops the central's generation.
"""

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, NoReturn

import grpc
from aiohttp import web
from multidict import CIMultiDict
from pydantic import ValidationError

from common.errors import ApiError, BadRequest, Unavailable
from common.http import describe_validation_error, request_id_from
from common.schema import GenerateRequest as GenerateBody
from router.auth import ANONYMOUS, AccessControl
from router.context import CallContext, CallTrace, deadline_of
from router.job_builder import JobBuilder
from router.jobs import Job, JobInput, JobParams
from router.keys import ACCESS, BUILDER, PIPELINE, RECORDER, SETTINGS
from router.pipeline import Pipeline, Result
from router.proto import multimodal_pb2 as pb
from router.proto import multimodal_pb2_grpc as pb_grpc
from router.recorder import CLIENT_CLOSED, Exchange, Recorder

log = logging.getLogger(__name__)

SERVICE = "hybrid_router.MultimodalService"

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


def status_code(error: ApiError) -> grpc.StatusCode:
    """The gRPC status for an ApiError's HTTP status."""
    return STATUS_CODES.get(error.status, grpc.StatusCode.UNKNOWN)


def request_id(context: grpc.aio.ServicerContext) -> str:
    """The caller's x-request-id metadata when safe to echo, else a fresh id."""
    given = dict(context.invocation_metadata() or ()).get("x-request-id", "")
    return request_id_from(given)


def peer_host(context: grpc.aio.ServicerContext) -> str:
    """The caller's address from "ipv4:127.0.0.1:5000" or "ipv6:[::1]:5000"."""
    peer = context.peer() or ""
    return peer.partition(":")[2].rpartition(":")[0].strip("[]")


@dataclass
class GrpcCall:
    """One RPC being served: its id, caller and trace (what the recorder reads)."""

    request_id: str
    trace: CallTrace = field(default_factory=CallTrace)
    caller: str = ANONYMOUS


def usage_message(raw: dict[str, Any]) -> pb.Usage:
    """Token counts as a Usage message."""
    prompt = int(raw.get("prompt_tokens", 0))
    completion = int(raw.get("completion_tokens", 0))
    return pb.Usage(
        prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion
    )


class MultimodalServicer(pb_grpc.MultimodalServiceServicer):
    """Generate, Embed and GenerateStream over the edge's pipeline."""

    def __init__(
        self,
        pipeline: Pipeline,
        builder: JobBuilder,
        access: AccessControl,
        recorder: Recorder,
        default_timeout_s: float | None,
    ) -> None:
        self._pipeline = pipeline
        self._builder = builder
        self._access = access
        self._recorder = recorder
        self._default_timeout_s = default_timeout_s

    @contextlib.asynccontextmanager
    async def _recorded(
        self, context: grpc.aio.ServicerContext, method: str
    ) -> AsyncIterator[GrpcCall]:
        """Serve one RPC: ApiErrors become its status; the outcome is recorded once."""
        call = GrpcCall(request_id(context))
        started, started_wall = self._recorder.start()
        status = 500
        try:
            yield call
            status = 200
        except ApiError as exc:
            status, call.trace.error_code = exc.status, exc.code
            await self._abort(context, exc, call.request_id)
        except (asyncio.CancelledError, GeneratorExit):
            status = CLIENT_CLOSED
            raise
        finally:
            exchange = Exchange(
                request_id=call.request_id,
                caller=call.caller,
                method="GRPC",
                path=f"/{SERVICE}/{method}",
                status=status,
                latency_s=self._recorder.clock() - started,
                started_wall=started_wall,
            )
            self._recorder.finish(exchange, call.trace)

    def _context(
        self, context: grpc.aio.ServicerContext, call: GrpcCall, budget_ms: float | None
    ) -> CallContext:
        """Authenticate the caller and build the call context (deadline: RPC's, budget, default)."""
        metadata = context.invocation_metadata() or ()
        headers = CIMultiDict((k, v) for k, v in metadata if isinstance(v, str))
        call.caller = self._access.principal_of(headers)
        budgets = [context.time_remaining(), None if budget_ms is None else budget_ms / 1000]
        now = time.monotonic()
        return CallContext(
            request_id=call.request_id,
            principal=call.caller,
            source_ip=peer_host(context),
            transport="grpc",
            deadline=deadline_of(now, self._default_timeout_s, *budgets),
            caller_deadline=deadline_of(now, None, *budgets),
            trace=call.trace,
        )

    def _generate_job(
        self, request: pb.GenerateRequest, context: grpc.aio.ServicerContext, call: GrpcCall
    ) -> tuple[CallContext, Job]:
        """The context and generate job for a GenerateRequest, validated as `/v3` is."""
        call.trace.task = "generate"
        parameters: dict[str, Any] = {
            "route": request.route or "auto",
            "response_format": request.response_format or "url",
        }
        for name in ("temperature", "top_p", "max_tokens", "latency_budget_ms"):
            if request.HasField(name):
                parameters[name] = getattr(request, name)
        item = {"text": request.text, "modality": request.modality or "text", "task": "generate"}
        ctx = self._context(context, call, parameters.get("latency_budget_ms"))
        try:
            body = GenerateBody.model_validate({"inputs": item, "parameters": parameters})
        except ValidationError as exc:
            raise BadRequest(describe_validation_error(exc), "invalid_request") from None
        return ctx, self._builder.from_generate(ctx, request.model or "auto", body)

    async def _abort(
        self, context: grpc.aio.ServicerContext, error: ApiError, rid: str
    ) -> NoReturn:
        """End the RPC with the error's gRPC status and details in trailing metadata."""
        metadata = [("error-code", error.code), ("x-request-id", rid)]
        headers = error.headers()
        for name in ("Retry-After", "x-should-retry"):
            if name in headers:
                metadata.append((name.lower(), headers[name]))
        await context.abort(status_code(error), error.message, tuple(metadata))

    async def Generate(
        self, request: pb.GenerateRequest, context: grpc.aio.ServicerContext
    ) -> pb.GenerateResponse:
        """Route and run one generate request."""
        async with self._recorded(context, "Generate") as call:
            ctx, job = self._generate_job(request, context, call)
            result = await self._pipeline.handle(ctx, job)
        return generate_response(result, call.request_id)

    async def Embed(
        self, request: pb.EmbedRequest, context: grpc.aio.ServicerContext
    ) -> pb.EmbedResponse:
        """Embed texts (on the edge, as the policy decides)."""
        async with self._recorded(context, "Embed") as call:
            call.trace.task = "embed"
            ctx = self._context(context, call, None)
            inputs = [JobInput(text=text) for text in request.texts]
            job = self._builder.for_task(ctx, request.model or "auto", "embed", inputs, JobParams())
            result = await self._pipeline.handle(ctx, job)
        return pb.EmbedResponse(
            embeddings=[pb.Embedding(values=o["embedding"]) for o in result.outputs],
            route=result.route,
            route_reason=result.reason,
            model=result.model,
            request_id=call.request_id,
        )

    async def GenerateStream(
        self, request: pb.GenerateRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.GenerateChunk]:
        """Stream a generation from the central, piece by piece."""
        async with self._recorded(context, "GenerateStream") as call:
            ctx, job = self._generate_job(request, context, call)
            events, _ = await self._pipeline.open_stream(ctx, job)
            first = True
            try:
                async for event in events:
                    if "error" in event:
                        upstream = event["error"] if isinstance(event["error"], dict) else {}
                        message = str(upstream.get("message", "the central failed mid-stream"))
                        raise Unavailable(message, str(upstream.get("code", "central_error")))
                    chunk = pb.GenerateChunk(text=str(event.get("text", "")))
                    if first:  # the decision's reason, with the provider that answers
                        chunk.route, chunk.route_reason, first = "central", call.trace.reason, False
                    if event.get("finish_reason"):
                        chunk.finish_reason = str(event["finish_reason"])
                        chunk.usage.CopyFrom(usage_message(event.get("usage") or {}))
                    yield chunk
            finally:
                await events.aclose()  # also on cancellation: stops the central's generation


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
        servicer = MultimodalServicer(
            app[PIPELINE],
            app[BUILDER],
            app[ACCESS],
            app[RECORDER],
            settings.server.request_timeout_s,
        )
        pb_grpc.add_MultimodalServiceServicer_to_server(servicer, server)
        if server.add_insecure_port(f"{host}:{port}") == 0:
            raise OSError(f"gRPC could not bind {host}:{port}")
        await server.start()
        log.info("gRPC listening on %s:%d", host, port)
        try:
            yield
        finally:
            await server.stop(settings.server.shutdown_grace_s)

    return ctx
