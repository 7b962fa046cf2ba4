"""Routing policies: pure `decide(job, state)` functions composed in a configured order.

Each policy returns a `Decision` when it is decisive, or None to pass the job on; the first
decisive policy wins and `default` closes the chain. Nothing here does I/O: the state is one
frozen snapshot taken by the pipeline.
"""

from collections.abc import Sequence
from typing import ClassVar, Protocol

from router.costs import call_cost
from router.jobs import Job
from router.route_state import (
    CENTRAL_ONLY_TASKS,
    EDGE_QUALITY_TASKS,
    PRIOR_LATENCY_MS,
    TARGETS,
    Decision,
    RouteState,
)


class Policy(Protocol):
    """One routing rule; None means 'not mine to decide'."""

    name: ClassVar[str]

    def decide(self, job: Job, state: RouteState) -> Decision | None:
        """Decide, or pass to the next policy."""


def reject(reason: str, status: int, message: str, retry_after_s: float | None = None) -> Decision:
    """A decision to answer with an error at once."""
    return Decision("reject", reason, status, retry_after_s, message)


def central_unavailable(reason: str, state: RouteState) -> Decision:
    """503 with the breaker's Retry-After."""
    return reject(reason, 503, "the central service is unavailable", state.central_retry_after_s)


class CapabilityPolicy:
    """Reject work no target can do."""

    name: ClassVar[str] = "capability"

    def decide(self, job: Job, state: RouteState) -> Decision | None:
        """No capable target → 400 (503 while a pinned edge model is still loading)."""
        capable = state.capable(job)
        if not capable:
            if job.pinned_edge_model is not None and job.pinned_edge_model not in state.edge_models:
                return reject(
                    "capability:edge-model-not-loaded",
                    503,
                    f"edge model {job.pinned_edge_model!r} is not loaded",
                    5,
                )
            if job.task in CENTRAL_ONLY_TASKS and not state.central_tasks:
                return reject(
                    "capability:central-unconfigured",
                    503,
                    f"task {job.task!r} needs the central service, and none is configured "
                    "(set HYBRID_ROUTER_CENTRAL__SECRET)",
                    state.central_retry_after_s or 30,
                )
            return reject("capability:none", 400, f"no target serves task {job.task!r}")
        return None


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
                return central_unavailable("pinned:central-unavailable", state)
            return Decision("central", "pinned:central")
        return None


class PrivacyPolicy:
    """Jobs with PII stay on the edge (mode `pin`); mode `redact` lets them leave redacted."""

    name: ClassVar[str] = "privacy"

    def decide(self, job: Job, state: RouteState) -> Decision | None:
        """Pin PII to the edge, or refuse when only the central could do it."""
        if not job.pii_kinds or state.config.privacy_mode != "pin":
            return None
        if state.edge_can(job):
            return Decision("edge", "privacy:pii-pinned")
        kinds = ", ".join(sorted(job.pii_kinds))
        return reject(
            "privacy:pii-blocked",
            403,
            f"the request contains personal data ({kinds}) and policy keeps it on "
            "the edge, which cannot do this task",
        )


class HealthPolicy:
    """Central breaker open or quota exhausted → the edge when it can, else 503 at once."""

    name: ClassVar[str] = "health"

    def decide(self, job: Job, state: RouteState) -> Decision | None:
        """Avoid an unavailable central."""
        if state.central_available or not state.central_can(job):
            return None
        if state.edge_can(job):
            return Decision("edge", "health:central-unavailable")
        return central_unavailable("health:central-unavailable", state)


class DeadlinePolicy:
    """With a latency budget, pick a target whose live estimate fits; none fits → 504 now."""

    name: ClassVar[str] = "deadline"

    def decide(self, job: Job, state: RouteState) -> Decision | None:
        """Compare each capable target's estimate with the remaining budget."""
        if job.deadline is None:
            return None
        budget = (job.deadline - state.now) * 1000
        capable = [t for t in state.capable(job) if t != "central" or state.central_available]
        estimates = {t: state.estimate_ms(t, job) for t in capable}
        expected = {
            t: PRIOR_LATENCY_MS.get(t, 0.0) if est is None else est for t, est in estimates.items()
        }
        fitting = [t for t, est in expected.items() if est <= budget]
        if not fitting:
            shown = ", ".join(
                f"{t}≈{est:.0f} ms" + (" (no recent samples)" if estimates[t] is None else "")
                for t, est in expected.items()
            )
            return reject(
                "deadline:none-fits", 504, f"no target can answer within {budget:.0f} ms ({shown})"
            )
        if len(fitting) == 1:
            return Decision(fitting[0], f"deadline:{fitting[0]}-fits")  # type: ignore[arg-type]
        return None


