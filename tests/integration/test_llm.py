"""The central LLM engine against the real SmolLM2-135M model served by xllamacpp."""

import asyncio
import math
import subprocess
import sys
from collections.abc import Iterator

import pytest

from central_service.llm import LlmEngine
from central_service.llm_types import Completion, GenerationParams, PromptTooLong, TextDelta
from central_service.prompts import label_grammar, score_labels, validate_labels

GREEDY = GenerationParams(max_tokens=12, temperature=0.0)
STORY = [{"role": "user", "content": "Write a long story about a dragon and a knight."}]


@pytest.fixture(scope="module")
def engine() -> Iterator[LlmEngine]:
    """One engine for the module: one thread, two parallel slots."""
    loaded = LlmEngine.load(n_threads=1, n_ctx=2048, n_parallel=2)
    yield loaded
    loaded.close()


async def test_chat_answers_with_text(engine: LlmEngine) -> None:
    answer = await engine.chat([{"role": "user", "content": "Name a fruit."}], GREEDY)
    assert isinstance(answer, Completion)
    assert answer.text.strip()
    assert answer.prompt_tokens > 0
    assert 1 <= answer.completion_tokens <= GREEDY.max_tokens
    assert answer.finish_reason in ("stop", "length")


async def test_max_tokens_is_honoured(engine: LlmEngine) -> None:
    answer = await engine.chat(STORY, GenerationParams(max_tokens=3, temperature=0.0))
    assert answer.completion_tokens == 3
    assert answer.finish_reason == "length"


async def test_temperature_zero_is_deterministic(engine: LlmEngine) -> None:
    first = await engine.complete_text("What is the capital of France?", GREEDY)
    second = await engine.complete_text("What is the capital of France?", GREEDY)
    assert first.text == second.text
    assert first.completion_tokens == second.completion_tokens


async def test_sampling_with_a_seed_is_reproducible(engine: LlmEngine) -> None:
    params = GenerationParams(max_tokens=8, temperature=1.0, top_p=0.9, seed=7)
    first = await engine.chat(STORY, params)
    second = await engine.chat(STORY, params)
    assert first.text == second.text


async def test_stop_sequence_ends_the_answer(engine: LlmEngine) -> None:
    plain = await engine.chat(STORY, GREEDY)
    words = plain.text.split()
    assert len(words) >= 3
    stopped = await engine.chat(
        STORY, GenerationParams(max_tokens=12, temperature=0.0, stop=(words[2],))
    )
    assert words[2] not in stopped.text
    assert stopped.finish_reason == "stop"
    assert plain.text.startswith(stopped.text)


async def test_stream_pieces_add_up_to_the_chat_answer(engine: LlmEngine) -> None:
    deltas = [delta async for delta in engine.stream_chat(STORY, GREEDY)]
    pieces = [delta for delta in deltas if delta.text]
    assert len(pieces) > 1
    assert all(delta.finish_reason is None for delta in deltas[:-1])
    last = deltas[-1]
    assert last.text == ""
    assert last.finish_reason == "length"
    assert last.usage is not None
    assert last.usage.completion_tokens == GREEDY.max_tokens
    whole = await engine.chat(STORY, GREEDY)
    assert "".join(delta.text for delta in deltas) == whole.text


async def test_closing_the_stream_stops_generation(engine: LlmEngine) -> None:
    max_tokens = 96
    before = await engine.tokens_generated()
    stream = engine.stream_chat(STORY, GenerationParams(max_tokens=max_tokens, temperature=0.0))
    seen: list[TextDelta] = []
    async for delta in stream:
        seen.append(delta)
        if len(seen) == 2:
            break
    await stream.aclose()
    follow_up = await engine.chat(STORY, GenerationParams(max_tokens=4, temperature=0.0))
    assert follow_up.completion_tokens == 4
    generated = await engine.tokens_generated() - before
    assert generated < max_tokens


async def test_cancelling_the_consumer_stops_generation(engine: LlmEngine) -> None:
    max_tokens = 96
    before = await engine.tokens_generated()
    first_piece = asyncio.Event()

    async def consume() -> None:
        async for _ in engine.stream_chat(
            STORY, GenerationParams(max_tokens=max_tokens, temperature=0.0)
        ):
            first_piece.set()

    task = asyncio.create_task(consume())
    await first_piece.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    follow_up = await engine.chat(STORY, GenerationParams(max_tokens=4, temperature=0.0))
    assert follow_up.text
    assert await engine.tokens_generated() - before < max_tokens


