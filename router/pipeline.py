"""The one path every request takes after parsing: privacy, decide, execute, record."""

import asyncio
import dataclasses
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from typing import Any, Protocol

from central_client.adapters import CentralAnswer, CentralCall
from common.errors import (
    ApiError,
    BadRequest,
    DeadlineExceeded,
    Forbidden,
    NotFound,
    TooManyRequests,
    Unavailable,
)
from edge_models.base import EdgeInput
from edge_models.batcher import QueueFull
from edge_models.errors import InputError
from edge_models.registry import UnknownModel
from edge_models.runtime import EdgeRuntime, NotReady
from router.cache import EdgeCache
from router.fetch import ImageFetcher
from router.jobs import Job, JobInput, JobParams, Result, to_central_call
from router.latency import LatencyEstimator
from router.metrics import EdgeMetrics
from router.policy import Decision, PolicyChain, RouteState, RoutingConfig
from router.privacy import RedactionMap, Redactor

log = logging.getLogger(__name__)

REJECT_ERRORS: dict[int, type[ApiError]] = {
    400: BadRequest,
    403: Forbidden,
    404: NotFound,
    429: TooManyRequests,
    503: Unavailable,
    504: DeadlineExceeded,
}


class CentralGateway(Protocol):
    """What the pipeline needs from the central client."""

    def tasks(self) -> frozenset[str]:
        """Tasks the central advertises."""

    def available(self) -> tuple[bool, float]:
        """Whether a call may be made now, and else the seconds until it may."""

    def describe(self) -> dict[str, Any]:
        """State for `/readyz`."""

    async def call(self, call: CentralCall) -> CentralAnswer:
        """Run a call on the central service."""

    def stream(self, call: CentralCall) -> AsyncIterator[dict[str, Any]]:
        """Stream a generate call's events."""


