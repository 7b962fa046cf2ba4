"""Tests for common.quota and common.quota_gate: local and Redis-shared buckets, fallback,
concurrency, admission, and the state they report."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from common.quota import FallbackBucket, LocalAsyncBucket, RedisTokenBucket, TokenBucket
from common.quota_gate import ClientQuota, ConcurrencyLimiter, QuotaExceeded


class FakeClock:
    """A monotonic clock that only moves when told to."""

    def __init__(self, start: float = 100.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


class FakeSleep:
    """An async sleep that advances a fake clock instead of waiting."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)
        self.clock.now += seconds


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    """REDIS_URL if it answers, else a private redis-server on a free port."""
    url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/15")
    try:
        import redis as sync_redis

        sync_redis.Redis.from_url(url, socket_connect_timeout=0.5).ping()
        yield url
        return
    except sync_redis.exceptions.ConnectionError:
        binary = shutil.which("redis-server")
        if binary is None:
            raise
    port = _free_port()
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    try:
        client = sync_redis.Redis(port=port)
        for _ in range(100):
            try:
                client.ping()
                break
            except sync_redis.exceptions.ConnectionError:
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/15"
    finally:
        proc.terminate()
        proc.wait(timeout=5)


@pytest.fixture
async def redis_pair(redis_url: str) -> AsyncIterator[tuple[Redis, Redis, str]]:
    """Two independent clients (two "edge nodes") and a unique key prefix, cleaned up after."""
    first, second = Redis.from_url(redis_url), Redis.from_url(redis_url)
    prefix = f"test:quota:{uuid.uuid4().hex}:"
    try:
        yield first, second, prefix
    finally:
        keys = [key async for key in first.scan_iter(match=prefix + "*")]
        if keys:
            await first.delete(*keys)
        await first.aclose()
        await second.aclose()


# --- TokenBucket -------------------------------------------------------------------------


def test_token_bucket_starts_full_then_refills_at_rate() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate_per_s=10.0, burst=5, clock=clock)
    assert [bucket.try_acquire() for _ in range(5)] == [0.0] * 5
    assert bucket.try_acquire() == pytest.approx(0.1)
    clock.now += 0.1
    assert bucket.try_acquire() == 0.0
    assert bucket.try_acquire() == pytest.approx(0.1)


def test_token_bucket_admits_rate_times_duration_plus_burst() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate_per_s=20.0, burst=10, clock=clock)
    admitted = 0
    for _ in range(3000):  # 3000 tries over 3 s
        admitted += bucket.try_acquire() == 0.0
        clock.now += 0.001
    assert admitted == pytest.approx(20 * 3 + 10, abs=1)


def test_token_bucket_never_exceeds_burst_and_reports_wait_for_n() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate_per_s=2.0, burst=4, clock=clock)
    clock.now += 1000.0
    assert bucket.try_acquire(4) == 0.0
    assert bucket.try_acquire(3) == pytest.approx(1.5)
    with pytest.raises(ValueError):
        bucket.try_acquire(5)


# --- ConcurrencyLimiter ------------------------------------------------------------------


async def test_concurrency_limiter_try_acquire_and_release() -> None:
    limiter = ConcurrencyLimiter(2)
    assert limiter.try_acquire() and limiter.try_acquire()
    assert not limiter.try_acquire()
    limiter.release()
    assert limiter.in_use == 1
    assert limiter.try_acquire()
    limiter.release()
    limiter.release()
    with pytest.raises(RuntimeError):
        limiter.release()


async def test_concurrency_limiter_hands_slot_to_waiter_in_order() -> None:
    limiter = ConcurrencyLimiter(1)
    assert limiter.try_acquire()
    order: list[str] = []

    async def wait(name: str) -> None:
        assert await limiter.acquire(timeout_s=30.0)
        order.append(name)

    first = asyncio.create_task(wait("first"))
    await asyncio.sleep(0)
    second = asyncio.create_task(wait("second"))
    await asyncio.sleep(0)
    limiter.release()
    await first
    assert order == ["first"]
    assert limiter.in_use == 1
    limiter.release()
    await second
    assert order == ["first", "second"]
    limiter.release()
    assert limiter.in_use == 0


