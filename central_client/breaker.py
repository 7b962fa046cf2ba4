"""Circuit breaker for calls to central: pure state classes over a monotonic clock, no I/O.

closed --(N consecutive failures, or failure rate over the window)--> open
open --(recovery timeout passes, next allow())--> half_open
half_open --(half_open_max_calls successes)--> closed;  half_open --(any failure)--> open

Each state is a frozen dataclass whose methods return the next state (purgatory style);
`CircuitBreaker` holds the current one and reports transitions through `on_change`.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

from common.settings_base import STRICT


class BreakerState(enum.Enum):
    """The three breaker states."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True)
class BreakerConfig:
    """Thresholds and timers of one breaker (the `central.breaker` section)."""

    __pydantic_config__ = STRICT

    failure_threshold: int = 5
    failure_rate_threshold: float = 0.5
    window_size: int = 20
    min_calls: int = 10
    recovery_timeout_s: float = 10.0
    half_open_max_calls: int = 1

    def __post_init__(self) -> None:
        if self.failure_threshold < 1 or self.window_size < 1 or self.half_open_max_calls < 1:
            raise ValueError("failure_threshold, window_size, half_open_max_calls must be >= 1")
        if not 0.0 < self.failure_rate_threshold <= 1.0:
            raise ValueError(
                f"failure_rate_threshold must be in (0, 1], got {self.failure_rate_threshold}"
            )
        if not 1 <= self.min_calls <= self.window_size:
            raise ValueError("min_calls must be between 1 and window_size")
        if self.recovery_timeout_s < 0:
            raise ValueError("recovery_timeout_s must be >= 0")


@dataclass(frozen=True)
class _Closed:
    """Calls flow; outcomes (True = failure) fill a sliding window."""

    kind: ClassVar[BreakerState] = BreakerState.CLOSED
    outcomes: tuple[bool, ...] = ()
    consecutive_failures: int = 0

    def admit(self, cfg: BreakerConfig, now: float) -> tuple[bool, _State]:
        return True, self

    def on_success(self, cfg: BreakerConfig, now: float) -> _State:
        return _Closed((*self.outcomes, False)[-cfg.window_size :], 0)

    def on_failure(self, cfg: BreakerConfig, now: float) -> _State:
        outcomes = (*self.outcomes, True)[-cfg.window_size :]
        consecutive = self.consecutive_failures + 1
        if consecutive >= cfg.failure_threshold:
            return _Open(opened_at=now)
        rate = sum(outcomes) / len(outcomes)
        if len(outcomes) >= cfg.min_calls and rate >= cfg.failure_rate_threshold:
            return _Open(opened_at=now)
        return _Closed(outcomes, consecutive)

    def wait_s(self, cfg: BreakerConfig, now: float) -> float:
        return 0.0


@dataclass(frozen=True)
class _Open:
    """Calls are rejected until the recovery timeout has passed."""

    kind: ClassVar[BreakerState] = BreakerState.OPEN
    opened_at: float

    def admit(self, cfg: BreakerConfig, now: float) -> tuple[bool, _State]:
        if now - self.opened_at >= cfg.recovery_timeout_s:
            return _HalfOpen(started_at=now).admit(cfg, now)
        return False, self

    def on_success(self, cfg: BreakerConfig, now: float) -> _State:
        return self  # a late answer to a call admitted before the breaker opened

    def on_failure(self, cfg: BreakerConfig, now: float) -> _State:
        return self

    def wait_s(self, cfg: BreakerConfig, now: float) -> float:
        return max(0.0, self.opened_at + cfg.recovery_timeout_s - now)


@dataclass(frozen=True)
class _HalfOpen:
    """A limited number of probes may pass; their outcome decides closed or open.

    If the probes never report back (a cancelled caller), a new round of probes is
    allowed once another recovery timeout has passed, so the breaker cannot stick here.
    """

    kind: ClassVar[BreakerState] = BreakerState.HALF_OPEN
    started_at: float
    permits_issued: int = 0
    successes: int = 0

    def admit(self, cfg: BreakerConfig, now: float) -> tuple[bool, _State]:
        state = self
        if now - self.started_at >= cfg.recovery_timeout_s and self.permits_issued:
            state = _HalfOpen(started_at=now, successes=self.successes)
        if state.permits_issued >= cfg.half_open_max_calls:
            return False, state
        return True, _HalfOpen(state.started_at, state.permits_issued + 1, state.successes)

    def on_success(self, cfg: BreakerConfig, now: float) -> _State:
        successes = self.successes + 1
        if successes >= cfg.half_open_max_calls:
            return _Closed()
        return _HalfOpen(self.started_at, self.permits_issued, successes)

    def on_failure(self, cfg: BreakerConfig, now: float) -> _State:
        return _Open(opened_at=now)

    def wait_s(self, cfg: BreakerConfig, now: float) -> float:
        if self.permits_issued < cfg.half_open_max_calls:
            return 0.0
        return max(0.0, self.started_at + cfg.recovery_timeout_s - now)


_State = _Closed | _Open | _HalfOpen


class CircuitBreaker:
    """Guards central: `allow()` before a call, then `record_success()` or `record_failure()`."""

    def __init__(
        self,
        failure_threshold: int = 5,
        failure_rate_threshold: float = 0.5,
        window_size: int = 20,
        min_calls: int = 10,
        recovery_timeout_s: float = 10.0,
        half_open_max_calls: int = 1,
        clock: Callable[[], float] = time.monotonic,
        on_change: Callable[[BreakerState, BreakerState], None] | None = None,
    ) -> None:
        self.config = BreakerConfig(
            failure_threshold=failure_threshold,
            failure_rate_threshold=failure_rate_threshold,
            window_size=window_size,
            min_calls=min_calls,
            recovery_timeout_s=recovery_timeout_s,
            half_open_max_calls=half_open_max_calls,
        )
        self._clock = clock
        self._on_change = on_change
        self._state: _State = _Closed()

    @classmethod
    def from_config(
        cls,
        config: BreakerConfig,
        clock: Callable[[], float] = time.monotonic,
        on_change: Callable[[BreakerState, BreakerState], None] | None = None,
    ) -> CircuitBreaker:
        """A breaker with `config`'s thresholds."""
        return cls(
            config.failure_threshold,
            config.failure_rate_threshold,
            config.window_size,
            config.min_calls,
            config.recovery_timeout_s,
            config.half_open_max_calls,
            clock=clock,
            on_change=on_change,
        )

    @property
    def state(self) -> BreakerState:
        """The current state; an open breaker reads open until `allow()` moves it on."""
        return self._state.kind

    def allow(self) -> bool:
        """Return True when a call may go to central now (takes a probe permit if half-open)."""
        allowed, new = self._state.admit(self.config, self._clock())
        self._move(new)
        return allowed

    def record_success(self) -> None:
        """Report that an admitted call succeeded."""
        self._move(self._state.on_success(self.config, self._clock()))

    def record_failure(self) -> None:
        """Report that an admitted call failed (5xx, timeout, connection error)."""
        self._move(self._state.on_failure(self.config, self._clock()))

    def retry_after_s(self) -> float:
        """Seconds until a call (or probe) would be allowed; 0.0 when one is allowed now."""
        return self._state.wait_s(self.config, self._clock())

    def _move(self, new: _State) -> None:
        old = self._state.kind
        self._state = new
        if new.kind is not old and self._on_change is not None:
            self._on_change(old, new.kind)
