"""Retry strategies for the central client: jittered waits, a retry budget, Retry-After, deadlines.

Everything here is pure: waits are tiny callables (tenacity style), the budget takes an
injectable monotonic clock, and nothing sleeps. The client asks `next_delay` how long to
wait before the next attempt and gets `None` when it must give up instead.
"""

from __future__ import annotations

import math
import random
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from common.retry_after import MAX_RETRY_AFTER_S as MAX_RETRY_AFTER_S  # re-exported
from common.retry_after import parse_retry_after as parse_retry_after  # re-exported

Wait = Callable[[int], float]
"""A wait strategy: 0-based retry index -> seconds to sleep before that retry."""

DEFAULT_RETRY_STATUSES: frozenset[int] = frozenset({429, 500, 502, 503, 504})
_MAX_EXPONENT = 64


def wait_exponential_full_jitter(
    base: float = 0.1, cap: float = 10.0, rng: random.Random | None = None
) -> Wait:
    """Return AWS full jitter: uniform(0, min(cap, base * 2**attempt)) for 0-based attempt."""
    if base <= 0 or cap <= 0:
        raise ValueError(f"base and cap must be positive, got base={base} cap={cap}")
    source = rng if rng is not None else random.Random()

    def wait(attempt: int) -> float:
        if attempt < 0:
            raise ValueError(f"attempt must be >= 0, got {attempt}")
        ceiling = cap if attempt >= _MAX_EXPONENT else min(cap, base * 2.0**attempt)
        return source.uniform(0.0, ceiling)

    return wait


@dataclass(frozen=True)
class RetryPolicy:
    """How many attempts a request gets, the longest single wait, and which statuses retry."""

    max_attempts: int = 3
    cap_s: float = 10.0
    retry_statuses: frozenset[int] = field(default=DEFAULT_RETRY_STATUSES)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be >= 1, got {self.max_attempts}")
        if self.cap_s < 0:
            raise ValueError(f"cap_s must be >= 0, got {self.cap_s}")

    def is_retryable_status(self, status: int) -> bool:
        """Return True when an HTTP status is worth another attempt."""
        return status in self.retry_statuses


@dataclass
class _Slot:
    """Request and retry counts for one slice of the budget window."""

    index: int
    requests: int = 0
    retries: int = 0


class RetryBudget:
    """Caps retries at ratio * requests + a per-second floor over a sliding window.

    Only original requests are recorded with `record_request`; retries spend from the
    budget with `try_spend_retry`. Under a 5xx storm this bounds the extra load the edge
    adds to central at about `ratio` (plus the floor), instead of `max_attempts` times.
    """

    def __init__(
        self,
        ratio: float = 0.2,
        min_retries_per_s: float = 10.0,
        window_s: float = 10.0,
        slots: int = 10,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if ratio < 0 or min_retries_per_s < 0:
            raise ValueError("ratio and min_retries_per_s must be >= 0")
        if window_s <= 0 or slots < 1:
            raise ValueError("window_s must be > 0 and slots >= 1")
        self._ratio = ratio
        self._floor = min_retries_per_s * window_s
        self._slot_s = window_s / slots
        self._slots_in_window = slots
        self._clock = clock
        self._window: deque[_Slot] = deque()

    def _current(self) -> _Slot:
        index = math.floor(self._clock() / self._slot_s)
        while self._window and self._window[0].index <= index - self._slots_in_window:
            self._window.popleft()
        if not self._window or self._window[-1].index != index:
            self._window.append(_Slot(index))
        return self._window[-1]

    def record_request(self) -> None:
        """Count one original (non-retry) request."""
        self._current().requests += 1

    def try_spend_retry(self) -> bool:
        """Take one retry from the budget; False means the retry must not happen."""
        slot = self._current()
        requests = sum(s.requests for s in self._window)
        retries = sum(s.retries for s in self._window)
        if retries + 1 > self._ratio * requests + self._floor:
            return False
        slot.retries += 1
        return True


def next_delay(
    attempt: int,
    retry_after: float | None,
    policy: RetryPolicy,
    wait: Wait,
    deadline_remaining: float | None,
) -> float | None:
    """Seconds to sleep before retrying after `attempt` attempts; None means give up now.

    Gives up when attempts are used, when the server's Retry-After exceeds the policy cap,
    or when sleeping would reach the request's deadline. Retry-After is a floor on the wait.
    """
    if attempt < 1:
        raise ValueError(f"attempt counts attempts made and must be >= 1, got {attempt}")
    if attempt >= policy.max_attempts:
        return None
    delay = min(wait(attempt - 1), policy.cap_s)
    if retry_after is not None:
        if retry_after > policy.cap_s:
            return None
        delay = max(delay, retry_after)
    if deadline_remaining is not None and delay >= deadline_remaining:
        return None
    return delay
