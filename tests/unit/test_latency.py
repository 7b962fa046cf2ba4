"""The decaying latency estimator: quantiles, forgetting, censored timeouts, recovery."""

import dataclasses

import pytest

from router.latency import LatencyEstimator, bucket_of
from router.policy import DeadlinePolicy
from tests.unit.test_policy import job as make_job
from tests.unit.test_policy import state as make_state

TOLERANCE = 0.065  # buckets are 6% wide; interpolation within one is log-linear


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def close(value: float | None, expected: float) -> bool:
    return value is not None and abs(value - expected) <= TOLERANCE * expected


def test_quantiles_of_recorded_values() -> None:
    estimator = LatencyEstimator(window=100_000, clock=Clock())
    for value in range(1, 101):
        estimator.record("edge", "embed", float(value))
    assert close(estimator.quantile("edge", "embed", 0.5), 50)
    assert close(estimator.quantile("edge", "embed", 0.95), 95)
    assert estimator.quantile("central", "embed", 0.5) is None


def test_a_busy_path_forgets_within_a_window() -> None:
    estimator = LatencyEstimator(window=10, clock=Clock())
    for _ in range(10):
        estimator.record("edge", "embed", 1000.0)
    for _ in range(10):
        estimator.record("edge", "embed", 5.0)
    assert close(estimator.quantile("edge", "embed", 0.95), 5.0)


def test_an_idle_path_forgets_with_time() -> None:
    clock = Clock()
    estimator = LatencyEstimator(half_life_s=30, clock=clock)
    estimator.record("central", "generate", 9000.0)
    [p95] = estimator.snapshot((0.95,))
    assert close(p95[("central", "generate")], 9000)
    clock.now = 29  # less than a half-life: weight 0.51
    assert close(estimator.quantile("central", "generate", 0.95), 9000)
    clock.now = 31  # past one: the lone sample's weight fell under min_weight
    assert estimator.snapshot((0.5, 0.95)) == [{}, {}]


def test_snapshot_gives_each_quantile() -> None:
    estimator = LatencyEstimator(window=100_000, clock=Clock())
    for value in range(1, 101):
        estimator.record("edge", "classify", float(value))
    p50, p95 = estimator.snapshot((0.5, 0.95))
    assert close(p50[("edge", "classify")], 50)
    assert close(p95[("edge", "classify")], 95)


def test_snapshot_is_reused_until_refresh() -> None:
    clock = Clock()
    estimator = LatencyEstimator(refresh_s=0.05, clock=clock)
    estimator.record("edge", "embed", 10.0)
    first = estimator.snapshot()
    estimator.record("edge", "embed", 500.0)
    assert estimator.snapshot() == first  # within refresh_s: the cached answer
    clock.now = 0.06
    assert estimator.snapshot() != first


def test_a_timeout_is_a_lower_bound_not_a_doubled_guess() -> None:
    estimator = LatencyEstimator(clock=Clock())
    estimator.record_timeout("central", "generate", 300.0)
    assert close(estimator.quantile("central", "generate", 0.5), 300)


def test_extreme_values_stay_in_range() -> None:
    estimator = LatencyEstimator(clock=Clock())
    for value in (0.0, -1.0, float("nan"), 1e12):
        estimator.record("edge", "embed", value)
    assert estimator.quantile("edge", "embed", 1.0) == pytest.approx(600_000, rel=0.1)
    assert bucket_of(0.0) == 0


def deadline_decision(estimator: LatencyEstimator, now: float, budget_ms: float) -> str:
    """What the deadline policy says for a central-only generate job with `budget_ms` left."""
    p50, p95 = estimator.snapshot((0.5, 0.95))
    state = make_state(latency_p95_ms=p95, latency_p50_ms=p50, now=now)
    job = dataclasses.replace(make_job("generate"), deadline=now + budget_ms / 1000)
    decision = DeadlinePolicy().decide(job, state)
    return "open" if decision is None or decision.target != "reject" else decision.reason


def test_deadline_routing_reopens_within_seconds_after_a_hang() -> None:
    """F7: a hang's timeouts shut deadline traffic out only briefly, with no traffic after."""
    clock = Clock()
    estimator = LatencyEstimator(clock=clock)
    for _ in range(200):  # a healthy central: 100 ms answers
        estimator.record("central", "generate", 100.0)
        clock.now += 0.05
    for _ in range(50):  # then it hangs: default-timeout requests give up after 30 s
        estimator.record_timeout("central", "generate", 30_000.0)
        clock.now += 0.02
    hang_ended = clock.now
    assert deadline_decision(estimator, clock.now, 300) == "deadline:none-fits"
    reopened = None
    while clock.now - hang_ended < 60:  # nothing reaches the central: no fresh samples
        clock.now += 0.25
        if deadline_decision(estimator, clock.now, 300) == "open":
            reopened = clock.now - hang_ended
            break
    assert reopened is not None and reopened <= 15  # the old code: 60.4 s
