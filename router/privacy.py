"""PII detection and reversible redaction of text that leaves the edge.

Detectors: ``cn_mobile``, ``phone`` (E.164), ``email``, ``cn_id`` (checksum-valid resident
IDs), ``bank_card`` (Luhn-valid), ``ipv4``, ``ipv6``, plus named custom regexes. Digit-based
detectors never match inside a longer digit run. Overlaps resolve to the longer match, then
the more specific kind (ID, mobile, card, phone, ...). Built-in detectors see the text with
full-width forms folded to ASCII (１３８… , ＋, ＠; one char for one char, so spans hold);
custom patterns see the raw text.

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

import ipaddress
import re
from bisect import bisect_left
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from typing import TypeAlias

Json: TypeAlias = "str | int | float | bool | list[Json] | dict[str, Json] | None"

_CN_MOBILE_RE = re.compile(
    r"(?<!\d)(?:(?:\+|00)?86[ -]?)?1[3-9]\d(?:[ -]?\d{4}){2}(?!\d)", re.ASCII
)
_INTL_GROUP = r"(?:\(\d{1,4}\)|\d+)"
_INTL_RE = re.compile(
    r"(?<!\d)\+" + _INTL_GROUP + r"(?:(?:[ \-]|(?<=\))|(?=\())" + _INTL_GROUP + r")*", re.ASCII
)
_INTL_GROUP_RE = re.compile(_INTL_GROUP, re.ASCII)
_EMAIL_RE = re.compile(
    r"(?<![A-Za-z0-9._%+\-])[A-Za-z0-9._%+\-]+"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?\.)+[A-Za-z]{2,}",
    re.ASCII,
)
_CN_ID_RE = re.compile(r"(?<!\d)\d{17}[\dXx](?!\d)", re.ASCII)
_CARD_RE = re.compile(
    r"(?<!\d)(?:\d{13,19}|\d{4}[ -]\d{4}[ -]\d{4}[ -](?:\d{4}[ -]\d{1,3}|\d{1,4}))(?!\d)", re.ASCII
)
_IPV4_RE = re.compile(r"(?<!\d)(?<!\d\.)(?:\d{1,3}\.){3}\d{1,3}(?!\.?\d)", re.ASCII)
_IPV6_RE = re.compile(
    r"(?<![0-9A-Za-z_:])(?:[0-9A-Fa-f]{0,4}:){2,7}"
    r"(?:(?:\d{1,3}\.){3}\d{1,3}|[0-9A-Fa-f]{1,4})?(?![0-9A-Za-z_:])",
    re.ASCII,
)
_PLACEHOLDER_RE = re.compile(r"\[\s*([A-Za-z][A-Za-z0-9_]*?)_([0-9]{1,9})\s*\]")
_LABEL_RE = re.compile(r"[A-Za-z][A-Za-z0-9_]*")

_CN_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CN_ID_CHECK = "10X98765432"
_CN_PROVINCES = frozenset(
    {11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46}
    | {50, 51, 52, 53, 54, 61, 62, 63, 64, 65, 71, 81, 82, 83, 91}
)
_LITERAL = "literal"


@dataclass(frozen=True)
class PiiMatch:
    """One detected PII value: its kind and the [start, end) span in the text."""

    kind: str
    start: int
    end: int


@dataclass(frozen=True)
class CustomPattern:
    """An extra detector from config: a kind name and a regular expression."""

    name: str
    regex: str


@dataclass(frozen=True)
class _Detector:
    """A compiled detector: candidate regex plus a validator that may trim or reject."""

    kind: str
    label: str
    rank: int
    pattern: re.Pattern[str]
    validate: Callable[[str], int | None]
    folds_fullwidth: bool


def _fullwidth_table() -> dict[int, str]:
    """str.translate table folding full-width ASCII (０-９, ＋, ＠, ...) and U+3000 to ASCII."""
    table = {0xFF01 + i: chr(0x21 + i) for i in range(94)}
    table[0x3000] = " "
    return table


def _digits(value: str) -> str:
    """Only the ASCII digits of a value."""
    return "".join(ch for ch in value if "0" <= ch <= "9")


def _always(value: str) -> bool:
    """Accept any non-empty candidate the regex found."""
    return bool(value)


def luhn_valid(digits: str) -> bool:
    """Whether a digit string passes the Luhn checksum."""
    if not (digits.isascii() and digits.isdigit()):
        return False
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def cn_id_valid(value: str) -> bool:
    """Whether an 18-char Chinese resident ID has a known region, a real date and a valid check."""
    if (
        len(value) != 18
        or not (value[:17].isascii() and value[:17].isdigit())
        or int(value[:2]) not in _CN_PROVINCES
    ):
        return False
    try:
        date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        return False
    if not 1800 <= int(value[6:10]) <= 2100:
        return False
    total = sum(int(ch) * w for ch, w in zip(value[:17], _CN_ID_WEIGHTS, strict=True))
    return _CN_ID_CHECK[total % 11] == value[17].upper()


def _whole(ok: Callable[[str], bool]) -> Callable[[str], int | None]:
    """Adapt a yes/no validator to the 'length to keep or None' protocol."""
    return lambda value: len(value) if ok(value) else None


def _intl_length(value: str) -> int | None:
    """Keep an E.164 candidate's leading groups so it has 7-15 digits; None if impossible."""
    count, end = 0, 0
    for group in _INTL_GROUP_RE.finditer(value):
        n = len(_digits(group.group()))
        if count + n > 15:
            break
        count, end = count + n, group.end()
    if count < 7 or _digits(value).startswith("0"):
        return None
    return end


