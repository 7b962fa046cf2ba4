"""What routing reads and returns: the `routing` config section, the state snapshot, the decision.

`RoutingConfig` is the `routing` config section itself (validated by pydantic from YAML and
`HYBRID_ROUTER_ROUTING__…`), so every routing default is written here once.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Literal

from pydantic import Field
from pydantic.dataclasses import dataclass as config_dataclass

from common.settings_base import STRICT
from router.costs import Price
from router.job_builder import DEFAULT_PRESETS
from router.jobs import Job

Target = Literal["edge", "central", "reject"]
TARGETS = ("edge", "central")

CENTRAL_ONLY_TASKS = frozenset({"generate", "transcribe"})  # no edge model does these
# Tasks whose central answer can stand in for the edge's. Not `embed`: the central's vectors
# live in another space, so they are only used when the caller pins the central.
INTERCHANGEABLE_TASKS = frozenset({"classify", "generate", "transcribe"})
# Tasks the edge does well even on long inputs (it chunks or truncates and flags it); the size
# policy sends them to the central only when listed in `central_better_tasks`.
EDGE_QUALITY_TASKS = frozenset({"classify", "embed"})
# Latency assumed for a target with no recent samples (the deadline check must not promise a
# 1 ms answer it has never seen): about a warm edge model's single call, and a small central
# generate.
PRIOR_LATENCY_MS: Mapping[str, float] = {"edge": 5.0, "central": 250.0}


@dataclass(frozen=True)
class Decision:
    """Where a job goes and why; `reject` carries the HTTP status to answer with."""

    target: Target
    reason: str
    status: int | None = None
    retry_after_s: float | None = None
    message: str = ""
    cascade: bool = False  # edge answers, the central re-answers when edge confidence is low


@config_dataclass(frozen=True, config=STRICT)
class RoutingConfig:
    """The `routing` section: the policy order, the thresholds the policies read, the prices."""

    # Names are checked against the policies at startup (`Settings`), listing the valid ones.
    policies: tuple[str, ...] = (
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
    max_edge_text_chars: Annotated[int, Field(ge=1)] = 4000
    max_edge_image_pixels: Annotated[int, Field(ge=1)] = 16_000_000
    max_edge_audio_seconds: Annotated[float, Field(gt=0)] = 300.0
    edge_queue_threshold: Annotated[int, Field(ge=1)] = 64
    # Off by default: the embedded SmolLM2-135M classifies worse than the edge (see README).
    cascade_enabled: bool = False
    cascade_threshold: Annotated[float, Field(ge=0, le=1)] = 0.6
    privacy_mode: Literal["pin", "redact", "off"] = "redact"
    # The one price list: the cost policy, the call log and `hybrid-router report` read it.
    costs: dict[str, Price] = field(
        default_factory=lambda: {
            "edge": Price(),
            "central": Price(
                per_call=0.0005, per_1k_prompt_tokens=0.002, per_1k_completion_tokens=0.002
            ),
        }
    )
    latency_window: Annotated[int, Field(ge=8)] = 256
    warmup_probe: bool = True
    # Oversized classify/embed stay on the edge (chunked, flagged) unless listed here as tasks
    # the configured central does better.
    central_better_tasks: frozenset[Literal["classify", "embed"]] = frozenset()
    # `parameters.preset` → temperature (within the API's 0..2); an explicit `temperature` wins.
    presets: dict[str, Annotated[float, Field(ge=0, le=2)]] = field(
        default_factory=lambda: dict(DEFAULT_PRESETS)
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
        return job.params.route == "central" or job.task in INTERCHANGEABLE_TASKS

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
