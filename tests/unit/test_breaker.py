"""Tests for central_client.breaker: transitions, probe limits and on_change, on a fake clock."""

from __future__ import annotations

from typing import Any

import pytest

from central_client.breaker import BreakerState, CircuitBreaker


class FakeClock:
    """A monotonic clock that only moves when told to."""

    def __init__(self, start: float = 500.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


def make(
    clock: FakeClock, changes: list[tuple[BreakerState, BreakerState]] | None = None, **kw: Any
) -> CircuitBreaker:
    log = changes if changes is not None else []
    return CircuitBreaker(clock=clock, on_change=lambda a, b: log.append((a, b)), **kw)


def open_breaker(breaker: CircuitBreaker) -> None:
    for _ in range(breaker.config.failure_threshold):
        assert breaker.allow()
        breaker.record_failure()
    assert breaker.state is BreakerState.OPEN


def test_starts_closed_and_allows() -> None:
    breaker = make(FakeClock())
    assert breaker.state is BreakerState.CLOSED
    assert breaker.allow()
    assert breaker.retry_after_s() == 0.0


def test_opens_after_consecutive_failures() -> None:
    changes: list[tuple[BreakerState, BreakerState]] = []
    breaker = make(FakeClock(), changes, failure_threshold=3)
    breaker.record_failure()
    breaker.record_failure()
    assert breaker.state is BreakerState.CLOSED
    breaker.record_failure()
    assert breaker.state is BreakerState.OPEN
    assert changes == [(BreakerState.CLOSED, BreakerState.OPEN)]
    assert not breaker.allow()


def test_success_resets_consecutive_count() -> None:
    breaker = make(FakeClock(), failure_threshold=3, min_calls=20)
    for _ in range(5):
        breaker.record_failure()
        breaker.record_failure()
        breaker.record_success()
    assert breaker.state is BreakerState.CLOSED


def test_opens_on_failure_rate_once_min_calls_reached() -> None:
    breaker = make(
        FakeClock(), failure_threshold=100, failure_rate_threshold=0.5, window_size=10, min_calls=6
    )
    # Alternate: never two failures in a row, 50% rate.
    for failed in [True, False, True, False, True]:
        if failed:
            breaker.record_failure()
        else:
            breaker.record_success()
    assert breaker.state is BreakerState.CLOSED  # 5 calls < min_calls
    breaker.record_success()
    assert breaker.state is BreakerState.CLOSED  # 3/6 failures, but the last was a success
    breaker.record_failure()
    assert breaker.state is BreakerState.OPEN  # 4/7 >= 0.5


def test_rate_window_forgets_old_successes() -> None:
    breaker = make(
        FakeClock(), failure_threshold=100, failure_rate_threshold=0.5, window_size=4, min_calls=4
    )
    for _ in range(10):
        breaker.record_success()
    breaker.record_failure()
    breaker.record_success()
    assert breaker.state is BreakerState.CLOSED
    breaker.record_failure()  # 2/13 overall, but 2/4 inside the window
    assert breaker.state is BreakerState.OPEN


def test_open_rejects_until_recovery_timeout_then_half_open() -> None:
    clock = FakeClock()
    changes: list[tuple[BreakerState, BreakerState]] = []
    breaker = make(clock, changes, failure_threshold=2, recovery_timeout_s=10.0)
    open_breaker(breaker)
    assert breaker.retry_after_s() == pytest.approx(10.0)
    clock.now += 9.5
    assert not breaker.allow()
    assert breaker.retry_after_s() == pytest.approx(0.5)
    clock.now += 0.5
    assert breaker.allow()
    assert breaker.state is BreakerState.HALF_OPEN
    assert changes[-1] == (BreakerState.OPEN, BreakerState.HALF_OPEN)


def test_half_open_limits_probes() -> None:
    clock = FakeClock()
    breaker = make(clock, failure_threshold=1, recovery_timeout_s=5.0, half_open_max_calls=2)
    open_breaker(breaker)
    clock.now += 5.0
    assert breaker.allow()
    assert breaker.allow()
    assert not breaker.allow()
    assert breaker.retry_after_s() == pytest.approx(5.0)


def test_half_open_success_closes() -> None:
    clock = FakeClock()
    changes: list[tuple[BreakerState, BreakerState]] = []
    breaker = make(clock, changes, failure_threshold=1, recovery_timeout_s=5.0)
    open_breaker(breaker)
    clock.now += 5.0
    assert breaker.allow()
    breaker.record_success()
    assert breaker.state is BreakerState.CLOSED
    assert breaker.allow()
    assert [new for _, new in changes] == [
        BreakerState.OPEN,
        BreakerState.HALF_OPEN,
        BreakerState.CLOSED,
    ]


def test_half_open_needs_all_probes_to_succeed() -> None:
    clock = FakeClock()
    breaker = make(clock, failure_threshold=1, recovery_timeout_s=5.0, half_open_max_calls=2)
    open_breaker(breaker)
    clock.now += 5.0
    assert breaker.allow() and breaker.allow()
    breaker.record_success()
    assert breaker.state is BreakerState.HALF_OPEN
    breaker.record_success()
    assert breaker.state is BreakerState.CLOSED


def test_half_open_failure_reopens_with_fresh_timeout() -> None:
    clock = FakeClock()
    breaker = make(clock, failure_threshold=1, recovery_timeout_s=5.0)
    open_breaker(breaker)
    clock.now += 7.0
    assert breaker.allow()
    breaker.record_failure()
    assert breaker.state is BreakerState.OPEN
    assert breaker.retry_after_s() == pytest.approx(5.0)
    clock.now += 4.9
    assert not breaker.allow()


def test_closed_breaker_starts_with_clean_window_after_recovery() -> None:
    clock = FakeClock()
    breaker = make(clock, failure_threshold=2, recovery_timeout_s=1.0)
    open_breaker(breaker)
    clock.now += 1.0
    assert breaker.allow()
    breaker.record_success()
    breaker.record_failure()
    assert breaker.state is BreakerState.CLOSED


def test_lost_probe_does_not_wedge_half_open() -> None:
    clock = FakeClock()
    breaker = make(clock, failure_threshold=1, recovery_timeout_s=5.0)
    open_breaker(breaker)
    clock.now += 5.0
    assert breaker.allow()  # this probe's caller never reports back
    assert not breaker.allow()
    clock.now += 5.0
    assert breaker.allow()


def test_late_results_while_open_are_ignored() -> None:
    clock = FakeClock()
    breaker = make(clock, failure_threshold=1, recovery_timeout_s=5.0)
    open_breaker(breaker)
    breaker.record_success()
    assert breaker.state is BreakerState.OPEN
    assert breaker.retry_after_s() == pytest.approx(5.0)


def test_invalid_config_is_rejected() -> None:
    with pytest.raises(ValueError):
        CircuitBreaker(min_calls=30, window_size=20)
    with pytest.raises(ValueError):
        CircuitBreaker(failure_rate_threshold=0.0)
