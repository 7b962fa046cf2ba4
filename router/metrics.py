"""Prometheus metrics of the edge node, on a registry owned by the app (not a global)."""

import asyncio
from dataclasses import dataclass
from typing import TypeVar

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector
from prometheus_client.metrics import MetricWrapperBase

LATENCY_BUCKETS = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
)


M = TypeVar("M", bound=MetricWrapperBase)


class LabelCache:
    """`metric.labels(*values)`, looked up once per metric and values (`labels()` validates and
    locks on every call). Hold it no longer than the metrics it has seen."""

    def __init__(self) -> None:
        self._children: dict[tuple[int | str, ...], MetricWrapperBase] = {}

    def __call__(self, metric: M, *values: str) -> M:
        """The child of `metric` for `values`."""
        key = (id(metric), *values)
        found = self._children.get(key)
        if found is None:
            found = self._children[key] = metric.labels(*values)
        return found  # type: ignore[return-value]


@dataclass(frozen=True)
class EdgeMetrics:
    """Every metric the edge node exports."""

    registry: CollectorRegistry
    requests: Counter
    latency: Histogram
    batch_size: Histogram
    queue_depth: Gauge
    decisions: Counter
    central_breaker_state: Gauge
    central_attempts: Counter
    central_quota_degraded: Gauge
    central_provider_breaker: Gauge
    central_provider_attempts: Counter
    central_answers: Counter
    cache_events: Counter
    transcribe_audio_bytes: Counter

    @classmethod
    def create(cls) -> "EdgeMetrics":
        """Fresh metrics on a fresh registry."""
        registry = CollectorRegistry()
        ProcessCollector(registry=registry)  # RSS, open fds, CPU: what a soak run watches
        tasks = Gauge(
            "edge_asyncio_tasks", "asyncio tasks alive in the edge process", registry=registry
        )
        tasks.set_function(_task_count)
        return cls(
            registry=registry,
            requests=Counter(
                "edge_requests",
                "Requests answered",
                ["route", "task", "status"],
                registry=registry,
            ),
            latency=Histogram(
                "edge_request_latency_seconds",
                "End-to-end latency by route and task",
                ["route", "task"],
                buckets=LATENCY_BUCKETS,
                registry=registry,
            ),
            batch_size=Histogram(
                "edge_batch_size",
                "Items per micro-batch",
                ["model"],
                buckets=(1, 2, 4, 8, 16, 32, 64),
                registry=registry,
            ),
            queue_depth=Gauge(
                "edge_queue_depth",
                "Items waiting or running per edge model",
                ["model"],
                registry=registry,
            ),
            decisions=Counter(
                "edge_route_decisions",
                "Routing decisions",
                ["target", "reason"],
                registry=registry,
            ),
            central_breaker_state=Gauge(
                "edge_central_breaker_state",
                "Central breaker: 0 closed, 1 half-open, 2 open",
                registry=registry,
            ),
            central_attempts=Counter(
                "edge_central_attempts",
                "HTTP attempts to the central, by outcome",
                ["outcome"],
                registry=registry,
            ),
            central_quota_degraded=Gauge(
                "edge_central_quota_degraded",
                "1 while the shared quota fell back to local",
                registry=registry,
            ),
            central_provider_breaker=Gauge(
                "edge_central_provider_breaker_state",
                "Breaker per central provider: 0 closed, 1 half-open, 2 open",
                ["provider"],
                registry=registry,
            ),
            central_provider_attempts=Counter(
                "edge_central_provider_attempts",
                "HTTP attempts per central provider, by outcome",
                ["provider", "outcome"],
                registry=registry,
            ),
            central_answers=Counter(
                "edge_central_answers",
                "Calls answered per central provider and task",
                ["provider", "task"],
                registry=registry,
            ),
            cache_events=Counter(
                "edge_cache_events",
                "Cache lookups by outcome",
                ["backend", "outcome"],
                registry=registry,
            ),
            transcribe_audio_bytes=Counter(
                "edge_transcribe_audio_bytes",
                "Audio bytes of transcribe jobs: received, sent to the central, saved by the VAD",
                ["kind"],
                registry=registry,
            ),
        )


def _task_count() -> float:
    """Tasks on the running loop (0 when scraped from outside a loop)."""
    try:
        return float(len(asyncio.all_tasks()))
    except RuntimeError:
        return 0.0
