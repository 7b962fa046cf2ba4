"""Client-side token buckets for central quota: local, Redis-shared, and the fallback between.

Each bucket reports its `state()` (rate, burst, tokens now, where they live) without taking a
token. Redis errors and timeouts inside `FallbackBucket` are absorbed into degraded mode
(reported by callback and logged), never swallowed silently. The gate that admits calls is
`common.quota_gate`.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

from redis.asyncio import Redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

_EPSILON = 1e-9  # float refill error must not turn a due token into a 1e-15 s wait

_TOKEN_BUCKET_LUA = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local n = tonumber(ARGV[3])
local ttl_ms = tonumber(ARGV[4])
local now = tonumber(ARGV[5])
if now == nil then
  local t = redis.call('TIME')
  now = tonumber(t[1]) + tonumber(t[2]) / 1000000
end
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1])
local ts = tonumber(state[2])
if tokens == nil or ts == nil then
  tokens = burst
  ts = now
end
local elapsed = math.max(0, now - ts)
tokens = math.min(burst, tokens + elapsed * rate)
local wait = 0
if tokens + 1e-9 >= n then
  tokens = math.max(0, tokens - n)
else
  wait = (n - tokens) / rate
end
redis.call('HSET', KEYS[1], 'tokens', string.format('%.17g', tokens),
           'ts', string.format('%.17g', now))
redis.call('PEXPIRE', KEYS[1], ttl_ms)
return {string.format('%.17g', wait), string.format('%.17g', tokens)}
"""

Store = Literal["local", "redis"]


@dataclass(frozen=True)
class BucketState:
    """A bucket seen without taking a token: rate, burst, tokens now, and where they live."""

    qps: float
    burst: float
    tokens: float | None  # None: not known yet (a shared bucket before its first reply)
    store: Store
    degraded: bool = False  # the local bucket stands in for an unreachable Redis


class AsyncBucket(Protocol):
    """Anything that grants n tokens now (returns 0.0) or says how long to wait."""

    async def try_acquire(self, n: int = 1) -> float: ...


@runtime_checkable
class DescribedBucket(Protocol):
    """A bucket that can report its state without taking a token."""

    def state(self) -> BucketState: ...


def _check_rate(rate_per_s: float, burst: float) -> None:
    if rate_per_s <= 0 or burst < 1:
        raise ValueError(f"need rate_per_s > 0 and burst >= 1, got {rate_per_s}, {burst}")


def _check_n(n: int, burst: float) -> None:
    if n < 1 or n > burst:
        raise ValueError(f"n must be between 1 and burst={burst}, got {n}")


