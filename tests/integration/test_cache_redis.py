"""The Redis response cache against real Redis: sharing, TTL, compression, and Redis faults.

Fault tests start their own `redis-server` on a free port; the shared Redis is never touched
beyond keys in a namespace unique to each test.
"""

from __future__ import annotations

import asyncio
import shutil
import signal
import subprocess
import time
import uuid
import zlib
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager

import pytest
import redis
import redis.asyncio as aioredis

from router.cache import CachePolicy, ResponseCache, result_from_bytes
from router.cache_backends import KEY_PREFIX, RedisCache
from router.pipeline import Result
from tests.servers import free_port

READ_WRITE = CachePolicy(read=True, write=True)
ANSWER = Result(
    [{"labels": [{"label": "billing", "score": 0.91}, {"label": "tech", "score": 0.09}]}],
    "edge",
    "edge_capable",
    "minilm-zero-shot",
    {"inputs": 1},
)


@pytest.fixture
def namespace() -> str:
    return f"test-{uuid.uuid4().hex}"


@pytest.fixture
async def raw(redis_url: str, namespace: str) -> AsyncIterator[aioredis.Redis]:
    """A plain client on the shared test Redis; deletes the test's namespace afterwards."""
    client = aioredis.Redis.from_url(redis_url)
    yield client
    keys = [k async for k in client.scan_iter(match=f"{KEY_PREFIX}:{namespace}:*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


@pytest.fixture
async def shared(redis_url: str, namespace: str, raw: aioredis.Redis) -> AsyncIterator[RedisCache]:
    """A RedisCache on the shared test Redis (its keys are deleted by `raw`)."""
    cache = RedisCache.from_url(redis_url, namespace, timeout_s=1.0)
    yield cache
    await cache.close()


class Producer:
    """Counts calls and returns a fixed result."""

    def __init__(self, answer: Result = ANSWER) -> None:
        self.calls = 0
        self.answer = answer

    async def __call__(self) -> Result:
        self.calls += 1
        return self.answer


async def poll(condition: object, attempts: int = 200, every_s: float = 0.05) -> None:
    """Wait for an async condition to hold (waiting for expiry/recovery, not timing it)."""
    for _ in range(attempts):
        if await condition():  # type: ignore[operator]
            return
        await asyncio.sleep(every_s)
    raise AssertionError("condition never held")


async def test_miss_then_hit(shared: RedisCache) -> None:
    events: list[tuple[str, str]] = []
    cache = ResponseCache(shared, ttl_s=60, on_event=lambda b, o: events.append((b, o)))
    produce = Producer()
    assert await cache.get_or_compute("k1", READ_WRITE, produce) == (ANSWER, False)
    assert await cache.get_or_compute("k1", READ_WRITE, produce) == (ANSWER, True)
    assert produce.calls == 1
    assert events == [("redis", "miss"), ("redis", "store"), ("redis", "hit")]
    assert await shared.get("absent") is None


async def test_entries_expire(shared: RedisCache, raw: aioredis.Redis) -> None:
    await shared.set("short", b"soon gone", ttl_s=1.0)
    ttl_ms = await raw.pttl(shared.full_key("short"))
    assert 0 < ttl_ms <= 1000
    assert await shared.get("short") == b"soon gone"

    async def expired() -> bool:
        return await shared.get("short") is None

    await poll(expired)


async def test_values_are_namespaced_and_compressed(
    shared: RedisCache, raw: aioredis.Redis, namespace: str
) -> None:
    value = b'{"text": "' + b"the same words again " * 200 + b'"}'
    await shared.set("big", value, ttl_s=60)
    stored = await raw.get(f"hybrid-router:cache:{namespace}:big")
    assert stored is not None
    assert stored != value
    assert len(stored) < len(value) / 5
    assert zlib.decompress(stored) == value


async def test_two_edge_nodes_share_hits(redis_url: str, namespace: str) -> None:
    node_a = RedisCache.from_url(redis_url, namespace, timeout_s=1.0)
    node_b = RedisCache.from_url(redis_url, namespace, timeout_s=1.0)
    try:
        produce_a, produce_b = Producer(), Producer()
        first = await ResponseCache(node_a).get_or_compute("shared", READ_WRITE, produce_a)
        second = await ResponseCache(node_b).get_or_compute("shared", READ_WRITE, produce_b)
        assert first == (ANSWER, False)
        assert second == (ANSWER, True)
        assert (produce_a.calls, produce_b.calls) == (1, 0)
        other = RedisCache.from_url(redis_url, f"{namespace}x", timeout_s=1.0)
        assert await other.get("shared") is None  # another namespace never sees it
        await other.close()
    finally:
        await node_a.close()
        await node_b.close()
        client = aioredis.Redis.from_url(redis_url)
        await client.delete(node_a.full_key("shared"))
        await client.aclose()


async def test_a_corrupt_value_is_a_bypass_not_an_error(
    raw: aioredis.Redis, namespace: str
) -> None:
    reasons: list[str] = []
    cache = RedisCache(raw, namespace, timeout_s=1.0, on_bypass=reasons.append)
    await raw.set(cache.full_key("bad"), b"not zlib", px=60_000)
    assert await cache.get("bad") is None
    assert reasons == ["corrupt_value"]


# --- our own redis-server, for faults ------------------------------------------------


class OwnRedis:
    """A redis-server on a free port that this test may stop, pause and restart."""

    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.skip("redis-server is not installed")
        self.binary = binary
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
        )
        with redis.Redis.from_url(self.url, socket_timeout=0.5) as client:
            for _ in range(200):
                try:
                    if client.ping():
                        return
                except redis.ConnectionError:
                    pass
                if self.proc.poll() is not None:
                    raise RuntimeError("redis-server exited on start")
                time.sleep(0.05)
        raise RuntimeError("redis-server did not answer")

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(5)

    def pause(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.terminate()
            self.proc.wait(5)


@contextmanager
def own_redis() -> Iterator[OwnRedis]:
    server = OwnRedis()
    server.start()
    try:
        yield server
    finally:
        server.stop()


async def test_redis_stopped_mid_test_bypasses_then_recovers() -> None:
    reasons: list[str] = []
    events: list[tuple[str, str]] = []
    with own_redis() as server:
        backend = RedisCache.from_url(
            server.url, "faults", timeout_s=0.5, retry_after_s=0.2, on_bypass=reasons.append
        )
        cache = ResponseCache(backend, ttl_s=60, on_event=lambda b, o: events.append((b, o)))
        try:
            produce = Producer()
            assert await cache.get_or_compute("k", READ_WRITE, produce) == (ANSWER, False)
            assert await cache.get_or_compute("k", READ_WRITE, produce) == (ANSWER, True)
            assert reasons == []

            server.kill()
            assert await backend.get("k") is None
            await backend.set("k2", b"dropped", 60)
            answer = await cache.get_or_compute("k", READ_WRITE, produce)
            assert answer == (ANSWER, False)  # served by the producer, no error
            assert produce.calls == 2
            assert reasons, "the bypass hook must fire while Redis is down"
            assert set(reasons) <= {"ConnectionError", "TimeoutError", "timeout", "backoff"}

            server.start()

            async def recovered() -> bool:
                await backend.set("k3", b"back", 60)
                return await backend.get("k3") == b"back"

            await poll(recovered)
            produce_after = Producer()
            await cache.get_or_compute("k4", READ_WRITE, produce_after)
            assert await cache.get_or_compute("k4", READ_WRITE, produce_after) == (ANSWER, True)
            assert produce_after.calls == 1
            assert await backend.get("k2") is None  # the set while down was dropped
        finally:
            await backend.close()


async def test_a_hung_redis_is_bypassed_within_the_timeout() -> None:
    reasons: list[str] = []
    with own_redis() as server:
        backend = RedisCache.from_url(
            server.url, "faults", timeout_s=0.05, retry_after_s=0.2, on_bypass=reasons.append
        )
        cache = ResponseCache(backend, ttl_s=60)
        try:
            await backend.set("k", b"v", 60)
            assert await backend.get("k") == b"v"
            server.pause()
            produce = Producer()
            assert await cache.get_or_compute("k", READ_WRITE, produce) == (ANSWER, False)
            assert reasons[0] == "timeout"
            server.resume()

            async def recovered() -> bool:
                return await backend.get("k") == b"v"

            await poll(recovered)
        finally:
            await backend.close()


async def test_stored_results_read_back_exactly(shared: RedisCache) -> None:
    cache = ResponseCache(shared, ttl_s=60)
    await cache.get_or_compute("exact", READ_WRITE, Producer())
    data = await shared.get("exact")
    assert data is not None
    assert result_from_bytes(data) == ANSWER
