"""Tests for router.cache and the memory backend: keys, policies, LRU/TTL, single-flight."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from router.cache import (
    BYPASS,
    CachePolicy,
    EdgeCache,
    ResponseCache,
    cache_key,
    cache_policy,
    is_cacheable,
    result_from_bytes,
    result_to_bytes,
    semantic_policy,
)
from router.cache_backends import CacheSettings, MemoryCache, RedisCache
from router.jobs import Job, JobInput, JobParams
from router.pipeline import Result

SALT = b"unit-test-salt-0123456789abcdef"
READ_WRITE = CachePolicy(read=True, write=True)


class FakeClock:
    """A monotonic clock that only moves when told to."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


def make_job(task: str = "embed", text: str = "hello", **params: Any) -> Job:
    fields = {k: params.pop(k) for k in ("tenant", "model", "request_id") if k in params}
    return Job(
        request_id=fields.get("request_id", "req-1"),
        model=fields.get("model", "auto"),
        task=task,
        inputs=(JobInput(text=text),),
        params=JobParams(**params),
        tenant=fields.get("tenant", "acme"),
    )


def result(text: str = "answer") -> Result:
    return Result([{"text": text}], "central", "policy_default", "multimodal-pro", {"tokens": 3})


class Events:
    """Collects (backend, outcome) events."""

    def __init__(self) -> None:
        self.seen: Counter[tuple[str, str]] = Counter()

    def __call__(self, backend: str, outcome: str) -> None:
        self.seen[(backend, outcome)] += 1

    def count(self, outcome: str) -> int:
        return sum(n for (_, o), n in self.seen.items() if o == outcome)


class CountingProducer:
    """A producer that counts calls, can be held open, and can fail."""

    def __init__(self, answer: Result | None = None, error: Exception | None = None) -> None:
        self.calls = 0
        self.answer = answer or result()
        self.error = error
        self.release = asyncio.Event()
        self.release.set()

    async def __call__(self) -> Result:
        self.calls += 1
        await self.release.wait()
        if self.error is not None:
            raise self.error
        return self.answer


# --- memory backend -------------------------------------------------------------------


async def test_memory_hit_and_miss() -> None:
    cache = MemoryCache()
    assert await cache.get("k") is None
    await cache.set("k", b"value", 60)
    assert await cache.get("k") == b"value"
    assert await cache.get("other") is None


async def test_memory_ttl_expiry_on_fake_clock() -> None:
    clock = FakeClock()
    cache = MemoryCache(clock=clock)
    await cache.set("k", b"v", 10)
    clock.now += 9.9
    assert await cache.get("k") == b"v"
    clock.now += 0.2
    assert await cache.get("k") is None
    assert len(cache) == 0
    assert cache.size_bytes == 0


async def test_memory_lru_eviction_by_count() -> None:
    cache = MemoryCache(max_entries=3)
    for key in ("a", "b", "c"):
        await cache.set(key, b"x", 60)
    assert await cache.get("a") == b"x"  # a is now most recently used; b is the oldest
    await cache.set("d", b"x", 60)
    assert await cache.get("b") is None
    assert [await cache.get(k) for k in ("a", "c", "d")] == [b"x", b"x", b"x"]
    assert len(cache) == 3


async def test_memory_lru_eviction_by_bytes() -> None:
    cache = MemoryCache(max_entries=100, max_bytes=100)
    await cache.set("a", b"1" * 39, 60)  # 40 bytes with the key
    await cache.set("b", b"2" * 39, 60)
    assert cache.size_bytes == 80
    await cache.get("a")
    await cache.set("c", b"3" * 39, 60)  # 120 > 100: evicts b, the least recently used
    assert await cache.get("b") is None
    assert await cache.get("a") is not None
    assert await cache.get("c") is not None
    assert cache.size_bytes == 80


async def test_memory_refuses_a_value_over_the_byte_bound_and_overwrites_in_place() -> None:
    cache = MemoryCache(max_bytes=50)
    await cache.set("big", b"x" * 60, 60)
    assert await cache.get("big") is None
    await cache.set("k", b"old", 60)
    await cache.set("k", b"newer", 60)
    assert await cache.get("k") == b"newer"
    assert cache.size_bytes == len("k") + len(b"newer")


# --- keys -----------------------------------------------------------------------------


