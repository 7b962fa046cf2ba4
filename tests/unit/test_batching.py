"""The coalescer: idle calls go at once, concurrent calls share batches, errors stay per item."""

import asyncio
from collections.abc import Hashable

import pytest

from central_client.batching import Coalescer


class Upstream:
    def __init__(self, delay_s: float = 0.01) -> None:
        self.batches: list[list[int]] = []
        self.delay_s = delay_s

    async def send(self, key: Hashable, items: list[int]) -> list[int | BaseException]:
        self.batches.append(list(items))
        await asyncio.sleep(self.delay_s)
        return [ValueError(f"bad {i}") if i < 0 else i * 10 for i in items]


async def test_an_idle_call_is_sent_without_waiting() -> None:
    upstream = Upstream()
    coalescer: Coalescer[int, int] = Coalescer(upstream.send, max_size=8, max_wait_s=60.0)
    assert await asyncio.wait_for(coalescer.submit("k", 1), 5) == 10
    assert upstream.batches == [[1]]


async def test_concurrent_calls_share_batches_and_get_their_own_results() -> None:
    upstream = Upstream()
    coalescer: Coalescer[int, int] = Coalescer(upstream.send, max_size=4, max_wait_s=0.005)
    results = await asyncio.gather(*(coalescer.submit("k", i) for i in range(20)))
    assert results == [i * 10 for i in range(20)]
    assert len(upstream.batches) < 20
    assert max(len(b) for b in upstream.batches) <= 4


async def test_a_failed_item_fails_alone() -> None:
    upstream = Upstream()
    coalescer: Coalescer[int, int] = Coalescer(upstream.send, max_size=8, max_wait_s=0.005)
    results = await asyncio.gather(
        *(coalescer.submit("k", i) for i in (1, -2, 3, 4)), return_exceptions=True
    )
    assert results[0] == 10 and results[2] == 30 and results[3] == 40
    assert isinstance(results[1], ValueError)


async def test_different_keys_never_mix() -> None:
    upstream = Upstream()
    coalescer: Coalescer[int, int] = Coalescer(upstream.send, max_size=8, max_wait_s=0.005)
    await asyncio.gather(*(coalescer.submit(i % 2, i) for i in range(10)))
    for batch in upstream.batches:
        assert len({i % 2 for i in batch}) == 1


async def test_a_failed_call_fails_every_caller_in_it() -> None:
    async def broken(key: Hashable, items: list[int]) -> list[int | BaseException]:
        raise ConnectionError("down")

    coalescer: Coalescer[int, int] = Coalescer(broken, max_size=8, max_wait_s=0.005)
    results = await asyncio.gather(
        *(coalescer.submit("k", i) for i in range(3)), return_exceptions=True
    )
    assert all(isinstance(r, ConnectionError) for r in results)
    with pytest.raises(ConnectionError):
        await coalescer.submit("k", 9)
