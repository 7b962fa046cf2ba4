"""Fuzz PII redaction: `restore(redact(text))` must give back every text exactly.

Texts are built from PII-shaped fragments, placeholder look-alikes and raw characters, several
per request sharing one RedactionMap, plus the JSON walk. Run:
`python tests/fuzz/fuzz_redaction.py -runs=100000` (or -max_total_time=60).
"""

import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the checkout importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from router.privacy import CustomPattern, RedactionMap, Redactor
from tests.fuzz.provider import Draw, run

FRAGMENTS = (
    "13812345678", "+86 138 1234 5678", "0086-138-1234-5678", "+1 (415) 555-2671",
    "+44 20 7946 0958", "a@b.co", "x.y+z@example.com", "１３８１２３４５６７８", "＠", "＋",
    "11010519491231002X", "4111 1111 1111 1111", "4111111111111111", "192.168.1.1",
    "10.0.0.256", "::1", "2001:db8::1", "fe80::1:", "::ffff:1.2.3.4", "[PHONE_1]",
    "[EMAIL_1]", "[ phone_2 ]", "[IP_1]", "[LITERAL_1]", "[TICKET_1]", "[BANK_CARD_1]",
    "[CN_ID_01]", "TCK-123", "TCK-", "[", "]", "_", "1", "0", "9", " ", "-", ".", ":", "@",
    "+", "(", ")", "x", "X", "é", "\n", "\u3000", "\ud83d",
)  # fmt: skip
REDACTORS = (Redactor(), Redactor([CustomPattern("ticket", r"TCK-\d+")]))


def text(draw: Draw) -> str:
    """A text of fragments, or of raw code units."""
    if draw.byte() % 4:
        return draw.text(24, FRAGMENTS)
    return draw.text(48)


def TestOneInput(data: bytes) -> str:
    """Redact then restore a few texts with one map; every original must come back."""
    draw = Draw(data)
    redactor = draw.pick(REDACTORS)
    texts = [text(draw) for _ in range(1 + draw.below(3))]
    mapping = RedactionMap()
    redacted = [redactor.redact(t, mapping) for t in texts]
    for original, sent in zip(texts, redacted, strict=True):
        assert redactor.restore(sent, mapping) == original, (original, sent)
    body = {"inputs": [{"text": t} for t in texts], "model": texts[0]}
    json_map = RedactionMap()
    sent_body = redactor.redact_json(body, json_map, frozenset({"model"}))
    assert redactor.restore_json(sent_body, json_map) == body
    return "redacted" if len(mapping) else "clean"


def seed_inputs() -> list[bytes]:
    """Fragment-mode inputs that mix PII and placeholders."""
    return [bytes([i, 1, 1, 0, 0, 4, 0]) + bytes(range(i, i + 40)) for i in range(8)]


if __name__ == "__main__":
    run(TestOneInput, seed_inputs())
