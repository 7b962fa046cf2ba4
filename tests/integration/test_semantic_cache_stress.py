"""The semantic cache on the stress set with the real MiniLM: 0 wrong-meaning hits, recall.

Also the shared Redis store: two caches (two edge nodes) on one Redis see each other's
entries, tenants stay apart, and verification runs on entries read from Redis too.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from typing import Any

import numpy as np
import pytest
import redis.asyncio as aioredis

from benchmarks.data.semantic_pairs import Pair, stress_pairs
from edge_models.sessions import SessionOptions
from edge_models.text import TextEncoder
from router.jobs import Job, JobInput, JobParams, Result
from router.semantic_cache import SemanticCache
from router.semantic_store import RedisStore

MIN_RECALL = 0.5


@pytest.fixture(scope="module")
def encoder() -> Iterator[TextEncoder]:
    yield TextEncoder.load(SessionOptions())


@pytest.fixture(scope="module")
def pairs() -> list[Pair]:
    return stress_pairs()


class BatchedEmbed:
    """The real MiniLM, embedding the whole stress set up front in batches."""

    def __init__(self, encoder: TextEncoder, texts: list[str]) -> None:
        self.encoder = encoder
        self.vectors: dict[str, np.ndarray] = {}
        for i in range(0, len(texts), 32):
            chunk = texts[i : i + 32]
            for text, vector in zip(chunk, encoder.embed(chunk), strict=True):
                self.vectors[text] = np.asarray(vector, dtype=np.float32)

    async def __call__(self, text: str) -> np.ndarray:
        if text not in self.vectors:
            self.vectors[text] = np.asarray(self.encoder.embed([text])[0], dtype=np.float32)
        return self.vectors[text]


@pytest.fixture(scope="module")
def embed(encoder: TextEncoder, pairs: list[Pair]) -> BatchedEmbed:
    return BatchedEmbed(encoder, sorted({t for p in pairs for t in (p.a, p.b)}))


def gen_job(text: str, tenant: str) -> Job:
    return Job(
        request_id="r",
        model="multimodal-pro",
        task="generate",
        inputs=(JobInput(text=text),),
        params=JobParams(semantic_cache=True, temperature=0.0),
        tenant=tenant,
    )


def answer(text: str) -> Result:
    return Result([{"text": text}], "central", "policy_default", "multimodal-pro", {})


def test_the_stress_set_is_big_bilingual_and_covers_every_kind_of_change(
    pairs: list[Pair],
) -> None:
    categories = Counter(p.category for p in pairs)
    assert len(pairs) >= 300
    assert {p.lang for p in pairs} >= {"en", "de", "zh"}
    for category in ("negation", "antonym", "swap", "entity", "number", "unit", "date"):
        assert categories[category] >= 10, category
    assert categories["language"] >= 10 and categories["tenant"] >= 10
    assert categories["paraphrase"] >= 100


async def test_no_wrong_meaning_hits_and_paraphrase_recall(
    embed: BatchedEmbed, pairs: list[Pair]
) -> None:
    cache = SemanticCache(embed, max_entries=len(pairs) + 1)
    wrong: list[tuple[str, str, str]] = []
    hits: Counter[str] = Counter()
    totals: Counter[str] = Counter()
    for index, pair in enumerate(pairs):
        tenant = f"pair-{index}"
        await cache.store(gen_job(pair.a, tenant), answer(pair.a))
        asked_by = f"other-{index}" if pair.other_tenant else tenant
        hit = await cache.lookup(gen_job(pair.b, asked_by))
        totals[pair.category] += 1
        if hit is not None:
            assert hit.outputs == [{"text": pair.a}]
            hits[pair.category] += 1
            if not pair.same:
                wrong.append((pair.category, pair.a, pair.b))
    recall = hits["paraphrase"] / totals["paraphrase"]
    print(f"\nparaphrase recall {recall:.3f}; hits per category {dict(hits)} of {dict(totals)}")
    assert wrong == []
    assert recall >= MIN_RECALL


async def test_without_verification_the_same_threshold_serves_wrong_answers(
    embed: BatchedEmbed, pairs: list[Pair]
) -> None:
    """The guard is what keeps precision: without it, near-misses are served."""
    cache = SemanticCache(embed, max_entries=len(pairs) + 1, verify=None)
    wrong = 0
    for index, pair in enumerate(pairs):
        if pair.same or pair.other_tenant:
            continue
        await cache.store(gen_job(pair.a, f"p{index}"), answer(pair.a))
        wrong += await cache.lookup(gen_job(pair.b, f"p{index}")) is not None
    assert wrong >= 50


@pytest.fixture
async def redis_client(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_url)
    yield client
    await client.aclose()


async def test_redis_store_is_shared_by_nodes_and_split_by_tenant(
    embed: BatchedEmbed, redis_client: aioredis.Redis
) -> None:
    namespace = f"stress{uuid.uuid4().hex[:8]}"
    events: list[str] = []

    def node() -> SemanticCache:
        store = RedisStore(redis_client, namespace, ttl_s=60, timeout_s=2.0)
        return SemanticCache(embed, store=store, on_event=lambda _b, o: events.append(o))

    first, second = node(), node()
    await first.store(
        gen_job("Is it safe to take ibuprofen with alcohol?", "acme"), answer("Moderation.")
    )
    found = await second.lookup(
        gen_job("Is it safe to drink alcohol while taking ibuprofen?", "acme")
    )
    assert found is not None and found.outputs == [{"text": "Moderation."}]
    assert (
        await second.lookup(gen_job("Is it unsafe to take ibuprofen with alcohol?", "acme")) is None
    )
    assert second.last_rejection == "antonym"
    assert (
        await second.lookup(gen_job("Is it safe to take ibuprofen with alcohol?", "globex")) is None
    )
    assert "rejected" in events
    keys: list[Any] = [
        k async for k in redis_client.scan_iter(f"hybrid-router:semantic:{namespace}:*")
    ]
    assert len(keys) == 1
    await redis_client.delete(*keys)
