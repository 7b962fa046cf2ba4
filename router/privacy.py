"""PII detection and reversible redaction of text that leaves the edge.

Built-in kinds (see `router.pii.detectors`): ``private_key``, ``jwt``, ``api_key``,
``cn_id``, ``iban``, ``cn_mobile``, ``bank_card``, ``ssn``, ``phone`` (any country, through
`phonenumbers`), ``passport``, ``email``, ``ipv6``, ``ipv4``, ``secret``; plus named custom
regexes. Overlaps resolve to the longer match, then the more specific kind. Built-in
detectors see the text with full-width forms folded to ASCII (１３８… , ＋, ＠; one char for
one char, so spans hold); custom patterns see the raw text. In strict mode (the default) a
value whose checksum fails but whose shape holds is still found, at a lower confidence.

It fails closed: any error inside a detector raises :class:`PiiDetectionError` (a 500 JSON
error), so a text that could not be scanned is never sent.

Placeholders look like ``[PHONE_1]``: per-request, per-label counters; the same original
value always gets the same placeholder within one :class:`RedactionMap`.

Collision scheme (no nonce): before redacting, every placeholder-shaped token already in the
user's text is *reserved* in the map, so generated placeholders skip those numbers and the
user's literal ``[PHONE_1]`` travels unchanged and is left alone by :meth:`Redactor.restore`.
If a later text of the same request literally contains a placeholder that was already issued,
that literal is itself redacted as a ``[LITERAL_n]`` value, so restore puts it back verbatim.

Nothing in this module logs or reprs original values.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from common.errors import InternalError
from router.pii.checks import cn_id_valid, luhn_valid
from router.pii.detectors import BUILTIN_KINDS, Scan, builtins
from router.pii.memo import ScanMemo
from router.pii.phones import DEFAULT_REGIONS
from router.pii.placeholders import (
    PLACEHOLDER_RE,
    Json,
    RedactionMap,
    StreamRestorer,
    canonical,
    reserve_literals,
    safe_cut,
    strings,
    walk,
)
from router.pii.select import Candidate, PiiMatch, select
from router.pii.text import Text

__all__ = [
    "BUILTIN_KINDS",
    "CustomPattern",
    "PiiDetectionError",
    "PiiMatch",
    "RedactionMap",
    "Redactor",
    "StreamRestorer",
    "cn_id_valid",
    "luhn_valid",
    "safe_cut",
]


_LABEL_RE = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
_FULLWIDTH_RE = re.compile("[\u3000\uff01-\uff5e]")
_LITERAL = "literal"


class PiiDetectionError(InternalError):
    """Detection failed, so the text is not sent anywhere (fail closed)."""

    def __init__(self, message: str = "PII detection failed; nothing was sent") -> None:
        super().__init__(message, "pii_detection_failed")


@dataclass(frozen=True)
class CustomPattern:
    """An extra detector from config: a kind name and a regular expression."""

    name: str
    regex: str


@dataclass(frozen=True)
class _Detector:
    """A detector ready to run: kind, placeholder label, overlap rank and scanner."""

    kind: str
    label: str
    rank: int
    scan: Scan
    folds_fullwidth: bool


def _fullwidth_table() -> dict[int, str]:
    """str.translate table folding full-width ASCII (０-９, ＋, ＠, ...) and U+3000 to ASCII."""
    table = {0xFF01 + i: chr(0x21 + i) for i in range(94)}
    table[0x3000] = " "
    return table


_FOLD = _fullwidth_table()


def _label_for(name: str) -> str:
    """The placeholder label for a custom pattern name."""
    return re.sub(r"[^A-Za-z0-9]+", "_", name).strip("_").upper()


def _regex_scan(pattern: re.Pattern[str]) -> Scan:
    """A scanner for a custom regex: every non-empty match at full confidence."""

    def scan(text: Text) -> Iterator[tuple[int, int, float]]:
        for m in pattern.finditer(text.raw):
            if m.end() > m.start():
                yield m.start(), m.end(), 1.0

    return scan


def _compile_custom(custom: Sequence[CustomPattern], first_rank: int) -> list[_Detector]:
    """Compile config patterns, rejecting bad names and regexes with a message naming them."""
    out: list[_Detector] = []
    for i, pat in enumerate(custom):
        label = _label_for(pat.name)
        if pat.name in BUILTIN_KINDS or pat.name == _LITERAL or not _LABEL_RE.fullmatch(label):
            raise ValueError(f"custom PII pattern name {pat.name!r} is reserved or not a word")
        if label == _LITERAL.upper():
            raise ValueError(f"custom PII pattern name {pat.name!r} is reserved")
        try:
            compiled = re.compile(pat.regex)
        except re.error as exc:
            raise ValueError(f"custom PII pattern {pat.name!r}: invalid regex: {exc}") from exc
        out.append(_Detector(pat.name, label, first_rank + i, _regex_scan(compiled), False))
    return out


class Redactor:
    """Finds PII and swaps it for typed placeholders, reversibly, per request."""

    def __init__(
        self,
        custom: Sequence[CustomPattern] = (),
        enabled_kinds: frozenset[str] | None = None,
        *,
        strict: bool = True,
        phone_regions: Sequence[str] = DEFAULT_REGIONS,
        max_phone_parses: int = 64,
        min_confidence: float = 0.0,
        memo_max_chars: int = 8_000_000,
        memo_ttl_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        found = builtins(strict, tuple(phone_regions), max_phone_parses)
        detectors = [
            _Detector(b.kind, b.label, rank, b.scan, folds_fullwidth=True)
            for rank, b in enumerate(found)
        ]
        detectors += _compile_custom(custom, len(detectors))
        if enabled_kinds is not None:
            known = {d.kind for d in detectors}
            unknown = enabled_kinds - known
            if unknown:
                raise ValueError(
                    f"unknown PII kinds {sorted(unknown)}; valid choices: {sorted(known)}"
                )
            detectors = [d for d in detectors if d.kind in enabled_kinds]
        self.strict = strict
        self._min_confidence = min_confidence
        self._detectors: tuple[_Detector, ...] = tuple(detectors)
        self._labels: dict[str, str] = {d.kind: d.label for d in detectors}
        self._labels[_LITERAL] = _LITERAL.upper()
        self._memo = ScanMemo(memo_max_chars, memo_ttl_s, clock)

    def find(self, text: str) -> list[PiiMatch]:
        """Non-overlapping PII matches in text, by position; PiiDetectionError on failure.

        Results are memoised for `memo_ttl_s` (bounded in texts and characters), so asking
        for a request's kinds and then redacting the same texts scans each text once.
        """
        held = self._memo.get(text)
        if held is not None:
            return list(held)
        try:
            found = tuple(select(self._candidates(text)))
        except Exception as exc:  # fail closed: an unscannable text must not leave
            raise PiiDetectionError() from exc
        self._memo.put(text, found)
        return list(found)

    def contains_pii(self, text: str) -> bool:
        """Whether any enabled detector finds PII in text."""
        return bool(self.find(text))

    def kinds(self, text: str) -> set[str]:
        """The set of PII kinds present in text."""
        return {m.kind for m in self.find(text)}

    def redact(
        self, text: str, mapping: RedactionMap, matches: Sequence[PiiMatch] | None = None
    ) -> str:
        """Replace each PII value with its placeholder, recording originals in mapping.

        `matches` (from :meth:`find` on this same text) saves a second scan.
        """
        reserve_literals(text, mapping)
        chosen = list(self.find(text) if matches is None else matches)
        escapes = [
            PiiMatch(_LITERAL, m.start(), m.end())
            for m in PLACEHOLDER_RE.finditer(text)
            if canonical(m.group(1), m.group(2)) in mapping
        ]
        if escapes:
            chosen = select(
                [(m.start, -m.end, 0, m.kind, m.confidence) for m in chosen]
                + [(m.start, -m.end, 1 << 20, m.kind, m.confidence) for m in escapes]
            )
        parts: list[str] = []
        pos = 0
        for m in chosen:
            parts.append(text[pos : m.start])
            parts.append(mapping._assign(self._labels[m.kind], text[m.start : m.end]))
            pos = m.end
        parts.append(text[pos:])
        return "".join(parts)

    def restore(self, text: str, mapping: RedactionMap) -> str:
        """Put originals back for every placeholder generated in mapping; leave others as-is."""
        if "[" not in text:
            return text

        def swap(m: re.Match[str]) -> str:
            original = mapping.original(canonical(m.group(1), m.group(2)))
            return m.group() if original is None else original

        return PLACEHOLDER_RE.sub(swap, text)

    def redact_json(
        self, obj: Json, mapping: RedactionMap, skip_keys: frozenset[str] = frozenset()
    ) -> Json:
        """Redact string values in nested dicts/lists; keys, non-strings and skip_keys are kept."""
        for text in strings(obj, skip_keys):
            reserve_literals(text, mapping)
        return walk(obj, lambda s: self.redact(s, mapping), skip_keys)

    def restore_json(self, obj: Json, mapping: RedactionMap) -> Json:
        """Restore every string value in nested dicts/lists."""
        return walk(obj, lambda s: self.restore(s, mapping), frozenset())

    def _candidates(self, text: str) -> list[Candidate]:
        """(start, -end, rank, kind, confidence) from every enabled detector, overlaps included."""
        folded = text
        if not text.isascii() and _FULLWIDTH_RE.search(text):
            folded = text.translate(_FOLD)
        floor = self._min_confidence
        folded_text, raw_text = Text(folded), Text(text)
        items: list[Candidate] = []
        for det in self._detectors:
            source = folded_text if det.folds_fullwidth else raw_text
            rank, kind = det.rank, det.kind
            items.extend(
                (start, -end, rank, kind, confidence)
                for start, end, confidence in det.scan(source)
                if end > start and confidence >= floor
            )
        return items
