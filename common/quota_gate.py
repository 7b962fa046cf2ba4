"""Admission to central under client-side quota: concurrency slots, a token bucket, brief
queueing, then shedding with `QuotaExceeded(retry_after_s)`; and the quota's live state."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any

from common.quota import AsyncBucket, DescribedBucket


class QuotaExceeded(Exception):
    """The edge's share of central quota is used up; retry after `retry_after_s`."""

    def __init__(self, retry_after_s: float) -> None:
        super().__init__(f"central quota exceeded, retry after {retry_after_s:.3f}s")
        self.retry_after_s = retry_after_s


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

    @property
    def waiting(self) -> int:
        """Callers queued for a slot right now."""
        return sum(not waiter.done() for waiter in self._waiters)

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
    """Admits a call to central under QPS and concurrency limits, queueing briefly, then sheds.

    `sheds` counts calls refused since start: by `admit` itself, and by callers that gave up
    waiting and said so with `record_shed`.
    """

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
        self.sheds = 0

    async def admit(self) -> QuotaPermit:
        """Return a permit once a slot and a token are held; raise QuotaExceeded if too slow."""
        started = self._clock()
        if not await self._limiter.acquire(self._max_queue_wait_s):
            self.sheds += 1
            raise QuotaExceeded(self._busy_retry_after_s)
        permit = QuotaPermit(self._limiter)
        try:
            while (wait := await self._bucket.try_acquire(1)) > 0.0:
                remaining = self._max_queue_wait_s - (self._clock() - started)
                if wait > remaining:
                    self.sheds += 1
                    raise QuotaExceeded(wait)
                await self._sleep(wait)
        except BaseException:
            permit.release()
            raise
        return permit

    def record_shed(self) -> None:
        """Count a call refused because its caller stopped waiting for `admit`."""
        self.sheds += 1

    def describe(self) -> dict[str, Any]:
        """Live state for `/readyz` and the status page; takes no token and holds no secret.

        `qps`, `burst`, `tokens` and `store` are None when no QPS limit is set; concurrency is
        always there.
        """
        bucket = self._bucket
        state = bucket.state() if isinstance(bucket, DescribedBucket) else None
        tokens = None if state is None or state.tokens is None else round(state.tokens, 2)
        return {
            "qps": None if state is None else state.qps,
            "burst": None if state is None else state.burst,
            "tokens": tokens,
            "store": None if state is None else state.store,
            "degraded": False if state is None else state.degraded,
            "in_flight": self._limiter.in_use,
            "max_concurrent": self._limiter.max_concurrent,
            "waiting": self._limiter.waiting,
            "sheds": self.sheds,
        }
