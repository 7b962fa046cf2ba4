"""Routing policies: pure `decide(job, state)` functions composed in a configured order."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import ClassVar, Literal, Protocol

from router.jobs import Job

Target = Literal["edge", "central", "reject"]


@dataclass(frozen=True)
class Decision:
    """Where a job goes and why; `reject` carries the HTTP status to answer with."""

    target: Target
    reason: str
    status: int | None = None
    retry_after_s: float | None = None
    message: str = ""


@dataclass(frozen=True)
class RouteState:
    """One frozen snapshot of what the router knows when it decides."""

    edge_tasks: frozenset[str] = frozenset()
    edge_models: frozenset[str] = frozenset()
    central_tasks: frozenset[str] = frozenset()
    central_available: bool = True
    central_retry_after_s: float = 0.0
    edge_queue: Mapping[str, int] = field(default_factory=dict)
    latency_ms: Mapping[tuple[str, str], float] = field(default_factory=dict)
    pii_kinds: frozenset[str] = frozenset()

    def edge_can(self, job: Job) -> bool:
        """The edge serves this task (and the pinned model, if any)."""
        if job.pinned_edge_model is not None:
            return job.pinned_edge_model in self.edge_models
        return job.task in self.edge_tasks

    def central_can(self, job: Job) -> bool:
        """The central serves this task, and the job is not pinned to an edge model."""
        return job.pinned_edge_model is None and job.task in self.central_tasks


class Policy(Protocol):
    """One routing rule; None means 'not mine to decide'."""

    name: ClassVar[str]

    def decide(self, job: Job, state: RouteState) -> Decision | None:
        """Decide, or pass to the next policy."""


def reject(reason: str, status: int, message: str, retry_after_s: float | None = None) -> Decision:
    """A decision to answer with an error at once."""
    return Decision("reject", reason, status, retry_after_s, message)


class CapabilityPolicy:
    """Reject work no target can do."""

    name: ClassVar[str] = "capability"

    def decide(self, job: Job, state: RouteState) -> Decision | None:
        """No capable target → 400 naming the task."""
        if state.edge_can(job) or state.central_can(job):
            return None
        if job.task in state.edge_tasks or job.task in state.central_tasks:
            return None  # capable in principle; a later policy explains why not here
        return reject("capability:none", 400, f"no target serves task {job.task!r}")


class PinningPolicy:
    """`parameters.route`, or an edge model's name in the path, pins the target."""

    name: ClassVar[str] = "pinning"

    def decide(self, job: Job, state: RouteState) -> Decision | None:
        """Honour the pin when the pinned target can do the task."""
        if job.pinned_edge_model is not None or job.params.route == "edge":
            if state.edge_can(job):
                return Decision("edge", "pinned:edge")
            return reject("pinned:edge-unable", 400, f"the edge cannot do task {job.task!r}")
        if job.params.route == "central":
            if not state.central_can(job):
                return reject(
                    "pinned:central-unable", 400, f"the central cannot do task {job.task!r}"
                )
            if not state.central_available:
                return reject(
                    "pinned:central-unavailable",
                    503,
                    "the central service is unavailable",
                    state.central_retry_after_s,
                )
            return Decision("central", "pinned:central")
        return None


class HealthPolicy:
    """Central breaker open or quota exhausted → the edge when it can, else 503 at once."""

    name: ClassVar[str] = "health"

    def decide(self, job: Job, state: RouteState) -> Decision | None:
        """Avoid an unavailable central."""
        if state.central_available or not state.central_can(job):
            return None
        if state.edge_can(job):
            return Decision("edge", "health:central-unavailable")
        return reject(
            "health:central-unavailable",
            503,
            "the central service is unavailable",
            state.central_retry_after_s,
        )


class DefaultPolicy:
    """The edge when it can (local, private, free), else the central."""

    name: ClassVar[str] = "default"

    def decide(self, job: Job, state: RouteState) -> Decision | None:
        """Prefer the edge."""
        if state.edge_can(job):
            return Decision("edge", "default:edge-capable")
        if state.central_can(job):
            return Decision("central", "capability:central-only")
        return reject("capability:none", 400, f"no target serves task {job.task!r}")


POLICIES: dict[str, type[Policy]] = {
    p.name: p for p in (CapabilityPolicy, PinningPolicy, HealthPolicy, DefaultPolicy)
}
DEFAULT_ORDER = ("capability", "pinning", "health")


class UnknownPolicy(ValueError):
    """A configured policy name that does not exist."""


class PolicyChain:
    """Policies in order; the first decisive one wins, `default` closes the chain."""

    def __init__(self, policies: Sequence[Policy]) -> None:
        self._policies = [*policies, DefaultPolicy()]

    @classmethod
    def from_names(cls, names: Sequence[str]) -> "PolicyChain":
        """Build from configured names; unknown names list the valid ones."""
        unknown = [n for n in names if n not in POLICIES]
        if unknown:
            raise UnknownPolicy(f"unknown policies {unknown}; valid: {sorted(POLICIES)}")
        return cls([POLICIES[n]() for n in names if n != "default"])

    def decide(self, job: Job, state: RouteState) -> Decision:
        """Ask each policy in turn."""
        for policy in self._policies:
            decision = policy.decide(job, state)
            if decision is not None:
                return decision
        raise AssertionError("DefaultPolicy always decides")
