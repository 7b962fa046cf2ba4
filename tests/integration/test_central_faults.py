"""The central client against a scripted upstream that fails on purpose (429, 5xx, hangs)."""

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from redis.asyncio import Redis

from central_client.adapters import CentralCall
from central_client.breaker import BreakerConfig, BreakerState
from central_client.client import CentralClient
from central_client.config import ClientConfig, HedgeConfig, ProviderConfig, Runtime
from central_client.factory import build_adapter
from central_client.provider import ProviderClient
from central_client.retry import RetryPolicy
from central_client.transport import AiohttpTransport
from common.errors import BadUpstream, DeadlineExceeded, TooManyRequests, Unavailable
from common.quota import AsyncBucket, LocalAsyncBucket, RedisTokenBucket, TokenBucket
from common.quota_gate import ClientQuota, ConcurrencyLimiter
from tests.servers import TEST_KEY_ID, TEST_SECRET, serve


@dataclass
class Script:
    """What the upstream does for each request, in order; the last step repeats."""

    steps: list[tuple[Any, ...]]
    seen: list[dict[str, Any]] = field(default_factory=list)
    auth: list[str] = field(default_factory=list)

    def next(self) -> tuple[Any, ...]:
        return self.steps.pop(0) if len(self.steps) > 1 else self.steps[0]


def scripted_app(script: Script) -> web.Application:
    async def handler(request: web.Request) -> web.StreamResponse:
        body = await request.json()
        script.seen.append(body)
        script.auth.append(request.headers.get("Authorization", ""))
        step = script.next()
        kind = step[0]
        if kind == "ok":
            inputs = body["inputs"] if isinstance(body["inputs"], list) else [body["inputs"]]
            return web.json_response(
                {
                    "model": "scripted",
                    "usage": {"prompt_tokens": 1},
                    "outputs": [{"text": i.get("text", "")} for i in inputs],
                }
            )
        if kind == "status":
            headers = step[2] if len(step) > 2 else {}
            return web.json_response(
                {"error": {"message": f"scripted {step[1]}"}}, status=step[1], headers=headers
            )
        if kind == "hang":
            await asyncio.sleep(30)
        if kind == "garbage":
            return web.Response(body=b"<html>not json", content_type="application/json")
        if kind == "big":
            return web.json_response({"outputs": [{"text": "x" * 200_000}]})
        if kind == "reset":
            assert request.transport is not None
            request.transport.close()
            await asyncio.sleep(0.1)
        raise AssertionError(f"unknown step {step}")

    app = web.Application()
    app.router.add_post("/v3/models/{model}/generate", handler)
    return app


@pytest.fixture
async def upstream() -> AsyncIterator[tuple[str, Script]]:
    script = Script([("ok",)])
    async with serve(scripted_app(script)) as url:
        yield url, script


