"""PII detection on the generated corpora: recall per kind, false positives, restore, streams."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import pytest

from benchmarks.data.pii_corpus import VALIDATED_KINDS, PiiSample, clean_corpus, pii_corpus
from router.pii.memo import MEMO_MATCHES
from router.privacy import (
    PiiDetectionError,
    RedactionMap,
    Redactor,
    StreamRestorer,
    safe_cut,
)
from router.privacy_stage import PrivacyStage
from router.privacy_stage import safe_cut as stage_safe_cut

MIN_RECALL = 0.99
MAX_FALSE_POSITIVE_RATE = 0.01


@pytest.fixture(scope="module")
def redactor() -> Redactor:
    return Redactor()


@pytest.fixture(scope="module")
def corpus() -> list[PiiSample]:
    return pii_corpus()


def test_corpora_are_big_and_multilingual(corpus: list[PiiSample]) -> None:
    assert len(corpus) >= 500
    assert len(clean_corpus()) >= 500
    assert {s.lang for s in corpus} >= {"en", "de", "zh", "mixed"}


def test_recall_per_kind(redactor: Redactor, corpus: list[PiiSample]) -> None:
    total: Counter[str] = Counter()
    found: Counter[str] = Counter()
    for sample in corpus:
        redacted = redactor.redact(sample.text, RedactionMap())
        for kind, value in sample.values:
            total[kind] += 1
            found[kind] += value not in redacted
    recall = {kind: found[kind] / total[kind] for kind in total}
    print("\nrecall per kind:", {k: round(r, 3) for k, r in sorted(recall.items())})
    for kind in VALIDATED_KINDS:
        assert total[kind] >= 30, kind
        assert recall[kind] >= MIN_RECALL, (kind, recall[kind])
    assert recall["cn_id_bad_checksum"] >= MIN_RECALL  # strict mode keeps them
    assert recall["passport"] >= 0.95


def test_false_positives_on_clean_texts(redactor: Redactor) -> None:
    clean = clean_corpus()
    flagged = [(t, redactor.find(t)) for t in clean]
    hits = [(t, [(m.kind, t[m.start : m.end]) for m in ms]) for t, ms in flagged if ms]
    rate = len(hits) / len(clean)
    print(f"\nfalse positives: {len(hits)} of {len(clean)}", hits[:5])
    assert rate <= MAX_FALSE_POSITIVE_RATE, hits[:10]


def test_every_value_restored_in_answers_and_streams(
    redactor: Redactor, corpus: list[PiiSample]
) -> None:
    rng = random.Random(7)
    for sample in corpus:
        mapping = RedactionMap()
        redacted = redactor.redact(sample.text, mapping)
        answer = f"You wrote: {redacted} (noted)"
        expected = f"You wrote: {sample.text} (noted)"
        assert redactor.restore(answer, mapping) == expected
        restorer = StreamRestorer(redactor, mapping)
        out, pos = [], 0
        while pos < len(answer):
            step = rng.randint(1, 7)
            out.append(restorer.feed(answer[pos : pos + step]))
            pos += step
        out.append(restorer.finish())
        assert "".join(out) == expected


async def _events(pieces: list[str]) -> AsyncIterator[dict[str, Any]]:
    for piece in pieces:
        yield {"text": piece}
    yield {"text": "", "finish_reason": "stop"}


async def test_every_value_restored_through_the_privacy_stage_stream(
    redactor: Redactor, corpus: list[PiiSample]
) -> None:
    stage = PrivacyStage(redactor, "redact")
    rng = random.Random(11)
    for sample in corpus[::5]:
        mapping = RedactionMap()
        answer = redactor.redact(sample.text, mapping)
        cuts = sorted(rng.sample(range(1, len(answer)), min(8, len(answer) - 1)))
        pieces = [answer[a:b] for a, b in zip([0, *cuts], [*cuts, len(answer)], strict=True)]
        out = [e["text"] async for e in stage.restore_stream(_events(pieces), mapping)]
        assert "".join(out) == sample.text


def test_stream_cut_agrees_with_the_pipeline() -> None:
    for text in ["abc [PHO", "x [EMAIL_1] y [IP_", "[" + "A" * 50, "no brackets", "[API_KEY_12"]:
        assert safe_cut(text) == stage_safe_cut(text)


def test_detection_failure_fails_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    redactor = Redactor()

    def broken(text: object) -> list[tuple[int, int, float]]:
        raise RuntimeError("detector crashed")

    detectors = list(redactor._detectors)
    detectors[0] = detectors[0].__class__(
        detectors[0].kind, detectors[0].label, 0, broken, folds_fullwidth=True
    )
    monkeypatch.setattr(redactor, "_detectors", tuple(detectors))
    with pytest.raises(PiiDetectionError) as caught:
        redactor.redact("mail a@b.io", RedactionMap())
    assert caught.value.status == 500
    assert caught.value.code == "pii_detection_failed"
    assert "a@b.io" not in str(caught.value)


def test_bad_checksum_values_have_lower_confidence(redactor: Redactor) -> None:
    good, bad = "11010519491231002X", "110105194912310021"
    assert [m.confidence for m in redactor.find(f"ID {good}")] == [1.0]
    assert [m.confidence for m in redactor.find(f"ID {bad}")] == [0.6]
    assert Redactor(strict=False).find(f"ID {bad}") == []


@pytest.mark.parametrize(
    "text",
    [
        "IBAN DE89 3704 0044 0532 0130 00",
        "iban de89-3704-0044-0532-0130-00",
        "IBAN DE89370400440532013000",
        "call (415) 555-0100",
        "SSN 078-05-1120",
        "passport number 123456789",
        "身份证11010519491231002X",
    ],
)
def test_issue_examples_are_redacted(redactor: Redactor, text: str) -> None:
    redacted = redactor.redact(text, RedactionMap())
    assert not any(ch.isdigit() for ch in redacted.split("[")[0][-6:]), redacted
    assert redacted != text


def test_a_text_is_scanned_once_while_its_result_is_fresh() -> None:
    now = [0.0]
    redactor = Redactor(memo_ttl_s=5.0, clock=lambda: now[0])
    calls = []
    detectors = list(redactor._detectors)
    inner = detectors[0].scan

    def counting(text: object) -> object:
        calls.append(1)
        return inner(text)  # type: ignore[arg-type]

    detectors[0] = detectors[0].__class__(
        detectors[0].kind, detectors[0].label, 0, counting, folds_fullwidth=True
    )
    redactor._detectors = tuple(detectors)
    text = "call +1 415 555 0100"
    assert redactor.kinds(text) == {"phone"}
    assert redactor.redact(text, RedactionMap()) == "call [PHONE_1]"
    assert len(calls) == 1
    now[0] = 6.0  # stale: scanned again, and the old text is released
    redactor.find(text)
    assert len(calls) == 2


def test_a_text_dense_with_pii_is_not_held_by_the_memo() -> None:
    """11k IP addresses in one text: rescanned when asked again, never kept for the TTL."""
    redactor = Redactor(memo_ttl_s=5.0, clock=lambda: 0.0)
    scans = []
    real = redactor._candidates

    def counting(text: str) -> list:
        scans.append(len(text))
        return real(text)

    redactor._candidates = counting  # type: ignore[method-assign]
    dense = "10.1.2.3 " * 11_000
    sparse = "reach me at 10.1.2.3 " * 10
    assert len(redactor.find(dense)) == 11_000 > MEMO_MATCHES
    redactor.find(dense)
    redactor.find(sparse)
    redactor.find(sparse)
    assert scans == [len(dense), len(dense), len(sparse)]
