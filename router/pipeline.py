"""The one staged path of every job, whatever its transport.

authorize → detect PII (once) → fetch media → cache → decide → execute (edge, cascade or
central, within the deadline) → restore PII. Outcomes go to the `Recorder`; the transport's
codec turns the `Result` (or the raised ApiError) into its own framing.
"""

import asyncio
import dataclasses
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from common.errors import ApiError, DeadlineExceeded, Unavailable
from edge_models.base import EdgeInput
from edge_models.registry import UnknownModel
from edge_models.runtime import EdgeRuntime, NotReady
from edge_models.text import ZeroShotClassifier
from router.auth import TASK_ACTIONS, AccessControl
from router.cache import EdgeCache
from router.cascade import escalate
from router.central_call import to_central_call
from router.context import CallContext
from router.edge_stage import fetch_media, run_edge_items
from router.fetch import ImageFetcher
from router.gateway import CentralGateway
from router.jobs import Job, Result
from router.policy import PolicyChain
from router.privacy import RedactionMap
from router.privacy_stage import PrivacyStage
from router.recorder import Recorder, traced_stream
from router.route_state import Decision, RouteState, RoutingConfig
from router.speech_trim import transcribe
from router.warmup import warm_up_probe

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Stages:
    """The stages around routing: access, privacy, media fetching and the response cache."""

    privacy: PrivacyStage
    access: AccessControl | None = None
    cache: EdgeCache | None = None
    fetcher: ImageFetcher | None = None


