"""Fallback across providers, hedging and batching rules, over a MockTransport (no sockets)."""

import asyncio
import json
from collections.abc import Awaitable, Callable

import pytest
from multidict import CIMultiDict

from central_client.adapters import CentralCall
from central_client.breaker import BreakerConfig, BreakerState
from central_client.client import CentralClient
from central_client.config import ClientConfig, HedgeConfig, ProviderConfig, QuotaConfig, Runtime
from central_client.factory import build_client
from central_client.transport import MockResponse, MockTransport, ReadTimedOut, Request
from common.errors import BadRequest, DeadlineExceeded, NotSupported, Unavailable


class FakeTime:
    """A clock the test moves; sleeps advance it instead of waiting."""

    def __init__(self) -> None:
        self.now = 100.0

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds


def chat_ok(text: str) -> MockResponse:
    return MockResponse(
        200,
        json.dumps(
            {"model": "m", "choices": [{"message": {"content": text}, "finish_reason": "stop"}]}
        ).encode(),
    )


NO_HEDGE = HedgeConfig(enabled=False)


def provider(name: str, **kw: object) -> ProviderConfig:
    return ProviderConfig(name, "openai", f"http://{name}.test", "m", api_key=f"key-{name}", **kw)


def make(
    handler: Callable[[Request], Awaitable[MockResponse]],
    names: tuple[str, ...] = ("p1", "p2"),
    fake: FakeTime | None = None,
    hedge: HedgeConfig = NO_HEDGE,
    batch_size: int = 8,
    providers: tuple[ProviderConfig, ...] | None = None,
) -> tuple[CentralClient, MockTransport]:
    transport = MockTransport(handler)
    config = ClientConfig(
        providers=providers or tuple(provider(n) for n in names),
        breaker=BreakerConfig(failure_threshold=2, recovery_timeout_s=10),
        hedge=hedge,
        batch_size=batch_size,
    )
    runtime = Runtime(clock=fake.clock, sleep=fake.sleep) if fake else Runtime()
    return build_client(config, transport, runtime), transport


def chat(text: str = "hi", deadline: float | None = None, **params: object) -> CentralCall:
    return CentralCall("generate", ({"text": text},), tuple(sorted(params.items())), "r", deadline)


def host(request: Request) -> str:
    return request.url.split("//")[1].split(".")[0]


async def test_a_failing_first_provider_hands_over_and_comes_back_after_recovery() -> None:
    fake = FakeTime()
    down = {"p1"}

    async def handler(request: Request) -> MockResponse:
        if host(request) in down:
            return MockResponse(503, b'{"error": {"message": "down"}}')
        return chat_ok(f"from {host(request)}")

    client, transport = make(handler, fake=fake)
    answers = [await client.call(chat(deadline=fake.now + 5)) for _ in range(4)]
    assert [a.provider for a in answers] == ["p2"] * 4
    assert all(a.outputs[0]["text"] == "from p2" for a in answers)
    assert client.providers[0].breaker.state is BreakerState.OPEN
    sent_to_p1 = sum(host(r) == "p1" for r in transport.requests)
    assert sent_to_p1 == 2  # the open circuit sends nothing more to p1
    down.clear()
    fake.now += 11  # past the recovery timeout: p1 gets a probe and is back
    assert (await client.call(chat())).provider == "p1"
    assert client.providers[0].breaker.state is BreakerState.CLOSED
    assert (await client.call(chat())).provider == "p1"


async def test_rate_limited_first_provider_hands_over() -> None:
    async def handler(request: Request) -> MockResponse:
        if host(request) == "p1":
            return MockResponse(429, b"{}", CIMultiDict({"retry-after-ms": "1500"}))
        return chat_ok("ok")

    client, _ = make(handler)
    assert (await client.call(chat())).provider == "p2"


async def test_caller_errors_do_not_fail_over() -> None:
    async def handler(request: Request) -> MockResponse:
        return MockResponse(400, b'{"error": {"message": "bad max_tokens"}}')

    client, transport = make(handler)
    with pytest.raises(BadRequest, match="bad max_tokens"):
        await client.call(chat())
    assert len(transport.requests) == 1


async def test_every_provider_down_is_503_with_retry_after() -> None:
    async def handler(request: Request) -> MockResponse:
        return MockResponse(503, b"{}", CIMultiDict({"retry-after": "7"}))

    client, _ = make(handler, batch_size=1, fake=FakeTime())
    with pytest.raises(Unavailable) as err:
        await client.call(chat())
    assert err.value.retry_after_s == 7


async def test_a_provider_slower_than_the_deadline_goes_last() -> None:
    fake = FakeTime()

    async def handler(request: Request) -> MockResponse:
        return chat_ok(host(request))

    client, _ = make(handler, fake=fake)
    for _ in range(5):
        client.providers[0].latency.record(3.0)  # p1 answers in 3 s lately
    assert (await client.call(chat(deadline=fake.now + 1.0))).provider == "p2"
    assert (await client.call(chat(deadline=fake.now + 10.0))).provider == "p1"