async def test_concurrency_limiter_zero_timeout_and_cancelled_waiter() -> None:
    limiter = ConcurrencyLimiter(1)
    assert limiter.try_acquire()
    assert not await limiter.acquire(timeout_s=0)
    waiter = asyncio.create_task(limiter.acquire(timeout_s=30.0))
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    limiter.release()  # the cancelled waiter must not take the slot
    assert limiter.in_use == 0


# --- ClientQuota -------------------------------------------------------------------------


async def test_client_quota_queues_briefly_for_a_token() -> None:
    clock = FakeClock()
    sleep = FakeSleep(clock)
    bucket = LocalAsyncBucket(TokenBucket(rate_per_s=10.0, burst=1, clock=clock))
    quota = ClientQuota(
        bucket, ConcurrencyLimiter(4), max_queue_wait_s=0.25, sleep=sleep, clock=clock
    )
    with await quota.admit():
        pass
    permit = await quota.admit()  # waits 0.1 s (fake) for the next token
    assert sleep.calls == [pytest.approx(0.1)]
    permit.release()
    permit.release()  # idempotent


async def test_client_quota_sheds_with_retry_after_when_wait_is_too_long() -> None:
    clock = FakeClock()
    sleep = FakeSleep(clock)
    limiter = ConcurrencyLimiter(4)
    bucket = LocalAsyncBucket(TokenBucket(rate_per_s=2.0, burst=1, clock=clock))
    quota = ClientQuota(bucket, limiter, max_queue_wait_s=0.25, sleep=sleep, clock=clock)
    (await quota.admit()).release()
    with pytest.raises(QuotaExceeded) as info:
        await quota.admit()
    assert info.value.retry_after_s == pytest.approx(0.5)
    assert sleep.calls == []
    assert limiter.in_use == 0  # the slot taken while waiting for a token was given back


async def test_client_quota_sheds_when_all_slots_are_busy() -> None:
    clock = FakeClock()
    limiter = ConcurrencyLimiter(1)
    bucket = LocalAsyncBucket(TokenBucket(rate_per_s=100.0, burst=100, clock=clock))
    quota = ClientQuota(
        bucket,
        limiter,
        max_queue_wait_s=0.0,
        busy_retry_after_s=0.7,
        sleep=FakeSleep(clock),
        clock=clock,
    )
    held = await quota.admit()
    with pytest.raises(QuotaExceeded) as info:
        await quota.admit()
    assert info.value.retry_after_s == 0.7
    held.release()
    (await quota.admit()).release()


# --- RedisTokenBucket --------------------------------------------------------------------


async def test_redis_bucket_grants_burst_then_reports_wait_and_sets_ttl(
    redis_pair: tuple[Redis, Redis, str],
) -> None:
    client, _, prefix = redis_pair
    bucket = RedisTokenBucket(client, prefix + "bucket", rate_per_s=1.0, burst=3)
    assert [await bucket.try_acquire() for _ in range(3)] == [0.0] * 3
    wait = await bucket.try_acquire()
    assert 0.9 < wait <= 1.0
    ttl_ms = await client.pttl(prefix + "bucket")
    assert 0 < ttl_ms <= 6000


async def test_redis_bucket_shared_by_two_nodes_admits_at_rate(
    redis_pair: tuple[Redis, Redis, str],
) -> None:
    first, second, prefix = redis_pair
    rate, burst, steps, step_s = 100.0, 20, 200, 0.01
    # A stepped clock stands in for Redis TIME (a VM's wall clock may step mid-test); the
    # script, the hash and the two connections are real.
    clock = FakeClock(1_700_000_000.0)
    buckets = [
        RedisTokenBucket(client, prefix + "shared", rate_per_s=rate, burst=burst, clock=clock)
        for client in (first, second)
    ]
    admitted = 0
    calls = 0

    async def hammer(bucket: RedisTokenBucket) -> None:
        nonlocal admitted, calls
        for _ in range(4):  # more than the one token a 10 ms step refills, split over 6 callers
            wait = await bucket.try_acquire()  # await first: `x += await f()` loses updates
            calls += 1
            admitted += wait == 0.0

    for _ in range(steps):
        await asyncio.gather(*(hammer(b) for b in buckets for _ in range(3)))
        clock.now += step_s
    expected = rate * step_s * (steps - 1) + burst  # no refill after the last step is used
    assert calls > 3 * expected  # offered load far above the rate
    assert admitted == pytest.approx(expected, abs=1)