def test_key_is_stable_and_ignores_request_identity() -> None:
    job = make_job()
    other = dataclasses.replace(job, request_id="req-2", deadline=123.0)
    key = cache_key(job, SALT)
    assert key == cache_key(other, SALT)
    assert len(key) == 64 and int(key, 16) >= 0
    assert "hello" not in key


@pytest.mark.parametrize(
    "change",
    [
        {"max_tokens": 64},
        {"temperature": 0.2},
        {"top_p": 0.5},
        {"labels": ("a", "b")},
        {"label_set": "topics"},
        {"top_k": 3},
        {"response_format": "b64_json"},
    ],
)
def test_an_answer_changing_parameter_changes_the_key(change: dict[str, Any]) -> None:
    assert cache_key(make_job(), SALT) != cache_key(make_job(**change), SALT)


@pytest.mark.parametrize(
    "change",
    [
        {"route": "edge"},
        {"latency_budget_ms": 50.0},
        {"cache": True},
        {"semantic_cache": True},
        {"stream": True},
    ],
)
def test_route_latency_and_cache_flags_do_not_change_the_key(change: dict[str, Any]) -> None:
    assert cache_key(make_job(), SALT) == cache_key(make_job(**change), SALT)


def test_tenants_models_tasks_inputs_and_salts_are_isolated() -> None:
    base = cache_key(make_job(), SALT)
    assert cache_key(make_job(tenant="globex"), SALT) != base
    assert cache_key(make_job(model="all-minilm-l6-v2"), SALT) != base
    assert cache_key(make_job(task="classify"), SALT) != base
    assert cache_key(make_job(text="hello!"), SALT) != base
    assert cache_key(make_job(), b"another-salt-0123456789abcdef") != base


def test_binary_inputs_are_hashed_into_the_key() -> None:
    job = make_job(task="classify_image")
    one = dataclasses.replace(job, inputs=(JobInput(image=b"\x89PNG-one"),))
    two = dataclasses.replace(job, inputs=(JobInput(image=b"\x89PNG-two"),))
    assert cache_key(one, SALT) != cache_key(two, SALT)
    assert cache_key(one, SALT) == cache_key(dataclasses.replace(one, request_id="x"), SALT)
    speech = dataclasses.replace(job, inputs=(JobInput(audio=b"\x89PNG-one"),))
    assert cache_key(speech, SALT) != cache_key(one, SALT)


def test_messages_are_part_of_the_key() -> None:
    job = make_job(task="generate", text=None)
    a = dataclasses.replace(job, inputs=(JobInput(messages=(("user", "hi"),)),))
    b = dataclasses.replace(job, inputs=(JobInput(messages=(("system", "hi"),)),))
    assert cache_key(a, SALT) != cache_key(b, SALT)


def test_a_short_salt_is_refused() -> None:
    with pytest.raises(ValueError, match="salt"):
        cache_key(make_job(), b"short")


# --- policy ---------------------------------------------------------------------------


@pytest.mark.parametrize("task", ["embed", "classify", "classify_image", "detect_speech"])
def test_deterministic_tasks_are_cacheable(task: str) -> None:
    assert is_cacheable(make_job(task=task))
    assert cache_policy(make_job(task=task)) == READ_WRITE


def test_generate_is_cacheable_only_at_temperature_zero_or_when_asked() -> None:
    assert not is_cacheable(make_job(task="generate", temperature=0.7))
    assert cache_policy(make_job(task="generate", temperature=0.7)) == BYPASS
    assert is_cacheable(make_job(task="generate", temperature=0.0))
    assert is_cacheable(make_job(task="generate", temperature=0.7, cache=True))
    assert not is_cacheable(make_job(task="transcribe"))


def test_cache_false_disables_even_deterministic_tasks() -> None:
    assert cache_policy(make_job(cache=False)) == BYPASS
    assert cache_policy(make_job(task="generate", temperature=0.0, cache=False)) == BYPASS


def test_cache_control_no_cache_and_no_store() -> None:
    job = make_job()
    assert cache_policy(job, "no-cache") == CachePolicy(read=False, write=True)
    assert cache_policy(job, "No-Cache, max-age=60") == CachePolicy(read=False, write=True)
    assert cache_policy(job, "max-age=0") == CachePolicy(read=False, write=True)
    assert cache_policy(job, "no-store") == BYPASS
    assert cache_policy(job, "no-cache, no-store") == BYPASS
    assert cache_policy(job, "max-age=60") == READ_WRITE
    assert cache_policy(job, "") == READ_WRITE


