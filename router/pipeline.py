"""The one path every request takes after parsing: decide, execute, record."""

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from central.adapters import CentralAnswer, CentralCall
from central.errors import (
    ApiError,
    BadRequest,
    DeadlineExceeded,
    NotFound,
    TooManyRequests,
    Unavailable,
)
from edge_models.batcher import QueueFull
from edge_models.errors import InputError
from edge_models.registry import UnknownModel
from edge_models.runtime import EdgeRuntime, NotReady
from router.jobs import Job, to_central_call
from router.metrics import EdgeMetrics
from router.policy import Decision, PolicyChain, RouteState

REJECT_ERRORS: dict[int, type[ApiError]] = {
    400: BadRequest,
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


@dataclass(frozen=True)
class Result:
    """A job's outputs and how they were produced."""

    outputs: list[dict[str, Any]]
    route: str
    reason: str
    model: str
    usage: dict[str, int] = field(default_factory=dict)


class Pipeline:
    """Routes and executes jobs, recording latency per path."""

    def __init__(
        self,
        edge: EdgeRuntime,
        central: CentralGateway | None,
        policy: PolicyChain,
        metrics: EdgeMetrics,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.edge = edge
        self.central = central
        self._policy = policy
        self._metrics = metrics
        self._clock = clock

    def state(self) -> RouteState:
        """Snapshot what the router knows right now."""
        specs = self.edge.specs()
        available, retry_after = self.central.available() if self.central else (False, 30.0)
        return RouteState(
            edge_tasks=frozenset(s.task for s in specs),
            edge_models=frozenset(s.name for s in specs),
            central_tasks=self.central.tasks() if self.central else frozenset(),
            central_available=available,
            central_retry_after_s=retry_after,
            edge_queue=self.edge.queue_depths(),
        )

    def decide(self, job: Job) -> tuple[Decision, RouteState]:
        """The decision for a job and the state it was made on (executes nothing)."""
        if not self.edge.ready and job.pinned_edge_model is not None:
            raise Unavailable("edge models are loading", "not_ready", retry_after_s=5)
        state = self.state()
        return self._policy.decide(job, state), state

    async def execute(self, job: Job) -> Result:
        """Decide and run the job within its deadline."""
        decision, _ = self.decide(job)
        self._metrics.decisions.labels(decision.target, decision.reason).inc()
        if decision.target == "reject":
            error = REJECT_ERRORS.get(decision.status or 400, BadRequest)
            raise error(decision.message, decision.reason, retry_after_s=decision.retry_after_s)
        remaining = None if job.deadline is None else job.deadline - self._clock()
        if remaining is not None and remaining <= 0:
            raise DeadlineExceeded("the request's deadline passed before work started")
        try:
            async with asyncio.timeout(remaining):
                if decision.target == "edge":
                    return await self._run_edge(job, decision)
                return await self._run_central(job, decision)
        except TimeoutError:
            raise DeadlineExceeded("the request's deadline passed") from None

    async def _run_edge(self, job: Job, decision: Decision) -> Result:
        try:
            model = (
                self.edge.registry.by_name(job.pinned_edge_model)
                if (job.pinned_edge_model)
                else self.edge.registry.for_task(job.task)
            )
            results = await asyncio.gather(
                *(self.edge.run(model.spec.name, item) for item in job.edge_inputs()),
                return_exceptions=True,
            )
        except NotReady as exc:
            raise Unavailable(str(exc), "not_ready", retry_after_s=5) from None
        except UnknownModel as exc:
            raise NotFound(str(exc), "unknown_model") from None
        for index, result in enumerate(results):
            if isinstance(result, InputError):
                raise BadRequest(f"inputs[{index}]: {result}", result.code)
            if isinstance(result, QueueFull):
                raise TooManyRequests(str(result), "edge_queue_full", retry_after_s=1)
            if isinstance(result, BaseException):
                raise result
        return Result(list(results), "edge", decision.reason, model.spec.name)  # type: ignore[arg-type]

    async def _run_central(self, job: Job, decision: Decision) -> Result:
        if self.central is None:
            raise Unavailable(
                "no central service is configured", "central_unconfigured", retry_after_s=30
            )
        answer = await self.central.call(to_central_call(job))
        return Result(answer.outputs, "central", decision.reason, answer.model, answer.usage)