# --- FallbackBucket ----------------------------------------------------------------------


async def test_fallback_uses_local_bucket_when_redis_is_down() -> None:
    clock = FakeClock()
    # No client-side retries, so the refused connection surfaces at once as a RedisError.
    down = Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.05, retry=Retry(NoBackoff(), 0))
    events: list[bool] = []
    try:
        fallback = FallbackBucket(
            RedisTokenBucket(down, "test:quota:down", rate_per_s=1000.0, burst=1000),
            TokenBucket(rate_per_s=1.0, burst=2, clock=clock),
            on_degraded=events.append,
            timeout_s=0.5,
            retry_interval_s=5.0,
            clock=clock,
        )
        assert await fallback.try_acquire() == 0.0
        assert fallback.degraded
        assert events == [True]
        # Local limits apply while degraded (the shared bucket would have granted 1000).
        assert await fallback.try_acquire() == 0.0
        assert await fallback.try_acquire() == pytest.approx(1.0)
        clock.now += 6.0
        await fallback.try_acquire()  # probes Redis again, still down: no second event
        assert events == [True]
    finally:
        await down.aclose()


class FlakyShared:
    """A shared bucket whose availability and speed the test controls."""

    def __init__(self) -> None:
        self.up = False
        self.slow = False
        self.calls = 0

    async def try_acquire(self, n: int = 1) -> float:
        self.calls += 1
        if self.slow:
            await asyncio.Event().wait()  # never answers; the timeout must cut it off
        if not self.up:
            raise ConnectionError("redis down")
        return 0.0


async def test_fallback_probes_redis_only_after_interval_and_recovers() -> None:
    clock = FakeClock()
    shared = FlakyShared()
    events: list[bool] = []
    fallback = FallbackBucket(
        shared,  # type: ignore[arg-type]
        TokenBucket(rate_per_s=1000.0, burst=1000, clock=clock),
        on_degraded=events.append,
        retry_interval_s=1.0,
        clock=clock,
    )
    for _ in range(10):
        assert await fallback.try_acquire() == 0.0
    assert shared.calls == 1  # not on every call while down
    shared.up = True
    clock.now += 0.5
    await fallback.try_acquire()
    assert shared.calls == 1
    clock.now += 0.5
    await fallback.try_acquire()
    assert shared.calls == 2
    assert not fallback.degraded
    assert events == [True, False]


async def test_fallback_treats_slow_redis_as_down() -> None:
    clock = FakeClock()
    shared = FlakyShared()
    shared.up, shared.slow = True, True
    events: list[bool] = []
    fallback = FallbackBucket(
        shared,  # type: ignore[arg-type]
        TokenBucket(rate_per_s=1.0, burst=1, clock=clock),
        on_degraded=events.append,
        timeout_s=0.01,
        clock=clock,
    )
    assert await fallback.try_acquire() == 0.0
    assert events == [True]


# --- describe: the state /readyz and the status page show ---------------------------------


async def test_describe_reports_tokens_and_slots_without_taking_a_token() -> None:
    clock = FakeClock()
    limiter = ConcurrencyLimiter(3)
    bucket = LocalAsyncBucket(TokenBucket(rate_per_s=2.0, burst=4, clock=clock))
    quota = ClientQuota(bucket, limiter, max_queue_wait_s=0.1, sleep=FakeSleep(clock), clock=clock)
    fresh = quota.describe()
    assert fresh == {
        "qps": 2.0,
        "burst": 4,
        "tokens": 4.0,
        "store": "local",
        "degraded": False,
        "in_flight": 0,
        "max_concurrent": 3,
        "waiting": 0,
        "sheds": 0,
    }
    assert quota.describe() == fresh  # looking takes nothing
    first, second = await quota.admit(), await quota.admit()
    assert quota.describe()["tokens"] == 2.0 and quota.describe()["in_flight"] == 2
    clock.now += 0.25
    assert quota.describe()["tokens"] == 2.5  # refilled at 2/s, still not taken
    first.release()
    second.release()
    assert quota.describe()["in_flight"] == 0