class FakeTime:
    """A monotonic clock the test moves, and a sleep that records instead of waiting."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def make_client(
    session: aiohttp.ClientSession,
    url: str,
    fake: FakeTime | None = None,
    *,
    attempts: int = 3,
    breaker: BreakerConfig | None = None,
    budget: tuple[float, float] = (1.0, 100.0),
    bucket: AsyncBucket | None = None,
    batch_size: int = 1,
    max_response_bytes: int = 1 << 20,
    clock: bool = True,
) -> CentralClient:
    """A one-provider client over real HTTP, on the fake clock unless `clock` is False."""
    fake = fake or FakeTime()
    provider = ProviderConfig(
        "central", "v3", url, "multimodal-pro", key_id=TEST_KEY_ID, secret=TEST_SECRET
    )
    config = ClientConfig(
        providers=(provider,),
        retry=RetryPolicy(max_attempts=attempts),
        retry_base_s=0.05,
        budget_ratio=budget[0],
        budget_min_per_s=budget[1],
        breaker=breaker or BreakerConfig(failure_threshold=1000, min_calls=1000, window_size=1000),
        batch_size=batch_size,
        batch_wait_s=0.02,
        max_response_bytes=max_response_bytes,
        hedge=HedgeConfig(enabled=False),
    )
    runtime = Runtime(clock=fake.clock, sleep=fake.sleep) if clock else Runtime()
    quota = ClientQuota(bucket or LocalAsyncBucket(TokenBucket(1000, 1000)), ConcurrencyLimiter(64))
    transport = AiohttpTransport(session)
    one = ProviderClient(provider, config, build_adapter(provider), transport, quota, runtime)
    return CentralClient([one], config, runtime)


def call(text: str = "hi", deadline: float | None = None) -> CentralCall:
    return CentralCall("generate", ({"text": text},), (("max_tokens", 4),), "req-1", deadline)


async def test_429_retry_after_is_honoured(upstream: tuple[str, Script]) -> None:
    url, script = upstream
    script.steps[:] = [("status", 429, {"Retry-After": "2"}), ("ok",)]
    fake = FakeTime()
    async with aiohttp.ClientSession() as session:
        answer = await make_client(session, url, fake).call(call("hello"))
    assert answer.outputs == [{"text": "hello"}]
    assert len(script.seen) == 2
    assert fake.sleeps == [2.0]


async def test_429_longer_than_the_deadline_fails_fast(upstream: tuple[str, Script]) -> None:
    url, script = upstream
    script.steps[:] = [("status", 429, {"Retry-After": "5"}), ("ok",)]
    fake = FakeTime()
    async with aiohttp.ClientSession() as session:
        with pytest.raises(TooManyRequests) as err:
            await make_client(session, url, fake).call(call(deadline=fake.now + 1.0))
    assert err.value.retry_after_s == 5
    assert fake.sleeps == [] and len(script.seen) == 1


async def test_5xx_storm_stays_within_retry_budget(upstream: tuple[str, Script]) -> None:
    url, script = upstream
    script.steps[:] = [("status", 503)]
    async with aiohttp.ClientSession() as session:
        client = make_client(session, url, attempts=3, budget=(0.2, 0.0))
        results = await asyncio.gather(
            *(client.call(call(str(i))) for i in range(50)), return_exceptions=True
        )
    assert len(results) == 50
    assert all(isinstance(r, Unavailable) for r in results)
    assert 50 <= len(script.seen) <= 50 + 10  # at most 20% extra load


async def test_other_4xx_are_not_retried(upstream: tuple[str, Script]) -> None:
    url, script = upstream
    script.steps[:] = [("status", 400)]
    async with aiohttp.ClientSession() as session:
        with pytest.raises(Exception) as err:
            await make_client(session, url).call(call())
    assert getattr(err.value, "status", None) == 400
    assert len(script.seen) == 1


async def test_breaker_opens_half_opens_and_closes(upstream: tuple[str, Script]) -> None:
    url, script = upstream
    script.steps[:] = [("status", 503)]
    fake = FakeTime()
    config = BreakerConfig(failure_threshold=3, recovery_timeout_s=10)
    async with aiohttp.ClientSession() as session:
        client = make_client(session, url, fake, attempts=1, breaker=config)
        breaker = client.providers[0].breaker
        for _ in range(3):
            with pytest.raises(Unavailable):
                await client.call(call())
        assert breaker.state is BreakerState.OPEN
        assert client.available()[0] is False
        with pytest.raises(Unavailable) as err:
            await client.call(call())
        assert err.value.code == "circuit_open" and err.value.retry_after_s >= 1
        assert len(script.seen) == 3  # the open breaker sent nothing
        fake.now += 11
        script.steps[:] = [("ok",)]
        assert (await client.call(call("probe"))).outputs == [{"text": "probe"}]
        assert breaker.state is BreakerState.CLOSED


async def test_hanging_upstream_gives_504_within_deadline_without_leaks(
    upstream: tuple[str, Script],
) -> None:
    url, script = upstream
    script.steps[:] = [("hang",)]

    def client_tasks() -> int:  # the scripted server's own hanging handler does not count
        return sum("RequestHandler" not in repr(t) for t in asyncio.all_tasks())

    tasks_before = client_tasks()
    async with aiohttp.ClientSession() as session:
        client = make_client(session, url, clock=False, breaker=BreakerConfig())
        started = time.monotonic()
        with pytest.raises(DeadlineExceeded):
            await client.call(call(deadline=time.monotonic() + 0.5))
        elapsed = time.monotonic() - started
    assert elapsed < 1.5  # the deadline bounds the call (0.5 s), not the 30 s hang
    await asyncio.sleep(0.05)
    assert client_tasks() <= tasks_before


@pytest.mark.parametrize("step", ["garbage", "big"])
async def test_garbage_or_oversized_answer_is_502(upstream: tuple[str, Script], step: str) -> None:
    url, script = upstream
    script.steps[:] = [(step,)]
    async with aiohttp.ClientSession() as session:
        with pytest.raises(BadUpstream):
            await make_client(session, url, max_response_bytes=64 * 1024).call(call())


async def test_reset_connection_is_retried(upstream: tuple[str, Script]) -> None:
    url, script = upstream
    script.steps[:] = [("reset",), ("ok",)]
    async with aiohttp.ClientSession() as session:
        answer = await make_client(session, url).call(call("again"))
    assert answer.outputs == [{"text": "again"}]
    assert len(script.seen) == 2


async def test_401_refreshes_the_token_once(upstream: tuple[str, Script]) -> None:
    url, script = upstream
    script.steps[:] = [("status", 401), ("ok",)]
    async with aiohttp.ClientSession() as session:
        answer = await make_client(session, url).call(call("x"))
    assert answer.outputs == [{"text": "x"}]
    assert len(script.seen) == 2
    assert all(a.startswith("Bearer ") for a in script.auth)


async def test_concurrent_calls_are_batched_and_answered_individually(
    upstream: tuple[str, Script],
) -> None:
    url, script = upstream
    async with aiohttp.ClientSession() as session:
        client = make_client(session, url, batch_size=8)
        answers = await asyncio.gather(*(client.call(call(f"caller-{i}")) for i in range(20)))
    assert [a.outputs[0]["text"] for a in answers] == [f"caller-{i}" for i in range(20)]
    assert len(script.seen) < 20
    assert any(isinstance(body["inputs"], list) for body in script.seen)


async def test_every_request_gets_exactly_one_answer_under_flapping(
    upstream: tuple[str, Script],
) -> None:
    url, script = upstream
    script.steps[:] = [("ok",), ("status", 503), ("reset",), ("ok",), ("status", 500)] * 20
    async with aiohttp.ClientSession() as session:
        client = make_client(session, url, attempts=2)
        results = await asyncio.gather(
            *(client.call(call(str(i))) for i in range(60)), return_exceptions=True
        )
    assert len(results) == 60
    for result in results:
        assert not isinstance(result, BaseException) or isinstance(result, Unavailable)


async def test_two_clients_share_one_redis_bucket(
    upstream: tuple[str, Script], redis_url: str
) -> None:
    url, script = upstream
    key = f"hybrid-router:test-quota:{time.monotonic_ns()}"
    rate, burst, duration = 10.0, 5, 2.0
    redis_a, redis_b = Redis.from_url(redis_url), Redis.from_url(redis_url)
    try:
        async with aiohttp.ClientSession() as session:
            clients = [
                make_client(
                    session, url, bucket=RedisTokenBucket(redis, key, rate_per_s=rate, burst=burst)
                )
                for redis in (redis_a, redis_b)
            ]
            admitted = 0
            stop = time.monotonic() + duration

            async def hammer(client: CentralClient) -> None:
                nonlocal admitted
                while time.monotonic() < stop:
                    try:
                        await client.call(call())
                        admitted += 1
                    except TooManyRequests:
                        await asyncio.sleep(0.01)

            await asyncio.gather(*(hammer(c) for c in clients for _ in range(3)))
    finally:
        await redis_a.delete(key)
        await redis_a.aclose()
        await redis_b.aclose()
    allowed = rate * duration + burst
    assert allowed * 0.9 <= admitted <= allowed * 1.1
    assert len(script.seen) == admitted
