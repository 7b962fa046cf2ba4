"""Tests for central_client.retry: jitter bounds, retry budget, Retry-After, deadline delays."""

from __future__ import annotations

import email.utils
import random
import statistics

import pytest

from central_client.retry import (
    RetryBudget,
    RetryPolicy,
    next_delay,
    parse_retry_after,
    wait_exponential_full_jitter,
)


class FakeClock:
    """A monotonic clock that only moves when told to."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


def test_full_jitter_stays_within_exponential_ceiling() -> None:
    wait = wait_exponential_full_jitter(base=0.1, cap=10.0, rng=random.Random(7))
    for attempt in range(8):
        ceiling = min(10.0, 0.1 * 2**attempt)
        draws = [wait(attempt) for _ in range(2000)]
        assert min(draws) >= 0.0
        assert max(draws) <= ceiling
        # Uniform over [0, ceiling]: mean near ceiling/2 and draws reach both ends.
        assert statistics.fmean(draws) == pytest.approx(ceiling / 2, rel=0.08)
        assert max(draws) > 0.95 * ceiling
        assert min(draws) < 0.05 * ceiling


def test_full_jitter_is_capped_for_large_attempts() -> None:
    wait = wait_exponential_full_jitter(base=0.5, cap=3.0, rng=random.Random(1))
    draws = [wait(attempt) for attempt in (10, 100, 5000) for _ in range(1000)]
    assert max(draws) <= 3.0
    assert max(draws) > 2.9


def test_full_jitter_is_reproducible_with_seeded_rng() -> None:
    first = wait_exponential_full_jitter(rng=random.Random(42))
    second = wait_exponential_full_jitter(rng=random.Random(42))
    assert [first(3) for _ in range(5)] == [second(3) for _ in range(5)]


def test_full_jitter_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError):
        wait_exponential_full_jitter(base=0)
    with pytest.raises(ValueError):
        wait_exponential_full_jitter()(-1)


def test_policy_defaults_and_retryable_statuses() -> None:
    policy = RetryPolicy()
    assert policy.max_attempts == 3
    assert [
        s for s in (200, 400, 401, 429, 500, 501, 502, 503, 504) if policy.is_retryable_status(s)
    ] == [429, 500, 502, 503, 504]
    with pytest.raises(ValueError):
        RetryPolicy(max_attempts=0)


def test_budget_limits_retries_in_a_5xx_storm() -> None:
    clock = FakeClock()
    budget = RetryBudget(ratio=0.2, min_retries_per_s=1.0, window_s=10.0, clock=clock)
    allowed = 0
    for _ in range(1000):
        budget.record_request()
        # Every request fails and wants two retries.
        allowed += budget.try_spend_retry()
        allowed += budget.try_spend_retry()
    # 20% of 1000 requests plus a floor of 1/s over 10 s.
    assert allowed == 200 + 10


def test_budget_floor_allows_retries_with_little_traffic() -> None:
    clock = FakeClock()
    budget = RetryBudget(ratio=0.2, min_retries_per_s=0.5, window_s=10.0, clock=clock)
    assert sum(budget.try_spend_retry() for _ in range(20)) == 5


def test_budget_window_slides_and_refills() -> None:
    clock = FakeClock()
    budget = RetryBudget(ratio=0.5, min_retries_per_s=0.0, window_s=10.0, slots=10, clock=clock)
    for _ in range(10):
        budget.record_request()
    assert sum(budget.try_spend_retry() for _ in range(10)) == 5
    clock.now += 5.0
    assert not budget.try_spend_retry()  # the same requests and retries are still in the window
    clock.now += 5.0  # the first slot has slid out: requests and retries forgotten
    assert not budget.try_spend_retry()  # no requests in window, no floor
    budget.record_request()
    budget.record_request()
    assert budget.try_spend_retry()
    assert not budget.try_spend_retry()


def test_retry_after_delta_seconds() -> None:
    assert parse_retry_after("0") == 0.0
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after(" 2.5 ") == 2.5
    assert parse_retry_after("99999", cap_s=60.0) == 60.0


@pytest.mark.parametrize("value", [None, "", "-1", "soon", "1e3", "nan", "inf", "12abc", "-0.5"])
def test_retry_after_garbage_and_negative_is_none(value: str | None) -> None:
    assert parse_retry_after(value) is None


def test_retry_after_http_date() -> None:
    now = 1_700_000_000.0
    header = email.utils.formatdate(now + 30, usegmt=True)
    assert parse_retry_after(header, now=lambda: now) == pytest.approx(30.0)


def test_retry_after_http_date_in_past_is_zero_and_future_is_capped() -> None:
    now = 1_700_000_000.0
    past = email.utils.formatdate(now - 30, usegmt=True)
    far = email.utils.formatdate(now + 86_400, usegmt=True)
    assert parse_retry_after(past, now=lambda: now) == 0.0
    assert parse_retry_after(far, now=lambda: now, cap_s=300.0) == 300.0


def test_next_delay_uses_jitter_with_zero_based_retry_index() -> None:
    seen: list[int] = []

    def wait(retry: int) -> float:
        seen.append(retry)
        return 0.25

    policy = RetryPolicy(max_attempts=3)
    assert next_delay(1, None, policy, wait, None) == 0.25
    assert next_delay(2, None, policy, wait, None) == 0.25
    assert seen == [0, 1]


def test_next_delay_stops_when_attempts_are_used() -> None:
    policy = RetryPolicy(max_attempts=3)
    assert next_delay(3, None, policy, lambda _: 0.1, None) is None
    assert next_delay(1, None, RetryPolicy(max_attempts=1), lambda _: 0.1, None) is None


def test_next_delay_honours_retry_after_as_floor() -> None:
    policy = RetryPolicy(max_attempts=5, cap_s=10.0)
    assert next_delay(1, 2.0, policy, lambda _: 0.1, None) == 2.0
    assert next_delay(1, 0.5, policy, lambda _: 3.0, None) == 3.0
    # The server asks for longer than the client is willing to wait: give up, don't retry early.
    assert next_delay(1, 30.0, policy, lambda _: 0.1, None) is None


def test_next_delay_caps_wait_at_policy_cap() -> None:
    policy = RetryPolicy(max_attempts=5, cap_s=1.5)
    assert next_delay(2, None, policy, lambda _: 9.0, None) == 1.5


def test_next_delay_never_sleeps_past_deadline() -> None:
    policy = RetryPolicy(max_attempts=5)
    assert next_delay(1, None, policy, lambda _: 0.4, deadline_remaining=1.0) == 0.4
    assert next_delay(1, None, policy, lambda _: 0.4, deadline_remaining=0.4) is None
    assert next_delay(1, 2.0, policy, lambda _: 0.1, deadline_remaining=1.0) is None
    assert next_delay(1, None, policy, lambda _: 0.0, deadline_remaining=0.0) is None