class Pipeline:
    """Routes and executes jobs through the stages, reporting to one recorder."""

    def __init__(
        self,
        edge: EdgeRuntime,
        central: CentralGateway | None,
        policy: PolicyChain,
        routing: RoutingConfig,
        recorder: Recorder,
        stages: Stages,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.edge = edge
        self.central = central
        self.routing = routing
        self.recorder = recorder
        self.stages = stages
        self._policy = policy
        self._clock = clock
        # Items admitted to the edge and not yet answered, per task: the queue as the router
        # sees it, including work decided but not yet handed to a batcher.
        self._edge_in_flight: Counter[str] = Counter()

    # --- the path ------------------------------------------------------------------------

    async def handle(self, ctx: CallContext, job: Job) -> Result:
        """Run a job through every stage; what leaves the edge (and is cached) is redacted."""
        ctx.trace.task, ctx.trace.model = job.task, job.model
        self.authorize(ctx, job)
        job = await self.stages.privacy.detect(job)
        job = await fetch_media(job, self.stages.fetcher)
        mapping = RedactionMap()
        outgoing = await self._outgoing(ctx, job, mapping)
        cache = self.stages.cache
        if cache is None or job.params.stream or job.params.passthrough():
            result = await self._decide_and_run(job, outgoing)
        else:
            result, source = await cache.run(
                job, ctx.cache_control, lambda: self._decide_and_run(job, outgoing)
            )
            if source is not None:
                result = dataclasses.replace(result, route="cache", reason=f"cache:{source}")
        restored = self.stages.privacy.restore(result.outputs, mapping)
        if restored is not result.outputs:  # nothing was redacted: the same result
            result = dataclasses.replace(result, outputs=restored)
        trace = ctx.trace
        trace.route, trace.reason, trace.model = result.route, result.reason, result.model
        trace.usage = dict(result.usage)
        return result

    async def open_stream(
        self, ctx: CallContext, job: Job
    ) -> tuple[AsyncIterator[dict[str, Any]], Decision]:
        """The same stages for a streamed generate job; the events carry restored text.

        A rejection raises its error before anything is streamed. Token counts of the final
        event reach the recorder through the context's trace.
        """
        ctx.trace.task, ctx.trace.model = job.task, job.model
        self.authorize(ctx, job)
        job = await self.stages.privacy.detect(job)
        decision = self.admit(job)
        if decision.target != "central" or self.central is None:
            raise Unavailable(
                "streaming needs the central service; it is not available",
                "central_unconfigured",
                retry_after_s=30,
            )
        mapping = RedactionMap()
        outgoing = await self._outgoing(ctx, job, mapping)
        events = self.central.stream(to_central_call(outgoing))
        if len(mapping):
            events = self.stages.privacy.restore_stream(events, mapping)
        return traced_stream(events, ctx.trace, decision.reason), decision

    async def _outgoing(self, ctx: CallContext, job: Job, mapping: RedactionMap) -> Job:
        """The job as it may leave the edge: redacted, due by the context's deadline."""
        outgoing = await self.stages.privacy.redact_off_loop(job, mapping)
        ctx.trace.job = outgoing
        return dataclasses.replace(outgoing, deadline=ctx.deadline)

    def authorize(self, ctx: CallContext, job: Job, action: str | None = None) -> None:
        """403 unless the caller may run this task (or `action`) on this model."""
        if self.stages.access is not None:
            self.stages.access.check(
                ctx.principal, ctx.source_ip, action or TASK_ACTIONS[job.task], f"model/{job.model}"
            )

    async def explain(self, ctx: CallContext, job: Job) -> tuple[Decision, RouteState, Job]:
        """The decision for a job, the state it was made on and the job as seen (no execution)."""
        self.authorize(ctx, job, "multimodal:Route")
        self.authorize(ctx, job)
        job = await self.stages.privacy.detect(job)
        decision, state = self._decide(job)
        return decision, state, job

    # --- deciding ------------------------------------------------------------------------

    def state(self) -> RouteState:
        """Snapshot what the router knows right now."""
        specs = self.edge.specs()
        depths = self.edge.queue_depths()
        available, retry_after = self.central.available() if self.central else (False, 30.0)
        p50, p95 = self.recorder.latency.snapshot((0.5, 0.95))
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
            config=self.routing,
        )

    def _decide(self, job: Job) -> tuple[Decision, RouteState]:
        if not self.edge.ready and job.pinned_edge_model is not None:
            raise Unavailable("edge models are loading", "not_ready", retry_after_s=5)
        state = self.state()
        return self._policy.decide(job, state), state

    def admit(self, job: Job) -> Decision:
        """Decide (PII already detected), count the decision, raise a rejection as its error."""
        decision, _ = self._decide(job)
        self.recorder.decision(decision)
        if decision.target == "reject":
            raise ApiError.for_status(
                decision.status or 400, decision.message, decision.reason, decision.retry_after_s
            )
        return decision

    # --- executing -----------------------------------------------------------------------

    async def _decide_and_run(self, job: Job, outgoing: Job) -> Result:
        decision = self.admit(job)
        deadline = outgoing.deadline
        remaining = None if deadline is None else deadline - self._clock()
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
            # A timeout only says "longer than this": a censored sample, which decays fast.
            elapsed_ms = (self._clock() - started) * 1000
            self.recorder.path_timeout(decision.target, job.task, elapsed_ms)
            if isinstance(exc, DeadlineExceeded):
                raise
            raise DeadlineExceeded("the request's deadline passed") from None
        finally:
            self._edge_in_flight[job.task] -= items
        self.recorder.path_latency(result.route, job.task, (self._clock() - started) * 1000)
        return result

    async def _run_edge(self, job: Job, outgoing: Job, decision: Decision) -> Result:
        try:
            registry = self.edge.registry
            model = (
                registry.by_name(job.pinned_edge_model)
                if job.pinned_edge_model
                else registry.for_task(job.task)
            ).spec.name
        except NotReady as exc:
            raise Unavailable(str(exc), "not_ready", retry_after_s=5) from None
        except UnknownModel as exc:
            raise ApiError.for_status(404, str(exc), "unknown_model") from None
        result = Result(
            await self.run_edge_items(model, job.edge_inputs()), "edge", decision.reason, model
        )
        if decision.cascade:
            call = self.central.call if self.central is not None else None
            classifier = registry.by_name(model)
            calibrated = (  # a label set's held-out threshold wins over the configured one
                classifier.cascade_threshold(job.params.label_set)
                if isinstance(classifier, ZeroShotClassifier)
                else None
            )
            threshold = self.routing.cascade_threshold if calibrated is None else calibrated
            return await escalate(outgoing, result, threshold, call)
        return result

    async def run_edge_items(self, model: str, items: list[EdgeInput]) -> list[dict[str, Any]]:
        """Admit the request and run its items on one model; the first bad item fails it."""
        return await run_edge_items(self.edge, model, items)

    async def _run_central(self, outgoing: Job, decision: Decision) -> Result:
        if self.central is None:
            raise Unavailable(
                "no central service is configured (set HYBRID_ROUTER_CENTRAL__SECRET)",
                "central_unconfigured",
                retry_after_s=30,
            )
        if outgoing.task == "transcribe":  # the edge's VAD trims the audio first
            return await transcribe(
                self, self.central.call, self.recorder.metrics, outgoing, decision
            )
        answer = await self.central.call(to_central_call(outgoing))
        reason = (
            f"{decision.reason};provider={answer.provider}" if answer.provider else decision.reason
        )
        return Result(answer.outputs, "central", reason, answer.model, answer.usage)

    async def warm_up_probe(self) -> None:
        """Seed the latency estimates with one small request per path."""
        await warm_up_probe(self.edge, self.central, self.recorder, self._clock)
