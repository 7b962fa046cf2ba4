"""Routing policies: pure `decide(job, state)` functions composed in a configured order.

Each policy returns a `Decision` when it is decisive, or None to pass the job on; the first
decisive policy wins and `default` closes the chain. Nothing here does I/O: the state is one
frozen snapshot taken by the pipeline.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import ClassVar, Literal, Protocol

from router.jobs import Job

Target = Literal["edge", "central", "reject"]
TARGETS = ("edge", "central")


@dataclass(frozen=True)
class Decision:
    """Where a job goes and why; `reject` carries the HTTP status to answer with."""

    target: Target
    reason: str
    status: int | None = None
    retry_after_s: float | None = None
    message: str = ""
    cascade: bool = False  # edge answers, the central re-answers when edge confidence is low


@dataclass(frozen=True)
class Costs:
    """What a call costs on a target: per call and per 1k tokens."""

    per_call: float = 0.0
    per_1k_tokens: float = 0.0


CENTRAL_ONLY_TASKS = frozenset({"generate", "transcribe"})  # no edge model does these


@dataclass(frozen=True)
class RoutingConfig:
    """Thresholds the policies read (from the `routing` config section)."""

    max_edge_text_chars: int = 4000
    max_edge_image_pixels: int = 16_000_000
    max_edge_audio_seconds: float = 300.0
    edge_queue_threshold: int = 64
    cascade_threshold: float = 0.6
    cascade_enabled: bool = False  # worth it only with a central better than the edge
    privacy_mode: Literal["pin", "redact", "off"] = "redact"  # settings read this default
    # Tasks whose central answer can stand in for the edge's. Not `embed`: the central's
    # vectors live in another space, so they are only used when the caller pins the central.
    interchangeable_tasks: frozenset[str] = frozenset({"classify", "generate", "transcribe"})
    # Tasks the edge does well even on long inputs (it chunks or truncates and flags it); the
    # size policy sends them to the central only when listed in `central_better_tasks`.
    edge_quality_tasks: frozenset[str] = frozenset({"classify", "embed"})
    central_better_tasks: frozenset[str] = frozenset()
    costs: Mapping[str, Costs] = field(
        default_factory=lambda: {"edge": Costs(), "central": Costs(0.0005, 0.002)}
    )
    # Latency assumed for a target with no recent samples (the deadline check must not
    # promise a 1 ms answer it has never seen): about a warm edge model's single call, and
    # a small central generate.
    prior_latency_ms: Mapping[str, float] = field(
        default_factory=lambda: {"edge": 5.0, "central": 250.0}
    )


@dataclass(frozen=True)
class RouteState:
    """One frozen snapshot of what the router knows when it decides."""

    edge_tasks: frozenset[str] = frozenset()
    edge_models: frozenset[str] = frozenset()
    central_tasks: frozenset[str] = frozenset()
    central_available: bool = True
    central_retry_after_s: float = 0.0
    edge_queue: Mapping[str, int] = field(default_factory=dict)
    task_queue: Mapping[str, int] = field(default_factory=dict)
    latency_p95_ms: Mapping[tuple[str, str], float] = field(default_factory=dict)
    latency_p50_ms: Mapping[tuple[str, str], float] = field(default_factory=dict)
    edge_workers: int = 1
    now: float = 0.0  # monotonic time of the snapshot, for deadlines
    config: RoutingConfig = field(default_factory=RoutingConfig)

    def edge_can(self, job: Job) -> bool:
        """The edge serves this task (and the pinned model, if any)."""
        if job.pinned_edge_model is not None:
            return job.pinned_edge_model in self.edge_models
        return job.task in self.edge_tasks

    def central_can(self, job: Job) -> bool:
        """The central serves this task interchangeably (or is pinned), edge model not pinned."""
        if job.pinned_edge_model is not None or job.task not in self.central_tasks:
            return False
        return job.params.route == "central" or job.task in self.config.interchangeable_tasks

    def capable(self, job: Job) -> tuple[str, ...]:
        """Targets that can do the job."""
        return tuple(
            t for t, ok in (("edge", self.edge_can(job)), ("central", self.central_can(job))) if ok
        )

    def estimate_ms(self, target: str, job: Job) -> float | None:
        """Expected latency on a target: recent p95 plus the work queued ahead (edge)."""
        p95 = self.latency_p95_ms.get((target, job.task))
        if p95 is None:
            return None
        if target != "edge":
            return p95
        queued = self.task_queue.get(job.task, 0)
        per_item = self.latency_p50_ms.get((target, job.task), p95)
        return p95 + queued * per_item / max(1, self.edge_workers)


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
        priors = state.config.prior_latency_ms
        estimates = {t: state.estimate_ms(t, job) for t in capable}
        expected = {t: priors.get(t, 0.0) if est is None else est for t, est in estimates.items()}
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
        edge_better = (
            job.task in cfg.edge_quality_tasks and job.task not in cfg.central_better_tasks
        )
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
        tokens = job.text_chars() / 4 + job.params.max_tokens
        costs = {
            t: state.config.costs.get(t, Costs()).per_call
            + state.config.costs.get(t, Costs()).per_1k_tokens * tokens / 1000
            for t in capable
        }
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
DEFAULT_ORDER = (
    "pinning",
    "capability",
    "privacy",
    "health",
    "deadline",
    "size",
    "load",
    "cascade",
    "cost",
)


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