class SizePolicy:
    """Inputs over the edge's limits (text, image pixels, audio seconds) go central."""

    name: ClassVar[str] = "size"

    def decide(self, job: Job, state: RouteState) -> Decision | None:
        """Oversized work goes where it fits."""
        if not state.central_can(job) or not state.central_available:
            return None
        cfg = state.config
        edge_better = job.task in EDGE_QUALITY_TASKS and job.task not in cfg.central_better_tasks
        if edge_better and state.edge_can(job):
            return None  # quality, not size, decides: the edge chunks long text and flags it
        if job.text_chars() > cfg.max_edge_text_chars:
            return Decision("central", "size:text-over-edge-limit")
        if job.max_image_pixels() > cfg.max_edge_image_pixels:
            return Decision("central", "size:image-over-edge-limit")
        if job.max_audio_seconds() > cfg.max_edge_audio_seconds:
            return Decision("central", "size:audio-over-edge-limit")
        return None


class LoadPolicy:
    """Edge queue over the threshold and a healthy central → offload work both can do."""

    name: ClassVar[str] = "load"

    def decide(self, job: Job, state: RouteState) -> Decision | None:
        """Offload when the edge is saturated."""
        both = state.edge_can(job) and state.central_can(job) and state.central_available
        if both and state.task_queue.get(job.task, 0) >= state.config.edge_queue_threshold:
            return Decision("central", "load:edge-saturated")
        return None


class CascadePolicy:
    """Edge `classify` answers; below the confidence threshold the central LLM re-answers."""

    name: ClassVar[str] = "cascade"

    def decide(self, job: Job, state: RouteState) -> Decision | None:
        """Classify on the edge with escalation armed."""
        if not state.config.cascade_enabled or job.task != "classify":
            return None
        if state.edge_can(job) and state.central_can(job) and state.central_available:
            return Decision("edge", "cascade:edge-first", cascade=True)
        return None


class CostPolicy:
    """Among capable targets, the cheaper wins (estimated from the job's size)."""

    name: ClassVar[str] = "cost"

    def decide(self, job: Job, state: RouteState) -> Decision | None:
        """Pick the cheapest capable, available target."""
        capable = [t for t in state.capable(job) if t != "central" or state.central_available]
        if len(capable) < 2:
            return None
        prompt_tokens, completion_tokens = job.text_chars() / 4, job.params.max_tokens
        prices = state.config.costs
        costs = {t: call_cost(prices, t, prompt_tokens, completion_tokens) for t in capable}
        cheapest = min(costs, key=lambda t: (costs[t], TARGETS.index(t)))
        return Decision(cheapest, f"cost:{cheapest}-cheaper")  # type: ignore[arg-type]


class DefaultPolicy:
    """The edge when it can (local, private, free), else the central."""

    name: ClassVar[str] = "default"

    def decide(self, job: Job, state: RouteState) -> Decision | None:
        """Prefer the edge."""
        if state.edge_can(job):
            return Decision("edge", "default:edge-capable")
        if state.central_can(job):
            if not state.central_available:
                return central_unavailable("health:central-unavailable", state)
            return Decision("central", "capability:central-only")
        return reject("capability:none", 400, f"no target serves task {job.task!r}")


POLICIES: dict[str, type[Policy]] = {
    p.name: p
    for p in (
        CapabilityPolicy,
        PinningPolicy,
        PrivacyPolicy,
        HealthPolicy,
        DeadlinePolicy,
        SizePolicy,
        LoadPolicy,
        CascadePolicy,
        CostPolicy,
        DefaultPolicy,
    )
}


class UnknownPolicy(ValueError):
    """A configured policy name that does not exist."""


class PolicyChain:
    """Policies in order; the first decisive one wins, `default` closes the chain."""

    def __init__(self, policies: Sequence[Policy]) -> None:
        self._policies = [*policies, DefaultPolicy()]

    @property
    def names(self) -> list[str]:
        """The configured order, `default` last."""
        return [p.name for p in self._policies]

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