def test_semantic_policy_needs_the_opt_in_and_honours_headers() -> None:
    hot = make_job(task="generate", temperature=0.7)
    assert semantic_policy(hot) == BYPASS
    opted = make_job(task="generate", temperature=0.7, semantic_cache=True)
    assert semantic_policy(opted) == READ_WRITE
    assert semantic_policy(opted, "no-cache") == CachePolicy(read=False, write=True)
    assert semantic_policy(opted, "no-store") == BYPASS
    assert semantic_policy(make_job(task="generate", semantic_cache=True, cache=False)) == BYPASS


def test_settings_read_the_salt_from_a_file(tmp_path: Path) -> None:
    salt_file = tmp_path / "salt"
    salt_file.write_text("file-salt-0123456789abcdef\n")
    settings = CacheSettings(backend="redis", salt_file=salt_file)
    assert settings.salt_bytes() == b"file-salt-0123456789abcdef"
    salt_file.write_text("short")
    with pytest.raises(ValueError, match="salt"):
        settings.salt_bytes()


def test_settings_require_a_shared_salt_for_redis() -> None:
    with pytest.raises(ValueError, match="salt"):
        CacheSettings(backend="redis")
    with pytest.raises(ValueError, match="salt"):
        CacheSettings(salt="short")
    settings = CacheSettings(backend="redis", salt="0123456789abcdef-shared")
    assert settings.salt_bytes() == b"0123456789abcdef-shared"
    assert isinstance(settings.build_backend(lambda reason: None), RedisCache)
    assert len(CacheSettings().salt_bytes()) == 32
    assert isinstance(CacheSettings().build_backend(lambda reason: None), MemoryCache)


# --- serialization --------------------------------------------------------------------


def test_result_round_trips_through_json_bytes() -> None:
    original = Result(
        [{"embedding": np.arange(3, dtype=np.float32), "score": np.float32(0.5)}],
        "edge",
        "edge_capable",
        "all-minilm-l6-v2",
        {"inputs": 1},
    )
    restored = result_from_bytes(result_to_bytes(original))
    assert restored.outputs == [{"embedding": [0.0, 1.0, 2.0], "score": 0.5}]
    assert (restored.route, restored.reason, restored.model) == (
        "edge",
        "edge_capable",
        "all-minilm-l6-v2",
    )
    assert restored.usage == {"inputs": 1}


@pytest.mark.parametrize("data", [b"not json", b"{}", json.dumps({"outputs": 1}).encode()])
def test_garbage_is_not_a_result(data: bytes) -> None:
    with pytest.raises(ValueError, match="not a cached result"):
        result_from_bytes(data)


# --- ResponseCache --------------------------------------------------------------------


async def test_miss_then_hit_returns_the_stored_result() -> None:
    events = Events()
    cache = ResponseCache(MemoryCache(), ttl_s=60, on_event=events)
    produce = CountingProducer(result("first"))
    first, hit1 = await cache.get_or_compute("k", READ_WRITE, produce)
    second, hit2 = await cache.get_or_compute("k", READ_WRITE, produce)
    assert (hit1, hit2) == (False, True)
    assert produce.calls == 1
    assert second == first
    assert second.route == "central"
    assert events.seen == Counter(
        {("memory", "miss"): 1, ("memory", "store"): 1, ("memory", "hit"): 1}
    )


async def test_no_cache_recomputes_and_refreshes_the_entry() -> None:
    cache = ResponseCache(MemoryCache(), ttl_s=60)
    await cache.get_or_compute("k", READ_WRITE, CountingProducer(result("old")))
    fresh = CountingProducer(result("new"))
    answer, hit = await cache.get_or_compute("k", CachePolicy(read=False, write=True), fresh)
    assert (answer.outputs, hit, fresh.calls) == ([{"text": "new"}], False, 1)
    again, hit = await cache.get_or_compute("k", READ_WRITE, CountingProducer(result("x")))
    assert (again.outputs, hit) == ([{"text": "new"}], True)


