"""Adaptive admission for one edge model: hold admitted p99 near a multiple of unloaded latency.

The controller keeps a queue-delay budget. A request is admitted when the work queued ahead of
it is predicted to take no longer than the budget (a bound on standing queue delay). Every
interval the p99 of recent single-item latencies is compared with the target
(`target_factor` × the unloaded latency, learned from requests that found the model idle), and
the budget moves by the ratio of the two (a gradient step, as in gradient concurrency limits):
it shrinks while p99 is over the target and grows back while it is under. With `drop_late`, a
queued request that waited past the target while waits have stayed over it for `standing_s` is
dropped before it runs (CoDel); off by default, so an admitted request is always answered.

Batching and the latency target pull apart on a CPU, where a batch takes about as long per item
as single runs: a forming batch of n waits behind the running one and then runs n items. While
nothing is being shed, callers that fit in the batch forming behind the running one are
admitted whatever the budget (a few closed-loop callers are not an overload, and shedding them
only starts a retry storm). Once the model sheds, it is overloaded: the forming batch is
admitted only while it is empty (one request waits behind the running one, so the model never
idles) until `calm_s` passes with no shed.
"""

import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class AdmissionPolicy:
    """The latency target and the bounds the queue-delay budget moves within."""

    target_factor: float = 2.0  # admitted p99 ≤ this × unloaded latency
    max_queue_delay_s: float = 0.02  # the budget never grows past this
    min_queue_delay_s: float = 0.0005
    interval_s: float = 0.25  # how often the budget is adjusted
    min_samples: int = 8  # fewer samples in an interval: no adjustment yet
    baseline_alpha: float = 0.1  # EWMA weight of a faster unloaded sample (a tenth for slower)
    standing_s: float = 0.1  # waits over the target for this long make a standing queue
    drop_late: bool = False  # CoDel drop of late queued requests (off: admitted means answered)
    calm_s: float = 1.0  # this long without a shed ends an overload


@dataclass
class AdaptiveAdmission:
    """Queue-delay budget steered by measured p99 against `target_factor` × unloaded latency."""

    policy: AdmissionPolicy = field(default_factory=AdmissionPolicy)
    clock: Callable[[], float] = time.monotonic
    baseline_s: float | None = None  # unloaded latency of one item
    budget_s: float = 0.0
    _samples: list[float] = field(default_factory=list)
    _window_start: float | None = None
    _above_since: float | None = None
    _last_shed: float | None = None

    def __post_init__(self) -> None:
        self.budget_s = self.policy.max_queue_delay_s

    @property
    def target_s(self) -> float | None:
        """Latency the admitted p99 should stay under (None until an unloaded sample)."""
        return None if self.baseline_s is None else self.policy.target_factor * self.baseline_s

    def admits(self, predicted_delay_s: float) -> bool:
        """True when the queue delay a new request would see is within the budget."""
        return predicted_delay_s <= self.budget_s

    def shed(self) -> None:
        """Note that a request was shed: the model is overloaded until `calm_s` passes."""
        self._last_shed = self.clock()

    def overloaded(self) -> bool:
        """True while the last shed is less than `calm_s` ago."""
        return self._last_shed is not None and self.clock() - self._last_shed < self.policy.calm_s

    def too_late(self, waited_s: float) -> bool:
        """True when a request waited past the target and queues have stood that long (CoDel).

        A burst shorter than `standing_s` is served; a queue whose waits stay over the target
        for longer is a standing queue, and its late requests are dropped before they run.
        """
        target = self.target_s
        if not self.policy.drop_late or target is None or waited_s <= max(target, self.budget_s):
            self._above_since = None
            return False
        now = self.clock()
        if self._above_since is None:
            self._above_since = now
        return now - self._above_since >= self.policy.standing_s

    def observe(self, latency_s: float, unloaded: bool) -> None:
        """Record a single-item request's latency; `unloaded` if it found the model idle."""
        if unloaded:
            if self.baseline_s is None:
                self.baseline_s = latency_s
                self.budget_s = self._clamp((self.policy.target_factor - 1) * latency_s)
            else:  # falls fast, rises slowly: CPU contention under load must not loosen the target
                alpha = self.policy.baseline_alpha
                if latency_s > self.baseline_s:
                    alpha /= 10
                self.baseline_s = (1 - alpha) * self.baseline_s + alpha * latency_s
        now = self.clock()
        if self._window_start is None:
            self._window_start = now
        self._samples.append(latency_s)
        if now - self._window_start >= self.policy.interval_s:
            self._adjust()
            self._samples.clear()
            self._window_start = now

    def _adjust(self) -> None:
        target = self.target_s
        if target is None or len(self._samples) < self.policy.min_samples:
            return
        ordered = sorted(self._samples)
        p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
        ratio = min(1.25, max(0.5, target / max(p99, 1e-9)))
        self.budget_s = self._clamp(self.budget_s * ratio)

    def _clamp(self, budget_s: float) -> float:
        return min(self.policy.max_queue_delay_s, max(self.policy.min_queue_delay_s, budget_s))