class Pipeline:
    """Routes and executes jobs, recording latency per path."""

    def __init__(
        self,
        edge: EdgeRuntime,
        central: CentralGateway | None,
        policy: PolicyChain,
        metrics: EdgeMetrics,
        routing: RoutingConfig | None = None,
        redactor: Redactor | None = None,
        estimator: LatencyEstimator | None = None,
        cache: EdgeCache | None = None,
        fetcher: ImageFetcher | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.edge = edge
        self.central = central
        self._policy = policy
        self._metrics = metrics
        self._routing = routing or RoutingConfig()
        self._redactor = redactor or Redactor()
        self.latency = estimator or LatencyEstimator()
        self.cache = cache
        self._fetcher = fetcher
        # Items admitted to the edge and not yet answered, per task: the queue as the router
        # sees it, which includes work decided but not yet handed to a batcher.
        self._edge_in_flight: Counter[str] = Counter()
        self._clock = clock

    # --- deciding -----------------------------------------------------------------------

    def state(self) -> RouteState:
        """Snapshot what the router knows right now."""
        specs = self.edge.specs()
        depths = self.edge.queue_depths()
        available, retry_after = self.central.available() if self.central else (False, 30.0)
        p50, p95 = self.latency.snapshot((0.5, 0.95))
        return RouteState(
            edge_tasks=frozenset(s.task for s in specs),
            edge_models=frozenset(s.name for s in specs),
            central_tasks=self.central.tasks() if self.central else frozenset(),
            central_available=available,
            central_retry_after_s=retry_after,
            edge_queue=depths,
            task_queue={
                s.task: max(depths.get(s.name, 0), self._edge_in_flight[s.task]) for s in specs
            },
            latency_p95_ms=p95,
            latency_p50_ms=p50,
            edge_workers=self.edge.workers_per_model,
            now=self._clock(),
            config=self._routing,
        )

    async def fetch_images(self, job: Job) -> Job:
        """Edge image tasks given `image_url`: fetch the bytes here (SSRF-guarded).

        Other tasks pass the URL on to the central unchanged.
        """
        if job.task != "classify_image" or not any(i.image_url and not i.image for i in job.inputs):
            return job
        if self._fetcher is None:
            raise BadRequest("image_url is not supported here; send `image`", "url_not_allowed")
        inputs = []
        for item in job.inputs:
            if item.image_url and not item.image:
                item = dataclasses.replace(item, image=await self._fetcher.fetch(item.image_url))
            inputs.append(item)
        return dataclasses.replace(job, inputs=tuple(inputs))

    def with_privacy(self, job: Job) -> Job:
        """The job with the kinds of PII its texts contain."""
        if self._routing.privacy_mode == "off":
            return job
        kinds = frozenset(k for text in job.texts() for k in self._redactor.kinds(text))
        return dataclasses.replace(job, pii_kinds=kinds) if kinds else job

    def decide(self, job: Job) -> tuple[Decision, RouteState]:
        """The decision for a job and the state it was made on (executes nothing)."""
        return self._decide(self.with_privacy(job))

    def _decide(self, job: Job) -> tuple[Decision, RouteState]:
        if not self.edge.ready and job.pinned_edge_model is not None:
            raise Unavailable("edge models are loading", "not_ready", retry_after_s=5)
        state = self.state()
        return self._policy.decide(job, state), state

    def admit(self, job: Job) -> Decision:
        """Decide (PII already detected), count the decision, raise a rejection as its error."""
        decision, _ = self._decide(job)
        self._metrics.decisions.labels(decision.target, decision.reason).inc()
        if decision.target == "reject":
            error = REJECT_ERRORS.get(decision.status or 400, BadRequest)
            raise error(decision.message, decision.reason, retry_after_s=decision.retry_after_s)
        return decision

    # --- executing ----------------------------------------------------------------------

    async def execute(self, job: Job, cache_control: str | None = None) -> Result:
        """Run a job: privacy, cache, decide, execute within its deadline, restore PII.

        What leaves the edge, and what the cache stores, is the redacted form; the caller's
        values are put back only in the answer it receives.
        """
        job = self.with_privacy(await self.fetch_images(job))
        mapping = RedactionMap()
        outgoing = self.redact(job, mapping)
        if self.cache is None or job.params.stream:
            result = await self._decide_and_run(job, outgoing)
        else:
            result, source = await self.cache.run(
                job, cache_control, lambda: self._decide_and_run(job, outgoing)
            )
            if source is not None:
                result = dataclasses.replace(result, route="cache", reason=f"cache:{source}")
        if len(mapping):
            restored = self._redactor.restore_json(result.outputs, mapping)
            result = dataclasses.replace(result, outputs=restored)  # type: ignore[arg-type]
        return result

    async def _decide_and_run(self, job: Job, outgoing: Job) -> Result:
        decision = self.admit(job)
        remaining = None if job.deadline is None else job.deadline - self._clock()
        if remaining is not None and remaining <= 0:
            raise DeadlineExceeded("the request's deadline passed before work started")
        started = self._clock()
        items = len(job.inputs) if decision.target == "edge" else 0
        self._edge_in_flight[job.task] += items
        try:
            async with asyncio.timeout(remaining):
                if decision.target == "edge":
                    result = await self._run_edge(job, outgoing, decision)
                else:
                    result = await self._run_central(outgoing, decision)
        except (TimeoutError, DeadlineExceeded) as exc:
            # A timeout only says "longer than this": count it as twice as long, so that
            # deadline-bound jobs avoid the path until fresher samples arrive.
            elapsed_ms = (self._clock() - started) * 1000
            self.latency.record(decision.target, job.task, 2 * elapsed_ms)
            if isinstance(exc, DeadlineExceeded):
                raise
            raise DeadlineExceeded("the request's deadline passed") from None
        finally:
            self._edge_in_flight[job.task] -= items
        self.latency.record(result.route, job.task, (self._clock() - started) * 1000)
        return result

    async def _run_edge(self, job: Job, outgoing: Job, decision: Decision) -> Result:
        try:
            model = (
                self.edge.registry.by_name(job.pinned_edge_model)
                if job.pinned_edge_model
                else self.edge.registry.for_task(job.task)
            )
        except NotReady as exc:
            raise Unavailable(str(exc), "not_ready", retry_after_s=5) from None
        except UnknownModel as exc:
            raise NotFound(str(exc), "unknown_model") from None
        outputs = await self.run_edge_items(model.spec.name, job.edge_inputs())
        result = Result(outputs, "edge", decision.reason, model.spec.name)
        if decision.cascade:
            return await self._escalate(outgoing, result)
        return result

    async def run_edge_items(self, model: str, items: list[EdgeInput]) -> list[dict[str, Any]]:
        """Admit the request, then run its items concurrently; the first bad item fails it."""
        try:
            self.edge.admit(model)
        except QueueFull as exc:
            raise TooManyRequests(
                str(exc), "edge_overloaded", retry_after_s=exc.retry_after_s
            ) from None
        results = await asyncio.gather(
            *(self.edge.run(model, item) for item in items), return_exceptions=True
        )
        for index, result in enumerate(results):
            if isinstance(result, InputError):
                raise BadRequest(f"inputs[{index}]: {result}", result.code)
            if isinstance(result, QueueFull):
                raise TooManyRequests(
                    str(result), "edge_overloaded", retry_after_s=result.retry_after_s
                )
            if isinstance(result, NotReady):
                raise Unavailable(str(result), "not_ready", retry_after_s=5)
            if isinstance(result, BaseException):
                raise result
        return list(results)  # type: ignore[arg-type]

    async def _escalate(self, job: Job, edge: Result) -> Result:
        """Re-answer low-confidence edge classifications with the central LLM classifier."""
        threshold = self._routing.cascade_threshold
        low = [i for i, o in enumerate(edge.outputs) if o["labels"][0]["score"] < threshold]
        outputs = [{**o, "answered_by": "edge"} for o in edge.outputs]
        if not low or self.central is None:
            return dataclasses.replace(edge, outputs=outputs, reason="cascade:edge-confident")
        sub_job = dataclasses.replace(job, inputs=tuple(job.inputs[i] for i in low))
        try:
            answer = await self.central.call(to_central_call(sub_job))
        except ApiError as exc:
            log.warning("cascade escalation failed (%s); keeping the edge answer", exc.code)
            return dataclasses.replace(edge, outputs=outputs, reason="cascade:central-failed")
        for index, output in zip(low, answer.outputs, strict=True):
            if "labels" in output:
                outputs[index] = {
                    **output,
                    "answered_by": "central",
                    "edge_labels": edge.outputs[index]["labels"],
                }
        return Result(
            outputs, "central", "cascade:escalated", answer.model or edge.model, answer.usage
        )

    async def _run_central(self, outgoing: Job, decision: Decision) -> Result:
        if self.central is None:
            raise Unavailable(
                "no central service is configured (set HYBRID_ROUTER_CENTRAL__SECRET)",
                "central_unconfigured",
                retry_after_s=30,
            )
        answer = await self.central.call(to_central_call(outgoing))
        return Result(answer.outputs, "central", decision.reason, answer.model, answer.usage)

    def redact(self, job: Job, mapping: RedactionMap) -> Job:
        """The job with PII in its texts replaced by placeholders recorded in `mapping`."""
        if not job.pii_kinds or self._routing.privacy_mode != "redact":
            return job
        inputs = tuple(
            dataclasses.replace(
                item,
                text=self._redactor.redact(item.text, mapping) if item.text else item.text,
                messages=tuple((r, self._redactor.redact(c, mapping)) for r, c in item.messages),
            )
            for item in job.inputs
        )
        return dataclasses.replace(job, inputs=inputs)

    # --- streaming ----------------------------------------------------------------------

    async def open_stream(self, job: Job) -> tuple[AsyncIterator[dict[str, Any]], Decision]:
        """Decide, then open the central's event stream for a generate job.

        The same path as `execute`: privacy, policy (a rejection raises its error before
        anything is streamed), redaction of what leaves the edge, and the caller's values put
        back into the streamed text, even when a placeholder is split across events.
        """
        job = self.with_privacy(job)
        decision = self.admit(job)
        if decision.target != "central" or self.central is None:
            raise Unavailable(
                "streaming needs the central service; it is not available",
                "central_unconfigured",
                retry_after_s=30,
            )
        mapping = RedactionMap()
        events = self.central.stream(to_central_call(self.redact(job, mapping)))
        if not len(mapping):
            return events, decision
        return self._restored(events, mapping), decision

    async def _restored(
        self, events: AsyncIterator[dict[str, Any]], mapping: RedactionMap
    ) -> AsyncIterator[dict[str, Any]]:
        """Events with placeholders in `text` replaced by the caller's values."""
        pending = ""
        try:
            async for event in events:
                if "text" in event:
                    pending += str(event["text"])
                    cut = _safe_cut(pending) if not event.get("finish_reason") else len(pending)
                    ready, pending = pending[:cut], pending[cut:]
                    event = {**event, "text": self._redactor.restore(ready, mapping)}
                yield event
            if pending:
                yield {"text": self._redactor.restore(pending, mapping)}
        finally:
            await events.aclose()  # type: ignore[attr-defined]

    # --- seeding the latency estimates ---------------------------------------------------

    async def warm_up_probe(self) -> None:
        """Time one small request per edge model and one on the central, to seed estimates."""
        await self.edge.wait_ready()
        probes = {
            "embed": EdgeInput(text="probe"),
            "classify": EdgeInput(text="probe", labels=("a", "b")),
        }
        for spec in self.edge.specs():
            if spec.task in probes:
                started = self._clock()
                await self.edge.run(spec.name, probes[spec.task])
                self.latency.record("edge", spec.task, (self._clock() - started) * 1000)
        if self.central is not None and "generate" in self.central.tasks():
            probe = Job(
                request_id="warm-up-probe",
                model="auto",
                task="generate",
                inputs=(JobInput(text="Hi"),),
                params=JobParams(max_tokens=1),
            )
            started = self._clock()
            try:
                await self.central.call(to_central_call(probe))
            except ApiError as exc:
                log.info("central warm-up probe failed: %s", exc.code)
                return
            self.latency.record("central", "generate", (self._clock() - started) * 1000)


MAX_PLACEHOLDER_CHARS = 40


def _safe_cut(text: str) -> int:
    """Where streamed text may be cut without splitting a `[KIND_n]` placeholder."""
    start = text.rfind("[")
    if start == -1 or "]" in text[start:] or len(text) - start > MAX_PLACEHOLDER_CHARS:
        return len(text)
    return start