def _ipv6_length(value: str) -> int | None:
    """Validate an IPv6 candidate with ipaddress, forgiving one trailing colon."""
    for cand in (value, value[:-1] if value.endswith(":") and not value.endswith("::") else ""):
        if cand.strip(":") and _is_ip(cand):
            return len(cand)
    return None


def _luhn_candidate(value: str) -> bool:
    """Whether a grouped or plain card candidate's digits pass Luhn."""
    return luhn_valid(_digits(value))


def _is_ip(value: str) -> bool:
    """Whether ipaddress accepts the value as an address."""
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


_BUILTIN_SPECS: tuple[tuple[str, str, re.Pattern[str], Callable[[str], int | None]], ...] = (
    ("cn_id", "CN_ID", _CN_ID_RE, _whole(cn_id_valid)),
    ("cn_mobile", "PHONE", _CN_MOBILE_RE, _whole(_always)),
    ("bank_card", "BANK_CARD", _CARD_RE, _whole(_luhn_candidate)),
    ("phone", "PHONE", _INTL_RE, _intl_length),
    ("email", "EMAIL", _EMAIL_RE, _whole(_always)),
    ("ipv6", "IP", _IPV6_RE, _ipv6_length),
    ("ipv4", "IP", _IPV4_RE, _whole(_is_ip)),
)
BUILTIN_KINDS: frozenset[str] = frozenset(spec[0] for spec in _BUILTIN_SPECS)


def _canonical(label: str, number: str) -> str:
    """The canonical spelling of a placeholder token."""
    return f"[{label.upper()}_{int(number)}]"


class RedactionMap:
    """Per-request table of placeholder -> original value (mutable, never logs values)."""

    def __init__(self) -> None:
        self._originals: dict[str, str] = {}
        self._by_value: dict[tuple[str, str], str] = {}
        self._counters: dict[str, int] = {}
        self._reserved: set[str] = set()

    def __len__(self) -> int:
        return len(self._originals)

    def __contains__(self, placeholder: object) -> bool:
        return placeholder in self._originals

    def __repr__(self) -> str:
        return f"RedactionMap({len(self._originals)} placeholders)"

    def original(self, placeholder: str) -> str | None:
        """The original value behind a generated placeholder, or None if not generated here."""
        return self._originals.get(placeholder)

    def placeholders(self) -> frozenset[str]:
        """Every placeholder generated so far."""
        return frozenset(self._originals)

    def _reserve(self, placeholder: str) -> None:
        """Mark a placeholder-shaped token from user text so it is never generated."""
        self._reserved.add(placeholder)

    def _assign(self, label: str, value: str) -> str:
        """Return the placeholder for (label, value), creating an unused one if new."""
        key = (label, value)
        found = self._by_value.get(key)
        if found is not None:
            return found
        n = self._counters.get(label, 0)
        while True:
            n += 1
            placeholder = f"[{label}_{n}]"
            if placeholder not in self._reserved and placeholder not in self._originals:
                break
        self._counters[label] = n
        self._by_value[key] = placeholder
        self._originals[placeholder] = value
        return placeholder


def _label_for(name: str) -> str:
    """The placeholder label for a custom pattern name."""
    return re.sub(r"[^A-Za-z0-9]+", "_", name).strip("_").upper()


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
        out.append(_Detector(pat.name, label, first_rank + i, compiled, _whole(_always), False))
    return out


