"""The semantic cache's verification step: does a near prompt still ask the same question?

Embeddings put "Is it safe…" next to "Is it unsafe…", Paris→London next to London→Paris,
and 17×23 next to 17×24. After the nearest-neighbour hit, `meaning_changed(cached, asked)`
compares the two prompts' meaning-bearing parts and names the first difference it finds:

- `language`: written in a different language (the answer would be too);
- `number`: numbers (digits or number words) differ, or come in another order;
- `unit`, `currency`, `date`: units, currencies, dates or relative days differ or are swapped;
- `negation`: a different count of negation cues (not, n't, nicht, kein, 不, 没…);
- `antonym`: one side has a word the other has the opposite of (enable/disable, un-…);
- `entity`: a name (capitalised word, Latin word inside Chinese) is only on one side;
- `order`: the same names, numbers or words in another order (from A to B vs from B to A).

None means no difference was found and the cached answer may be served. Pure functions
on strings: no model, no I/O; microseconds per check.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from router.semantic_lexicon import (
    ANTONYM_PAIRS,
    CURRENCIES,
    DATE_WORDS,
    DE_HINTS,
    EN_HINTS,
    NEGATIONS,
    NEGATIVE_PREFIXES,
    NUMBER_WORDS,
    STOPWORDS,
    UNITS,
)

_TOKEN_RE = re.compile(
    r"\d+(?:[.,:/]\d+)*|[A-Za-zÀ-ÖØ-öø-ÿß]+(?:'[a-z]+)?|[\u3400-\u9fff]|[$€£¥₹%°]"
)
_CJK_RE = re.compile(r"[\u3400-\u9fff]")
_CJK_NEGATIONS = frozenset("不没别无非未勿")


@dataclass(frozen=True)
class Parsed:
    """The parts of a prompt that carry its meaning."""

    language: str
    tokens: tuple[str, ...]
    numbers: tuple[str, ...]
    units: tuple[str, ...]
    currencies: tuple[str, ...]
    dates: tuple[str, ...]
    negations: int
    names: tuple[str, ...]
    words: frozenset[str]
    stems: frozenset[str]


def _stem(word: str) -> str:
    """A crude suffix-stripping stem, enough to match word forms across two prompts."""
    for suffix in ("ing", "ed", "es", "en", "s", "e"):
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


def _antonyms() -> dict[str, frozenset[str]]:
    """Each stemmed word's stemmed opposites, both ways round."""
    out: dict[str, set[str]] = {}
    for x, y in ANTONYM_PAIRS:
        out.setdefault(_stem(x), set()).add(_stem(y))
        out.setdefault(_stem(y), set()).add(_stem(x))
    return {k: frozenset(v) for k, v in out.items()}


def _language(raw: str, words: list[str]) -> str:
    """`zh`, `de` or `en`, from script, umlauts and function words."""
    cjk = len(_CJK_RE.findall(raw))
    if cjk and cjk >= len(words) / 2:
        return "zh"
    de = sum(w in DE_HINTS for w in words) + 2 * sum(ch in "äöüß" for ch in raw.lower())
    en = sum(w in EN_HINTS for w in words)
    return "de" if de > en else "en"


@lru_cache(maxsize=4096)
def parse(prompt: str) -> Parsed:
    """Split a prompt into the parts the guard compares (memoised)."""
    raw_tokens = _TOKEN_RE.findall(prompt)
    words = [t.lower() for t in raw_tokens]
    numbers, units, currencies, dates, names = [], [], [], [], []
    negations = 0
    for i, (raw, word) in enumerate(zip(raw_tokens, words, strict=True)):
        if word[0].isdigit():
            numbers.append(word.replace(",", "."))
        elif word in NUMBER_WORDS:
            numbers.append(NUMBER_WORDS[word])
        if word in UNITS:
            units.append(UNITS[word])
        if word in CURRENCIES:
            currencies.append(CURRENCIES[word])
        if word in DATE_WORDS:
            dates.append(DATE_WORDS[word])
        if word in NEGATIONS or word.endswith("n't") or word in _CJK_NEGATIONS:
            negations += 1
        if raw[0].isupper() and i > 0 and word not in STOPWORDS and raw_tokens[i - 1] not in ".?!":
            names.append(_stem(word))
        elif raw.isascii() and raw[0].isalpha() and _CJK_RE.search(prompt):
            names.append(_stem(word))  # a Latin word in a Chinese prompt: a name or a term
    content = frozenset(w for w in words if w not in STOPWORDS and not w[0].isdigit())
    return Parsed(
        language=_language(prompt, words),
        tokens=tuple(words),
        numbers=tuple(numbers),
        units=tuple(units),
        currencies=tuple(currencies),
        dates=tuple(dates),
        negations=negations,
        names=tuple(names),
        words=content,
        stems=frozenset(_stem(w) for w in content),
    )


def _opposed(a: Parsed, b: Parsed) -> bool:
    """Whether a word on one side is the antonym, or the negative-prefixed form, of the other."""
    only_a, only_b = a.stems - b.stems, b.stems - a.stems
    if any(_ANTONYMS.get(x, frozenset()) & only_b for x in only_a):
        return True
    for x in a.words - b.words:
        for y in b.words - a.words:
            short, long = sorted((x, y), key=len)
            if len(short) > 2 and any(long == p + short for p in NEGATIVE_PREFIXES):
                return True
    return False


_ANTONYMS = _antonyms()


def meaning_changed(cached: str, asked: str) -> str | None:
    """The first way `asked` differs in meaning from `cached`, or None if none is found."""
    if cached == asked:
        return None
    a, b = parse(cached), parse(asked)
    if a.language != b.language:
        return "language"
    if a.numbers != b.numbers:
        return "number"
    if (a.numbers or (a.units and b.units)) and a.units != b.units:
        return "unit"
    if a.currencies != b.currencies:
        return "currency"
    if a.dates != b.dates:
        return "date"
    if a.negations != b.negations:
        return "negation"
    if _opposed(a, b):
        return "antonym"
    if sorted(a.names) != sorted(b.names):
        return "entity"
    if a.names != b.names:
        return "order"
    if a.tokens != b.tokens and sorted(a.tokens) == sorted(b.tokens):
        return "order"
    if a.language == "zh" and sorted(a.tokens) == sorted(b.tokens):
        return "order"
    return None
