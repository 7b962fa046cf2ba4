"""Adaptive admission: the queue-delay budget follows measured p99 against the target."""

import pytest

from edge_models.admission import AdaptiveAdmission, AdmissionPolicy


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def controller(clock: Clock, **policy: float) -> AdaptiveAdmission:
    return AdaptiveAdmission(AdmissionPolicy(**policy), clock)  # type: ignore[arg-type]


def feed(admission: AdaptiveAdmission, clock: Clock, latency_s: float, n: int = 20) -> None:
    """n single-item latencies spread over one adjustment interval."""
    for _ in range(n):
        clock.now += admission.policy.interval_s / (n - 1)
        admission.observe(latency_s, unloaded=False)


def test_the_first_unloaded_sample_sets_the_target_and_the_budget() -> None:
    clock = Clock()
    admission = controller(clock, target_factor=2.0, max_queue_delay_s=0.05)
    assert admission.target_s is None and admission.budget_s == 0.05
    admission.observe(0.004, unloaded=True)
    assert admission.target_s == 0.008
    assert admission.budget_s == 0.004  # (factor - 1) x unloaded


def test_p99_over_the_target_shrinks_the_budget_and_under_it_grows_back() -> None:
    clock = Clock()
    admission = controller(clock, target_factor=2.0, max_queue_delay_s=0.05)
    admission.observe(0.004, unloaded=True)
    start = admission.budget_s
    feed(admission, clock, 0.016)  # p99 twice the 8 ms target
    assert admission.budget_s < start
    assert not admission.admits(start)
    shrunk = admission.budget_s
    for _ in range(3):
        feed(admission, clock, 0.005)  # well under the target
    assert admission.budget_s > shrunk


def test_the_budget_stays_within_its_bounds() -> None:
    clock = Clock()
    admission = controller(clock, max_queue_delay_s=0.01, min_queue_delay_s=0.001)
    admission.observe(0.004, unloaded=True)
    for _ in range(50):
        feed(admission, clock, 0.5)
    assert admission.budget_s == 0.001
    for _ in range(50):
        feed(admission, clock, 0.001)
    assert admission.budget_s == 0.01


def test_too_few_samples_in_an_interval_change_nothing() -> None:
    clock = Clock()
    admission = controller(clock, min_samples=8)
    admission.observe(0.004, unloaded=True)
    before = admission.budget_s
    feed(admission, clock, 1.0, n=3)
    assert admission.budget_s == before


def test_only_a_standing_queue_drops_late_requests() -> None:
    clock = Clock()
    admission = controller(clock, standing_s=0.1, drop_late=True)
    assert not admission.too_late(10.0)  # no target learned yet: never drop
    admission.observe(0.004, unloaded=True)  # target 8 ms
    assert not admission.too_late(0.02)  # a burst: the first late wait starts the clock
    clock.now += 0.05
    assert not admission.too_late(0.02)
    clock.now += 0.06
    assert admission.too_late(0.02)  # waits over the target for > 100 ms
    assert not admission.too_late(0.001)  # a short wait ends the standing queue
    assert not admission.too_late(0.02)


def test_late_requests_are_not_dropped_unless_asked() -> None:
    clock = Clock()
    admission = controller(clock)
    admission.observe(0.004, unloaded=True)
    for _ in range(5):
        clock.now += 1.0
        assert not admission.too_late(10.0)


def test_the_unloaded_baseline_falls_fast_and_rises_slowly() -> None:
    clock = Clock()
    admission = controller(clock, baseline_alpha=0.5)
    admission.observe(0.010, unloaded=True)
    admission.observe(0.020, unloaded=True)  # slower: a twentieth of the step
    assert admission.baseline_s == pytest.approx(0.0105)
    admission.observe(0.002, unloaded=True)  # faster: half the step
    assert admission.baseline_s < 0.007


def test_a_shed_marks_an_overload_that_ends_after_calm_s_without_another() -> None:
    clock = Clock()
    admission = controller(clock, calm_s=1.0)
    assert not admission.overloaded()
    admission.shed()
    clock.now += 0.6
    assert admission.overloaded()
    admission.shed()  # still shedding: the overload goes on from here
    clock.now += 0.9
    assert admission.overloaded()
    clock.now += 0.2
    assert not admission.overloaded()
