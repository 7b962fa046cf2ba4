"""The semantic cache with the real MiniLM: precision on paraphrases, scopes, TTL, eviction."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from edge_models.sessions import SessionOptions
from edge_models.text import TextEncoder
from router.cache import EdgeCache, ResponseCache
from router.cache_backends import MemoryCache
from router.jobs import Job, JobInput, JobParams
from router.pipeline import Result
from router.semantic_cache import DEFAULT_THRESHOLD, Embed, SemanticCache, encoder_embed

PARAPHRASES = Path(__file__).parent.parent / "data" / "paraphrases.yaml"
MIN_PRECISION = 0.9


class FakeClock:
    """A monotonic clock that only moves when told to."""

    def __init__(self, start: float = 100.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def encoder() -> Iterator[TextEncoder]:
    yield TextEncoder.load(SessionOptions())


@pytest.fixture(scope="module")
def embed(encoder: TextEncoder) -> Embed:
    return encoder_embed(encoder)


class CountingEmbed:
    """The real embedding, counting calls."""

    def __init__(self, embed: Embed) -> None:
        self.inner = embed
        self.calls = 0

    async def __call__(self, text: str) -> np.ndarray:
        self.calls += 1
        return await self.inner(text)


def gen_job(
    text: str | None = None,
    messages: tuple[tuple[str, str], ...] = (),
    tenant: str = "acme",
    model: str = "multimodal-pro",
    **params: Any,
) -> Job:
    params.setdefault("semantic_cache", True)
    return Job(
        request_id="r",
        model=model,
        task="generate",
        inputs=(JobInput(text=text, messages=messages),),
        params=JobParams(**params),
        tenant=tenant,
    )


def answer(text: str) -> Result:
    return Result([{"text": text}], "central", "policy_default", "multimodal-pro", {"tokens": 5})


def load_pairs() -> list[dict[str, Any]]:
    return list(yaml.safe_load(PARAPHRASES.read_text())["pairs"])


async def test_precision_on_paraphrases_and_near_misses(embed: Embed) -> None:
    pairs = load_pairs()
    positives = sum(1 for p in pairs if p["same"])
    assert len(pairs) >= 40
    assert 0.4 <= positives / len(pairs) <= 0.6
    cache = SemanticCache(embed, threshold=DEFAULT_THRESHOLD, max_entries=len(pairs))
    tp = fp = fn = 0
    for index, pair in enumerate(pairs):
        tenant = f"pair-{index}"  # one scope per pair: pairs never see each other
        await cache.store(gen_job(pair["a"], tenant=tenant), answer(pair["a"]))
        hit = await cache.lookup(gen_job(pair["b"], tenant=tenant))
        assert hit is None or hit.outputs == [{"text": pair["a"]}]
        tp += bool(hit) and pair["same"]
        fp += bool(hit) and not pair["same"]
        fn += (not hit) and pair["same"]
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn)
    print(
        f"\nsemantic cache on {len(pairs)} pairs at threshold {DEFAULT_THRESHOLD}: "
        f"precision {precision:.3f} ({tp} hits, {fp} false), recall {recall:.3f}"
    )
    assert precision >= MIN_PRECISION
    assert recall >= 0.3, "a threshold that never matches is useless"


async def test_a_paraphrase_hits_and_the_same_prompt_hits(embed: Embed) -> None:
    cache = SemanticCache(embed)
    stored = answer("Open Settings, then Security, then Reset password.")
    await cache.store(gen_job("How do I enable two-factor authentication?"), stored)
    assert await cache.lookup(gen_job("How do I enable two-factor authentication?")) == stored
    assert await cache.lookup(gen_job("How can I turn on two-factor authentication?")) == stored
    assert await cache.lookup(gen_job("How do I disable two-factor authentication?")) is None
    assert len(cache) == 1


@pytest.mark.parametrize(
    "change",
    [
        {"tenant": "globex"},
        {"model": "another-llm"},
        {"temperature": 0.1},
        {"max_tokens": 16},
        {"top_p": 0.5},
        {"response_format": "b64_json"},
    ],
)
async def test_entries_from_another_scope_never_match(embed: Embed, change: dict[str, Any]) -> None:
    cache = SemanticCache(embed)
    prompt = "What is the capital of France?"
    await cache.store(gen_job(prompt), answer("Paris"))
    assert await cache.lookup(gen_job(prompt, **change)) is None
    assert await cache.lookup(gen_job(prompt)) == answer("Paris")


async def test_earlier_messages_must_match_exactly(embed: Embed) -> None:
    cache = SemanticCache(embed)
    pirate = (("system", "Answer like a pirate."), ("user", "What is the capital of France?"))
    plain = (("system", "Answer plainly."), ("user", "What is the capital of France?"))
    await cache.store(gen_job(messages=pirate), answer("Arr, Paris"))
    assert await cache.lookup(gen_job(messages=plain)) is None
    reworded = (pirate[0], ("user", "Which city is the capital of France?"))
    assert await cache.lookup(gen_job(messages=reworded)) == answer("Arr, Paris")


async def test_entries_expire(embed: Embed) -> None:
    clock = FakeClock()
    cache = SemanticCache(embed, ttl_s=60, clock=clock)
    await cache.store(gen_job("Who wrote Romeo and Juliet?"), answer("Shakespeare"))
    clock.now += 59
    assert await cache.lookup(gen_job("Who is the author of Romeo and Juliet?")) is not None
    clock.now += 2
    assert await cache.lookup(gen_job("Who is the author of Romeo and Juliet?")) is None
    assert len(cache) == 0


async def test_least_recently_used_entry_is_evicted(embed: Embed) -> None:
    clock = FakeClock()
    cache = SemanticCache(embed, max_entries=2, clock=clock)
    prompts = ["What is the capital of France?", "Who wrote Romeo and Juliet?"]
    for prompt in prompts:
        clock.now += 1
        await cache.store(gen_job(prompt), answer(prompt))
    clock.now += 1
    assert await cache.lookup(gen_job(prompts[0])) is not None  # France is now the fresher
    clock.now += 1
    await cache.store(gen_job("How do I reverse a list in Python?"), answer("reversed()"))
    assert await cache.lookup(gen_job(prompts[1])) is None
    assert await cache.lookup(gen_job(prompts[0])) == answer(prompts[0])
    assert await cache.lookup(gen_job("How do I reverse a list in Python?")) is not None
    assert len(cache) == 2


async def test_callers_get_copies_they_may_edit(embed: Embed) -> None:
    cache = SemanticCache(embed)
    await cache.store(gen_job("What is the capital of France?"), answer("[CITY_1]"))
    first = await cache.lookup(gen_job("What is the capital of France?"))
    assert first is not None
    first.outputs[0]["text"] = "Paris"  # e.g. a caller restoring redacted text in place
    again = await cache.lookup(gen_job("What is the capital of France?"))
    assert again == answer("[CITY_1]")


async def test_storing_the_same_prompt_again_replaces_it(embed: Embed) -> None:
    cache = SemanticCache(embed, max_entries=4)
    await cache.store(gen_job("What does HTTP stand for?"), answer("old"))
    await cache.store(gen_job("What does HTTP stand for?"), answer("new"))
    assert len(cache) == 1
    assert await cache.lookup(gen_job("What does HTTP stand for?")) == answer("new")


async def test_lookup_then_store_embeds_once(embed: Embed) -> None:
    counting = CountingEmbed(embed)
    cache = SemanticCache(counting)
    job = gen_job("How long does shipping take?")
    assert await cache.lookup(job) is None
    await cache.store(job, answer("3-5 days"))
    assert counting.calls == 1


async def test_ineligible_jobs_are_never_embedded_or_matched(embed: Embed) -> None:
    counting = CountingEmbed(embed)
    cache = SemanticCache(counting, max_chars=200)
    prompt = "What is the capital of France?"
    await cache.store(gen_job(prompt), answer("Paris"))
    calls = counting.calls
    not_opted_in = gen_job(prompt, semantic_cache=False)
    cache_off = gen_job(prompt, cache=False)
    embed_task = dataclasses.replace(gen_job(prompt), task="embed")
    with_image = dataclasses.replace(
        gen_job(prompt), inputs=(JobInput(text=prompt, image=b"\x89PNG"),)
    )
    two_inputs = dataclasses.replace(
        gen_job(prompt), inputs=(JobInput(text=prompt), JobInput(text=prompt))
    )
    too_long = gen_job(prompt + " " + "x" * 300)
    assistant_last = gen_job(messages=(("user", prompt), ("assistant", "Paris")))
    for job in (not_opted_in, cache_off, embed_task, with_image, two_inputs, too_long):
        assert await cache.lookup(job) is None
    assert await cache.lookup(assistant_last) is None
    assert counting.calls == calls


async def test_an_embedding_failure_is_a_miss_not_an_error() -> None:
    events: list[tuple[str, str]] = []

    async def broken(text: str) -> np.ndarray:
        raise RuntimeError("edge models are loading")

    cache = SemanticCache(broken, on_event=lambda b, o: events.append((b, o)))
    job = gen_job("What is the capital of France?")
    assert await cache.lookup(job) is None
    await cache.store(job, answer("Paris"))
    assert len(cache) == 0
    assert events == [("semantic", "error"), ("semantic", "error")]


async def test_edge_cache_recalls_paraphrases_then_repeats_exactly(embed: Embed) -> None:
    calls: list[str] = []

    def producer(job: Job) -> Any:
        async def produce() -> Result:
            calls.append(job.inputs[0].text or "")
            return answer("Paris")

        return produce

    edge = EdgeCache(
        ResponseCache(MemoryCache()),
        b"semantic-test-salt-0123456789",
        SemanticCache(embed),
        generate="temperature_zero",  # the operator trusts greedy decoding here
    )
    first = gen_job("What is the capital of France?", temperature=0.0)
    second = gen_job("Which city is the capital of France?", temperature=0.0)
    assert await edge.run(first, None, producer(first)) == (answer("Paris"), None)
    assert await edge.run(second, None, producer(second)) == (answer("Paris"), "semantic")
    assert await edge.run(second, None, producer(second)) == (answer("Paris"), "exact")
    assert calls == ["What is the capital of France?"]
    hot = gen_job("Which city is the capital of France?", temperature=0.7)
    assert await edge.run(hot, None, producer(hot)) == (answer("Paris"), None)  # other scope
    assert await edge.run(hot, None, producer(hot)) == (answer("Paris"), "semantic")
    assert await edge.run(hot, "no-cache", producer(hot)) == (answer("Paris"), None)
    assert len(calls) == 3