async def test_concurrent_chats_each_get_their_own_answer(engine: LlmEngine) -> None:
    questions = [
        "Say hi.",
        "Say hi to my friend.",
        "Say hi to my friend and to my dog.",
        "Say hi to my friend, to my dog and to my old neighbour Bob.",
    ]
    answers = await asyncio.gather(
        *(engine.complete_text(question, GREEDY) for question in questions)
    )
    assert all(answer.text.strip() for answer in answers)
    prompt_sizes = [answer.prompt_tokens for answer in answers]
    assert prompt_sizes == sorted(set(prompt_sizes))


async def test_classify_scores_every_label(engine: LlmEngine) -> None:
    scored = await engine.classify("I love this, it is wonderful", ["negative", "positive"])
    assert sorted(label for label, _ in scored) == ["negative", "positive"]
    assert math.isclose(sum(score for _, score in scored), 1.0, abs_tol=1e-6)
    assert all(0.0 <= score <= 1.0 for _, score in scored)
    assert scored[0][0] == "positive"
    assert scored[0][1] > 0.5


async def test_classify_with_three_labels(engine: LlmEngine) -> None:
    labels = ["sports", "politics", "cooking"]
    scored = await engine.classify("The team won the football match 3-0.", labels)
    assert sorted(label for label, _ in scored) == sorted(labels)
    assert math.isclose(sum(score for _, score in scored), 1.0, abs_tol=1e-6)
    assert [score for _, score in scored] == sorted((s for _, s in scored), reverse=True)


async def test_classify_rejects_repeated_labels(engine: LlmEngine) -> None:
    with pytest.raises(ValueError, match="distinct"):
        await engine.classify("text", ["yes", "Yes"])


async def test_embed_returns_unit_vectors_in_order(engine: LlmEngine) -> None:
    vectors = await engine.embed(["a cat sleeps", "stock prices fell", "a cat sleeps"])
    assert len(vectors) == 3
    assert len({len(vector) for vector in vectors}) == 1
    assert len(vectors[0]) > 100
    for vector in vectors:
        assert math.isclose(math.sqrt(sum(x * x for x in vector)), 1.0, rel_tol=1e-3)
    assert vectors[0] == pytest.approx(vectors[2], abs=1e-5)
    assert vectors[0] != pytest.approx(vectors[1], abs=1e-3)


async def test_prompt_longer_than_the_context_is_a_client_error(engine: LlmEngine) -> None:
    with pytest.raises(PromptTooLong):
        await engine.complete_text("word " * 3000, GREEDY)


CLOSED_ENGINE_SCRIPT = """
import asyncio
from central_service.llm import LlmEngine
from central_service.llm_types import EmbeddingsDisabled, EngineClosed, GenerationParams

async def main() -> None:
    engine = LlmEngine.load(n_threads=1, n_ctx=256, embeddings=False)
    print(engine.model_name())
    try:
        await engine.embed(["text"])
    except EmbeddingsDisabled:
        print("embeddings disabled")
    engine.close()
    engine.close()
    try:
        await engine.complete_text("hi", GenerationParams(max_tokens=2))
    except EngineClosed:
        print("closed")

asyncio.run(main())
"""


def test_closed_engine_refuses_work() -> None:
    # Its own process: destroying a second xllamacpp Server while another one in the
    # same process has served parallel requests hangs inside llama.cpp.
    done = subprocess.run(
        [sys.executable, "-c", CLOSED_ENGINE_SCRIPT],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert done.stdout.split("\n")[:3] == [
        "SmolLM2-135M-Instruct.Q4_1",
        "embeddings disabled",
        "closed",
    ]


@pytest.mark.parametrize(
    "kwargs",
    [{"max_tokens": 0}, {"temperature": -0.1}, {"top_p": 0.0}, {"top_p": 1.5}],
)
def test_generation_params_reject_bad_values(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        GenerationParams(**kwargs)  # type: ignore[arg-type]


def test_score_labels_spreads_prefix_mass_and_normalises() -> None:
    logprobs = {"Positive": math.log(0.3), " pos": math.log(0.1), "N": math.log(0.2), "I": -0.1}
    scored = dict(score_labels(logprobs, ["positive", "negative", "neutral"]))
    assert scored["positive"] == pytest.approx(0.4 / 0.6)
    assert scored["negative"] == pytest.approx(0.1 / 0.6)
    assert scored["neutral"] == pytest.approx(0.1 / 0.6)


def test_score_labels_without_matches_is_uniform() -> None:
    scored = score_labels({"The": -0.5}, ["yes", "no"])
    assert [score for _, score in scored] == [0.5, 0.5]


def test_label_grammar_escapes_quotes() -> None:
    assert label_grammar(['say "hi"', "a\\b"]) == 'root ::= "say \\"hi\\"" | "a\\\\b"'


def test_validate_labels_rejects_blank_labels() -> None:
    with pytest.raises(ValueError, match="blank"):
        validate_labels(["ok", " "])