async def test_describe_counts_sheds_and_waiters() -> None:
    clock = FakeClock()
    limiter = ConcurrencyLimiter(1)
    bucket = LocalAsyncBucket(TokenBucket(rate_per_s=1.0, burst=1, clock=clock))
    quota = ClientQuota(bucket, limiter, max_queue_wait_s=0.1, sleep=FakeSleep(clock), clock=clock)
    (await quota.admit()).release()
    with pytest.raises(QuotaExceeded):
        await quota.admit()  # no token for 1 s: shed
    assert limiter.try_acquire()  # the one slot is busy
    waiter = asyncio.create_task(limiter.acquire(timeout_s=30.0))
    await asyncio.sleep(0)
    assert quota.describe()["waiting"] == 1 and quota.describe()["in_flight"] == 1
    quota.record_shed()  # a caller that stopped waiting
    assert quota.describe()["sheds"] == 2
    limiter.release()  # handed straight to the waiter
    assert await waiter
    limiter.release()
    assert quota.describe()["waiting"] == 0 and quota.describe()["in_flight"] == 0


class NoRateLimit:
    """A bucket with no QPS limit and no state to report (like central_client's `Unlimited`)."""

    async def try_acquire(self, n: int = 1) -> float:
        return 0.0


async def test_describe_without_a_qps_limit_still_reports_concurrency() -> None:
    quota = ClientQuota(NoRateLimit(), ConcurrencyLimiter(5))
    with await quota.admit():
        described = quota.describe()
    assert described["qps"] is None and described["tokens"] is None
    assert described["store"] is None and described["degraded"] is False
    assert (described["in_flight"], described["max_concurrent"]) == (1, 5)


async def test_describe_of_a_redis_bucket_is_its_last_reply_refilled_to_now(
    redis_pair: tuple[Redis, Redis, str],
) -> None:
    client, _, prefix = redis_pair
    clock = FakeClock(1_700_000_000.0)  # stands in for Redis TIME and the local clock alike
    bucket = RedisTokenBucket(client, prefix + "seen", rate_per_s=1.0, burst=3, clock=clock)
    quota = ClientQuota(bucket, ConcurrencyLimiter(2), sleep=FakeSleep(clock), clock=clock)
    assert quota.describe()["tokens"] is None  # nothing seen from Redis yet
    assert quota.describe()["store"] == "redis"
    for _ in range(2):
        (await quota.admit()).release()
    assert quota.describe()["tokens"] == 1.0
    clock.now += 0.5
    assert quota.describe()["tokens"] == 1.5
    clock.now += 10.0
    assert quota.describe()["tokens"] == 3.0  # never above burst


async def test_describe_of_a_degraded_fallback_names_the_local_bucket_and_no_secret() -> None:
    clock = FakeClock()
    password = "hunter2-redis-password-0123"
    down = Redis.from_url(
        f"redis://:{password}@127.0.0.1:1/0",
        socket_connect_timeout=0.05,
        retry=Retry(NoBackoff(), 0),
    )
    try:
        fallback = FallbackBucket(
            RedisTokenBucket(down, "test:quota:describe", rate_per_s=50.0, burst=50),
            TokenBucket(rate_per_s=5.0, burst=10, clock=clock),
            on_degraded=lambda degraded: None,
            timeout_s=0.5,
            clock=clock,
        )
        quota = ClientQuota(fallback, ConcurrencyLimiter(4), sleep=FakeSleep(clock), clock=clock)
        assert quota.describe()["store"] == "redis" and not quota.describe()["degraded"]
        (await quota.admit()).release()
        described = quota.describe()
    finally:
        await down.aclose()
    assert described["degraded"] is True and described["store"] == "local"
    assert (described["qps"], described["burst"], described["tokens"]) == (5.0, 10, 9.0)
    text = json.dumps(described)
    assert password not in text and "127.0.0.1" not in text
