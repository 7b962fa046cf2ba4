"""Long texts are tokenized by prefix (bounded GIL hold), with ids identical to a full pass."""

import random

import pytest

from edge_models.text import MAX_TOKENS, TextEncoder, load_tokenizer

WORDS = ["hello", "world", "10.1.2.3", "naïve", "東京", "a", "—", "!!!", "x" * 120, "y" * 99]


@pytest.fixture(scope="module")
def encoder() -> TextEncoder:
    encoder = object.__new__(TextEncoder)  # the tokenizer alone; no ONNX session needed
    encoder._tokenizer = load_tokenizer()
    return encoder


def texts() -> list[str]:
    rng = random.Random(16)
    out = []
    for _ in range(60):
        text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(0, 1500)))
        if rng.random() < 0.2:
            text = " " * rng.randint(0, 20_000) + text  # whitespace the tokenizer drops
        out.append(text)
    return out


def test_prefix_ids_equal_full_ids(encoder: TextEncoder) -> None:
    tokenizer = encoder._tokenizer
    for text in texts():
        full = tokenizer.encode(text).ids
        want = [*full[: MAX_TOKENS - 1], full[-1]] if len(full) > MAX_TOKENS else full
        got = encoder.encode(text)
        assert list(got.ids) == want
        assert got.truncated == (len(full) > MAX_TOKENS)
        windows, cut = encoder.encode_windows(text, 2)
        body, width = full[1:-1], MAX_TOKENS - 2
        spans = [body[i : i + width] for i in range(0, max(len(body), 1), width)]
        assert [list(w.ids) for w in windows] == [[full[0], *s, full[-1]] for s in spans[:2]]
        assert cut == (len(spans) > 2)


def test_a_100k_char_text_is_not_tokenized_whole(encoder: TextEncoder) -> None:
    calls: list[int] = []
    real = encoder._tokenizer

    class Counting:
        def encode(self, text: str) -> object:
            calls.append(len(text))
            return real.encode(text)

    encoder._tokenizer = Counting()  # type: ignore[assignment]
    try:
        encoded = encoder.encode(("10.1.2.3 " * 12_000)[:100_000])
    finally:
        encoder._tokenizer = real
    assert encoded.truncated and len(encoded.ids) == MAX_TOKENS
    assert max(calls) < 10_000  # the old code tokenized all 100 000 chars (~0.5 s holding the GIL)