class TokenBucket:
    """In-process token bucket: `rate_per_s` refill, at most `burst` tokens, starts full."""

    def __init__(
        self, rate_per_s: float, burst: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        _check_rate(rate_per_s, burst)
        self.rate_per_s = rate_per_s
        self.burst = burst
        self._clock = clock
        self._tokens = float(burst)
        self._updated = clock()

    def available(self) -> float:
        """Tokens there now, refilled to this moment; takes nothing."""
        elapsed = max(0.0, self._clock() - self._updated)
        return min(self.burst, self._tokens + elapsed * self.rate_per_s)

    def state(self) -> BucketState:
        """Rate, burst and tokens now, without taking one."""
        return BucketState(self.rate_per_s, self.burst, self.available(), "local")

    def try_acquire(self, n: int = 1) -> float:
        """Take n tokens and return 0.0, or take nothing and return seconds until n exist."""
        _check_n(n, self.burst)
        now = self._clock()
        elapsed = max(0.0, now - self._updated)
        self._tokens = min(self.burst, self._tokens + elapsed * self.rate_per_s)
        self._updated = now
        if self._tokens + _EPSILON >= n:
            self._tokens = max(0.0, self._tokens - n)
            return 0.0
        return (n - self._tokens) / self.rate_per_s


@dataclass(frozen=True)
class LocalAsyncBucket:
    """Async face of a local `TokenBucket`, so `ClientQuota` takes one kind of bucket."""

    bucket: TokenBucket

    async def try_acquire(self, n: int = 1) -> float:
        """Same as `TokenBucket.try_acquire`."""
        return self.bucket.try_acquire(n)

    def state(self) -> BucketState:
        """Same as `TokenBucket.state`."""
        return self.bucket.state()


class RedisTokenBucket:
    """One token bucket shared by every edge node through a Redis hash and an atomic script.

    The script reads Redis server TIME, so node clocks never matter; `clock` replaces it only
    in tests. The key expires once a full refill has passed, which is when a fresh full bucket
    is the same state. `state()` cannot ask Redis (it is synchronous): it reports the tokens of
    the last reply refilled locally since, so other nodes' use since then is not in it.
    """

    def __init__(
        self,
        redis: Redis,
        key: str,
        rate_per_s: float,
        burst: float,
        clock: Callable[[], float] | None = None,
    ) -> None:
        _check_rate(rate_per_s, burst)
        self.key = key
        self.rate_per_s = rate_per_s
        self.burst = burst
        self._clock = clock
        self._local_clock = clock or time.monotonic
        self._ttl_ms = max(1000, math.ceil(2000 * burst / rate_per_s))
        self._script = redis.register_script(_TOKEN_BUCKET_LUA)
        self._seen: tuple[float, float] | None = None  # (tokens, local time) of the last reply

    async def try_acquire(self, n: int = 1) -> float:
        """Take n tokens and return 0.0, or return seconds until n exist (raises RedisError)."""
        _check_n(n, self.burst)
        args: list[float] = [self.rate_per_s, self.burst, n, self._ttl_ms]
        if self._clock is not None:
            args.append(self._clock())
        wait, tokens = await self._script(keys=[self.key], args=args)
        self._seen = (float(tokens), self._local_clock())
        return float(wait)

    def state(self) -> BucketState:
        """Rate, burst and the last reply's tokens refilled to now (None before any reply)."""
        tokens = None
        if self._seen is not None:
            seen, at = self._seen
            elapsed = max(0.0, self._local_clock() - at)
            tokens = min(self.burst, seen + elapsed * self.rate_per_s)
        return BucketState(self.rate_per_s, self.burst, tokens, "redis")


class FallbackBucket:
    """Shared bucket first; the local bucket while Redis errors or is slower than `timeout_s`.

    While degraded, Redis is tried again at most once per `retry_interval_s`, not on every
    call. `on_degraded(True)` fires on entering degraded mode, `on_degraded(False)` on leaving.
    """

    def __init__(
        self,
        shared: RedisTokenBucket,
        local: TokenBucket,
        on_degraded: Callable[[bool], None],
        timeout_s: float = 0.05,
        retry_interval_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._shared = shared
        self._local = local
        self._on_degraded = on_degraded
        self._timeout_s = timeout_s
        self._retry_interval_s = retry_interval_s
        self._clock = clock
        self._degraded = False
        self._next_probe_at = 0.0

    @property
    def degraded(self) -> bool:
        """True while the local bucket stands in for Redis."""
        return self._degraded

    def state(self) -> BucketState:
        """The shared bucket's state, or the local one's (marked degraded) while Redis is out."""
        if self._degraded:
            local = self._local.state()
            return BucketState(local.qps, local.burst, local.tokens, "local", degraded=True)
        return self._shared.state()

    async def try_acquire(self, n: int = 1) -> float:
        """Take n tokens from the shared bucket, or from the local one when Redis is down."""
        if self._degraded and self._clock() < self._next_probe_at:
            return self._local.try_acquire(n)
        try:
            wait = await asyncio.wait_for(self._shared.try_acquire(n), self._timeout_s)
        except (RedisError, OSError, TimeoutError) as exc:
            self._next_probe_at = self._clock() + self._retry_interval_s
            if not self._degraded:
                log.warning("shared quota unavailable, using local bucket: %r", exc)
                self._degraded = True
                self._on_degraded(True)
            return self._local.try_acquire(n)
        if self._degraded:
            log.info("shared quota back, leaving local bucket")
            self._degraded = False
            self._on_degraded(False)
        return wait
