"""Client-side quota for central: token buckets (local, Redis-shared, with fallback) and a gate.

Errors: `QuotaExceeded(retry_after_s)` is the only error raised to callers; Redis errors and
timeouts inside `FallbackBucket` are absorbed into degraded mode (reported by callback and
logged), never swallowed silently.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Protocol

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
return string.format('%.17g', wait)
"""


class QuotaExceeded(Exception):
    """The edge's share of central quota is used up; retry after `retry_after_s`."""

    def __init__(self, retry_after_s: float) -> None:
        super().__init__(f"central quota exceeded, retry after {retry_after_s:.3f}s")
        self.retry_after_s = retry_after_s


class AsyncBucket(Protocol):
    """Anything that grants n tokens now (returns 0.0) or says how long to wait."""

    async def try_acquire(self, n: int = 1) -> float: ...


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


class RedisTokenBucket:
    """One token bucket shared by every edge node through a Redis hash and an atomic script.

    The script reads Redis server TIME, so node clocks never matter; `clock` replaces it only
    in tests. The key expires once a full refill has passed, which is when a fresh full bucket
    is the same state.
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
        self._ttl_ms = max(1000, math.ceil(2000 * burst / rate_per_s))
        self._script = redis.register_script(_TOKEN_BUCKET_LUA)

    async def try_acquire(self, n: int = 1) -> float:
        """Take n tokens and return 0.0, or return seconds until n exist (raises RedisError)."""
        _check_n(n, self.burst)
        args: list[float] = [self.rate_per_s, self.burst, n, self._ttl_ms]
        if self._clock is not None:
            args.append(self._clock())
        reply = await self._script(keys=[self.key], args=args)
        return float(reply)


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


class ConcurrencyLimiter:
    """At most `max_concurrent` holders; waiters are served first come, first served."""

    def __init__(self, max_concurrent: int) -> None:
        if max_concurrent < 1:
            raise ValueError(f"max_concurrent must be >= 1, got {max_concurrent}")
        self.max_concurrent = max_concurrent
        self._in_use = 0
        self._waiters: deque[asyncio.Future[None]] = deque()

    @property
    def in_use(self) -> int:
        """Slots held right now."""
        return self._in_use

    def try_acquire(self) -> bool:
        """Take a slot if one is free now."""
        if self._in_use < self.max_concurrent:
            self._in_use += 1
            return True
        return False

    def release(self) -> None:
        """Give a slot back, handing it straight to the oldest waiter if there is one."""
        if self._in_use < 1:
            raise RuntimeError("release() without a matching acquire")
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self._in_use -= 1

    async def acquire(self, timeout_s: float) -> bool:
        """Wait up to `timeout_s` for a slot; False when none came in time."""
        if self.try_acquire():
            return True
        if timeout_s <= 0:
            return False
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            async with asyncio.timeout(timeout_s):
                await waiter
            return True
        except TimeoutError:
            return waiter.done() and not waiter.cancelled()
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release()
            raise
        finally:
            if not waiter.done():
                waiter.cancel()
            if waiter in self._waiters:
                self._waiters.remove(waiter)


class QuotaPermit:
    """One admitted call's concurrency slot; release exactly once (or use `with`)."""

    def __init__(self, limiter: ConcurrencyLimiter) -> None:
        self._limiter = limiter
        self._released = False

    def release(self) -> None:
        """Give the slot back; later calls do nothing."""
        if not self._released:
            self._released = True
            self._limiter.release()

    def __enter__(self) -> QuotaPermit:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


class ClientQuota:
    """Admits a call to central under QPS and concurrency limits, queueing briefly, then sheds."""

    def __init__(
        self,
        bucket: AsyncBucket,
        limiter: ConcurrencyLimiter,
        max_queue_wait_s: float = 0.25,
        busy_retry_after_s: float = 1.0,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._bucket = bucket
        self._limiter = limiter
        self._max_queue_wait_s = max_queue_wait_s
        self._busy_retry_after_s = busy_retry_after_s
        self._sleep = sleep
        self._clock = clock

    async def admit(self) -> QuotaPermit:
        """Return a permit once a slot and a token are held; raise QuotaExceeded if too slow."""
        started = self._clock()
        if not await self._limiter.acquire(self._max_queue_wait_s):
            raise QuotaExceeded(self._busy_retry_after_s)
        permit = QuotaPermit(self._limiter)
        try:
            while (wait := await self._bucket.try_acquire(1)) > 0.0:
                remaining = self._max_queue_wait_s - (self._clock() - started)
                if wait > remaining:
                    raise QuotaExceeded(wait)
                await self._sleep(wait)
        except BaseException:
            permit.release()
            raise
        return permit