async def test_media_no_provider_takes_is_501_naming_it() -> None:
    async def handler(request: Request) -> MockResponse:
        raise AssertionError("nothing may be sent")

    client, transport = make(handler)
    audio_chat = CentralCall(
        "generate", ({"text": "Transcribe this", "audio": "UklGRg=="},), (), "r"
    )
    with pytest.raises(NotSupported, match="audio with task generate"):
        await client.call(audio_chat)
    assert transport.requests == []


async def test_overlapping_chats_are_never_merged_but_embeddings_are() -> None:
    async def handler(request: Request) -> MockResponse:
        body = json.loads(request.body)
        if "input" in body:
            rows = [{"index": i, "embedding": [float(i)]} for i in range(len(body["input"]))]
            return MockResponse(200, json.dumps({"data": rows}).encode())
        return chat_ok(body["messages"][-1]["content"])

    client, transport = make(handler, names=("p1",))
    answers = await asyncio.gather(*(client.call(chat(f"c{i}")) for i in range(12)))
    assert [a.outputs[0]["text"] for a in answers] == [f"c{i}" for i in range(12)]
    assert len(transport.requests) == 12
    transport.requests.clear()
    embeds = [CentralCall("embed", ({"text": f"t{i}"},), (), "r") for i in range(12)]
    results = await asyncio.gather(*(client.call(c) for c in embeds))
    assert len(results) == 12 and all(len(r.outputs) == 1 for r in results)
    assert len(transport.requests) < 12  # coalesced into input arrays


async def test_hedge_asks_the_next_provider_after_p95_and_cancels_the_loser() -> None:
    cancelled = asyncio.Event()

    async def handler(request: Request) -> MockResponse:
        if host(request) == "p1":
            try:
                await asyncio.sleep(30)
            except asyncio.CancelledError:
                cancelled.set()
                raise
        return MockResponse(200, json.dumps({"data": [{"index": 0, "embedding": [1.0]}]}).encode())

    hedge = HedgeConfig(enabled=True, budget_ratio=0.5, min_samples=5)
    client, _ = make(handler, hedge=hedge, batch_size=1)
    for _ in range(20):
        client.providers[0].latency.record(0.01)
        client._hedge_budget.record_request()
    answer = await client.call(CentralCall("embed", ({"text": "x"},), (), "r"))
    assert answer.provider == "p2" and client.hedges == 1
    await asyncio.wait_for(cancelled.wait(), 5)
    # not idempotent: a sampled chat is never hedged
    assert not chat("x", temperature=0.7).idempotent() and chat("x", temperature=0).idempotent()


async def test_hedges_stay_within_the_budget() -> None:
    async def handler(request: Request) -> MockResponse:
        if host(request) == "p1":
            await asyncio.sleep(0.05)
        return MockResponse(200, json.dumps({"data": [{"index": 0, "embedding": [1.0]}]}).encode())

    hedge = HedgeConfig(enabled=True, budget_ratio=0.05, min_samples=5)
    client, _ = make(handler, hedge=hedge, batch_size=1)
    for _ in range(10):
        client.providers[0].latency.record(0.001)
    calls = [CentralCall("embed", ({"text": str(i)},), (), "r") for i in range(100)]
    await asyncio.gather(*(client.call(c) for c in calls))
    assert 1 <= client.hedges <= 5


def test_readyz_description_has_no_secrets() -> None:
    secret_headers = (("x-org", "org-secret-value"),)
    p = provider("p1", headers=secret_headers, quota=QuotaConfig())
    text = json.dumps(p.describe()) + repr(p)
    assert "key-p1" not in text and "org-secret-value" not in text
    assert p.describe()["credentials"] == "api_key"


async def test_a_provider_at_its_concurrency_limit_hands_over_at_once() -> None:
    release = asyncio.Event()

    async def handler(request: Request) -> MockResponse:
        if host(request) == "p1":
            await release.wait()
        return chat_ok(host(request))

    one_slot = QuotaConfig(max_concurrent=1)
    client, _ = make(handler, providers=(provider("p1", quota=one_slot), provider("p2")))
    held = asyncio.ensure_future(client.call(chat("first")))
    await asyncio.sleep(0.01)
    assert (await client.call(chat("second"))).provider == "p2"
    release.set()
    assert (await held).provider == "p1"


async def test_timeouts_the_caller_asked_for_do_not_open_the_breaker() -> None:
    fake = FakeTime()

    async def handler(request: Request) -> MockResponse:
        fake.now += 1.0  # the attempt used up the caller's whole deadline
        raise ReadTimedOut("no answer in time")

    client, _ = make(handler, names=("p1",), fake=fake, batch_size=1)
    for _ in range(5):
        with pytest.raises(DeadlineExceeded):
            await client.call(chat(deadline=fake.now + 0.5))
    assert client.providers[0].breaker.state is BreakerState.CLOSED
    with pytest.raises(DeadlineExceeded):  # the provider's own timeouts do count
        await client.call(chat(deadline=fake.now + 60))
    assert client.providers[0].breaker.state is BreakerState.OPEN