class Redactor:
    """Finds PII and swaps it for typed placeholders, reversibly, per request."""

    def __init__(
        self,
        custom: Sequence[CustomPattern] = (),
        enabled_kinds: frozenset[str] | None = None,
    ) -> None:
        builtins = [
            _Detector(kind, label, rank, pattern, check, folds_fullwidth=True)
            for rank, (kind, label, pattern, check) in enumerate(_BUILTIN_SPECS)
        ]
        detectors = builtins + _compile_custom(custom, len(builtins))
        if enabled_kinds is not None:
            known = {d.kind for d in detectors}
            unknown = enabled_kinds - known
            if unknown:
                raise ValueError(
                    f"unknown PII kinds {sorted(unknown)}; valid choices: {sorted(known)}"
                )
            detectors = [d for d in detectors if d.kind in enabled_kinds]
        self._detectors: tuple[_Detector, ...] = tuple(detectors)
        self._labels: dict[str, str] = {d.kind: d.label for d in detectors}
        self._labels[_LITERAL] = _LITERAL.upper()
        self._fold: dict[int, str] = _fullwidth_table()

    def find(self, text: str) -> list[PiiMatch]:
        """Non-overlapping PII matches in text, ordered by position."""
        return _select(
            [((m.start - m.end, rank, m.start), m) for rank, m in self._candidates(text)]
        )

    def contains_pii(self, text: str) -> bool:
        """Whether any enabled detector finds PII in text."""
        return bool(self.find(text))

    def kinds(self, text: str) -> set[str]:
        """The set of PII kinds present in text."""
        return {m.kind for m in self.find(text)}

    def redact(self, text: str, mapping: RedactionMap) -> str:
        """Replace each PII value with its placeholder, recording originals in mapping."""
        _reserve_literals(text, mapping)
        chosen = self.find(text)
        escapes = [
            PiiMatch(_LITERAL, m.start(), m.end())
            for m in _PLACEHOLDER_RE.finditer(text)
            if _canonical(m.group(1), m.group(2)) in mapping
        ]
        if escapes:
            chosen = _select([((0,), m) for m in chosen] + [((1,), m) for m in escapes])
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

        def swap(m: re.Match[str]) -> str:
            original = mapping.original(_canonical(m.group(1), m.group(2)))
            return m.group() if original is None else original

        return _PLACEHOLDER_RE.sub(swap, text)

    def redact_json(
        self, obj: Json, mapping: RedactionMap, skip_keys: frozenset[str] = frozenset()
    ) -> Json:
        """Redact string values in nested dicts/lists; keys, non-strings and skip_keys are kept."""
        for text in _strings(obj, skip_keys):
            _reserve_literals(text, mapping)
        return _walk(obj, lambda s: self.redact(s, mapping), skip_keys)

    def restore_json(self, obj: Json, mapping: RedactionMap) -> Json:
        """Restore every string value in nested dicts/lists."""
        return _walk(obj, lambda s: self.restore(s, mapping), frozenset())

    def _candidates(self, text: str) -> Iterator[tuple[int, PiiMatch]]:
        """Validated (rank, match) candidates from every enabled detector, overlaps included."""
        folded = text.translate(self._fold)
        for det in self._detectors:
            for m in det.pattern.finditer(folded if det.folds_fullwidth else text):
                if m.end() == m.start():
                    continue
                keep = det.validate(m.group())
                if keep:
                    yield det.rank, PiiMatch(det.kind, m.start(), m.start() + keep)


def _select(items: Sequence[tuple[tuple[int, ...], PiiMatch]]) -> list[PiiMatch]:
    """Greedily keep matches in priority-key order, skipping any that overlap a kept one."""
    starts: list[int] = []
    chosen: list[PiiMatch] = []
    for _, m in sorted(items, key=lambda item: item[0]):
        i = bisect_left(starts, m.start)
        if i > 0 and chosen[i - 1].end > m.start:
            continue
        if i < len(chosen) and chosen[i].start < m.end:
            continue
        starts.insert(i, m.start)
        chosen.insert(i, m)
    return chosen


def _reserve_literals(text: str, mapping: RedactionMap) -> None:
    """Reserve placeholder-shaped tokens in user text that were not generated by mapping."""
    for m in _PLACEHOLDER_RE.finditer(text):
        token = _canonical(m.group(1), m.group(2))
        if token not in mapping:
            mapping._reserve(token)


def _strings(obj: Json, skip_keys: frozenset[str]) -> Iterator[str]:
    """Every string value inside nested dicts/lists, except under skip_keys."""
    if isinstance(obj, str):
        yield obj
    elif isinstance(obj, dict):
        for key, value in obj.items():
            if key not in skip_keys:
                yield from _strings(value, skip_keys)
    elif isinstance(obj, list | tuple):
        for value in obj:
            yield from _strings(value, skip_keys)


def _walk(obj: Json, fn: Callable[[str], str], skip_keys: frozenset[str]) -> Json:
    """Copy nested dicts/lists, applying fn to every string value not under skip_keys."""
    if isinstance(obj, str):
        return fn(obj)
    if isinstance(obj, dict):
        return {
            key: value if key in skip_keys else _walk(value, fn, skip_keys)
            for key, value in obj.items()
        }
    if isinstance(obj, list | tuple):
        return [_walk(value, fn, skip_keys) for value in obj]
    return obj