async def test_no_store_neither_reads_nor_writes() -> None:
    backend = MemoryCache()
    cache = ResponseCache(backend, ttl_s=60)
    await cache.get_or_compute("k", READ_WRITE, CountingProducer(result("old")))
    produce = CountingProducer(result("private"))
    answer, hit = await cache.get_or_compute("k", BYPASS, produce)
    assert (answer.outputs, hit, produce.calls) == ([{"text": "private"}], False, 1)
    await cache.get_or_compute("other", BYPASS, produce)
    assert await backend.get("other") is None
    assert result_from_bytes(await backend.get("k") or b"").outputs == [{"text": "old"}]


async def test_entries_expire_after_the_ttl() -> None:
    clock = FakeClock()
    cache = ResponseCache(MemoryCache(clock=clock), ttl_s=30)
    produce = CountingProducer()
    await cache.get_or_compute("k", READ_WRITE, produce)
    clock.now += 31
    _, hit = await cache.get_or_compute("k", READ_WRITE, produce)
    assert not hit
    assert produce.calls == 2


async def wait_until(predicate: Any) -> None:
    """Yield to the loop until `predicate()` holds (bounded by the test's own timeout)."""
    for _ in range(10_000):
        if predicate():
            return
        await asyncio.sleep(0)
    raise AssertionError("condition never held")


async def test_single_flight_runs_the_producer_once_for_concurrent_misses() -> None:
    events = Events()
    cache = ResponseCache(MemoryCache(), ttl_s=60, on_event=events)
    produce = CountingProducer(result("shared"))
    produce.release.clear()
    tasks = [asyncio.create_task(cache.get_or_compute("k", READ_WRITE, produce)) for _ in range(20)]
    await wait_until(lambda: events.count("miss") + events.count("coalesced") == 20)
    assert cache.in_flight() == 1
    produce.release.set()
    answers = await asyncio.gather(*tasks)
    assert produce.calls == 1
    assert all(a == (result("shared"), False) for a in answers)
    assert (events.count("miss"), events.count("coalesced"), events.count("store")) == (1, 19, 1)
    assert cache.in_flight() == 0
    assert await cache.get_or_compute("k", READ_WRITE, produce) == (result("shared"), True)


async def test_a_failed_producer_fails_every_waiter_and_caches_nothing() -> None:
    backend = MemoryCache()
    cache = ResponseCache(backend, ttl_s=60)
    failing = CountingProducer(error=RuntimeError("central said 503"))
    failing.release.clear()
    tasks = [asyncio.create_task(cache.get_or_compute("k", READ_WRITE, failing)) for _ in range(20)]
    await wait_until(lambda: failing.calls == 1 and cache.in_flight() == 1)
    for _ in range(5):
        await asyncio.sleep(0)
    failing.release.set()
    outcomes = await asyncio.gather(*tasks, return_exceptions=True)
    assert failing.calls == 1
    assert all(isinstance(o, RuntimeError) and str(o) == "central said 503" for o in outcomes)
    assert await backend.get("k") is None
    retry = CountingProducer(result("recovered"))
    assert await cache.get_or_compute("k", READ_WRITE, retry) == (result("recovered"), False)
    assert retry.calls == 1


async def test_a_cancelled_caller_does_not_cancel_the_others() -> None:
    cache = ResponseCache(MemoryCache(), ttl_s=60)
    produce = CountingProducer(result("kept"))
    produce.release.clear()
    leader = asyncio.create_task(cache.get_or_compute("k", READ_WRITE, produce))
    await wait_until(lambda: produce.calls == 1)
    follower = asyncio.create_task(cache.get_or_compute("k", READ_WRITE, produce))
    for _ in range(5):
        await asyncio.sleep(0)
    leader.cancel()
    produce.release.set()
    assert await follower == (result("kept"), False)
    assert leader.cancelled()
    assert produce.calls == 1


async def test_when_every_caller_gives_up_the_producer_is_cancelled() -> None:
    cache = ResponseCache(MemoryCache(), ttl_s=60)
    started = asyncio.Event()
    finished: list[str] = []

    async def produce() -> Result:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            finished.append("cancelled")
            raise
        return result()

    caller = asyncio.create_task(cache.get_or_compute("k", READ_WRITE, produce))
    await started.wait()
    caller.cancel()
    await wait_until(lambda: finished == ["cancelled"] and cache.in_flight() == 0)


