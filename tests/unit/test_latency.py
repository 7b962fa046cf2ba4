"""The sliding-window latency estimator."""

from router.latency import LatencyEstimator


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_quantiles_over_the_window() -> None:
    estimator = LatencyEstimator(window=100, clock=Clock())
    for value in range(1, 101):
        estimator.record("edge", "embed", float(value))
    assert estimator.quantile("edge", "embed", 0.5) == 50.5
    assert 94 <= estimator.quantile("edge", "embed", 0.95) <= 96  # type: ignore[operator]
    assert estimator.quantile("central", "embed", 0.5) is None


def test_window_keeps_only_recent_samples() -> None:
    estimator = LatencyEstimator(window=10, clock=Clock())
    for _ in range(10):
        estimator.record("edge", "embed", 1000.0)
    for _ in range(10):
        estimator.record("edge", "embed", 5.0)
    assert estimator.quantile("edge", "embed", 0.99) == 5.0


def test_old_samples_expire() -> None:
    clock = Clock()
    estimator = LatencyEstimator(max_age_s=60, clock=clock)
    estimator.record("central", "generate", 9000.0)
    assert estimator.snapshot((0.95,)) == [{("central", "generate"): 9000.0}]
    clock.now = 61
    assert estimator.snapshot((0.5, 0.95)) == [{}, {}]


def test_snapshot_gives_each_quantile() -> None:
    estimator = LatencyEstimator(clock=Clock())
    for value in range(1, 101):
        estimator.record("edge", "classify", float(value))
    p50, p95 = estimator.snapshot((0.5, 0.95))
    assert p50[("edge", "classify")] == 50.5
    assert 94 <= p95[("edge", "classify")] <= 96