async def test_a_corrupt_stored_value_is_an_error_event_and_a_recompute() -> None:
    events = Events()
    backend = MemoryCache()
    cache = ResponseCache(backend, ttl_s=60, on_event=events)
    await backend.set("k", b"\x00garbage", 60)
    produce = CountingProducer()
    answer, hit = await cache.get_or_compute("k", READ_WRITE, produce)
    assert (answer, hit, produce.calls) == (result(), False, 1)
    assert events.count("error") == 1
    assert result_from_bytes(await backend.get("k") or b"") == result()


async def test_results_over_the_value_bound_are_not_stored() -> None:
    events = Events()
    backend = MemoryCache()
    cache = ResponseCache(backend, ttl_s=60, on_event=events, max_value_bytes=64)
    await cache.get_or_compute("k", READ_WRITE, CountingProducer(result("x" * 100)))
    assert await backend.get("k") is None
    assert events.count("too_large") == 1


# --- EdgeCache ------------------------------------------------------------------------


async def test_edge_cache_answers_repeats_from_the_exact_cache() -> None:
    edge = EdgeCache(ResponseCache(MemoryCache()), SALT)
    produce = CountingProducer(result("vector"))
    job = make_job()
    assert await edge.run(job, None, produce) == (result("vector"), None)
    again = dataclasses.replace(job, request_id="req-2", params=JobParams(route="edge"))
    assert await edge.run(again, None, produce) == (result("vector"), "exact")
    assert await edge.run(make_job(tenant="globex"), None, produce) == (result("vector"), None)
    assert produce.calls == 2


async def test_edge_cache_leaves_uncacheable_and_no_store_jobs_alone() -> None:
    backend = MemoryCache()
    edge = EdgeCache(ResponseCache(backend), SALT)
    produce = CountingProducer()
    hot = make_job(task="generate", temperature=0.7)
    await edge.run(hot, None, produce)
    assert await edge.run(hot, None, produce) == (result(), None)
    await edge.run(make_job(), "no-store", produce)
    assert await edge.run(make_job(), "no-store", produce) == (result(), None)
    assert produce.calls == 4
    assert len(backend) == 0
    with pytest.raises(ValueError, match="salt"):
        EdgeCache(ResponseCache(backend), b"short")


# --- generate answers are kept only when proven deterministic ------------------------------


def proven_result(text: str = "answer") -> Result:
    outputs = [{"text": text, "deterministic": True}]
    return Result(outputs, "central", "policy_default", "multimodal-pro", {"tokens": 3})


async def test_temperature_zero_alone_is_not_proof_of_determinism() -> None:
    events = Events()
    backend = MemoryCache()
    edge = EdgeCache(ResponseCache(backend, on_event=events), SALT)  # generate="proven"
    produce = CountingProducer(result("sampled"))
    greedy = make_job(task="generate", temperature=0.0)
    assert await edge.run(greedy, None, produce) == (result("sampled"), None)
    assert await edge.run(greedy, None, produce) == (result("sampled"), None)
    assert produce.calls == 2
    assert len(backend) == 0
    assert events.seen[("memory", "unproven")] == 2


async def test_answers_the_central_marks_deterministic_are_kept() -> None:
    edge = EdgeCache(ResponseCache(MemoryCache()), SALT)
    produce = CountingProducer(proven_result())
    greedy = make_job(task="generate", temperature=0.0)
    await edge.run(greedy, None, produce)
    assert await edge.run(greedy, None, produce) == (proven_result(), "exact")
    assert produce.calls == 1


async def test_configuration_and_the_caller_can_allow_generate_caching() -> None:
    greedy = make_job(task="generate", temperature=0.0)
    trusting = EdgeCache(ResponseCache(MemoryCache()), SALT, generate="temperature_zero")
    produce = CountingProducer(result())
    await trusting.run(greedy, None, produce)
    assert await trusting.run(greedy, None, produce) == (result(), "exact")
    asked = make_job(task="generate", temperature=0.7, cache=True)
    strict = EdgeCache(ResponseCache(MemoryCache()), SALT)
    await strict.run(asked, None, produce)
    assert await strict.run(asked, None, produce) == (result(), "exact")
    never = EdgeCache(ResponseCache(MemoryCache()), SALT, generate="never")
    await never.run(greedy, None, produce)
    assert await never.run(greedy, None, produce) == (result(), None)
    assert produce.calls == 4
    assert cache_policy(greedy, None, "proven") == CachePolicy(True, True, proof=True)
    assert cache_policy(greedy, None, "never") == BYPASS
