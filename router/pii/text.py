"""The text a scan reads: raw, lower-cased once, and keyword positions found at C speed."""

from __future__ import annotations

import re

# `\d\d{k-1}` starts with a character class, so `re` skips non-digits in C.
_RUNS = tuple((k, re.compile(rf"\d\d{{{k - 1}}}", re.ASCII)) for k in (3, 4, 6))


class Text:
    """A text to scan, with its lower-cased copy made once, on first use."""

    def __init__(self, raw: str) -> None:
        self.raw = raw
        self._lower: str | None = None
        self._longest_run: int | None = None
        self._digits: int | None = None

    @property
    def lower(self) -> str | None:
        """`raw.lower()` when that keeps every offset (else None: use the slow path)."""
        if self._lower is None:
            low = self.raw.lower()
            self._lower = low if len(low) == len(self.raw) else ""
        return self._lower or None

    def digit_count(self) -> int:
        """How many ASCII digits the text holds."""
        if self._digits is None:
            self._digits = sum(self.raw.count(d) for d in "0123456789")
        return self._digits

    def digit_run(self, n: int) -> bool:
        """Whether the text has a run of at least `n` ASCII digits (n is 3, 4 or 6)."""
        if self._longest_run is None:
            self._longest_run = 0
            if self.digit_count() >= 3:
                for k, pattern in _RUNS:  # 3, 4, 6: stop at the first length missing
                    if pattern.search(self.raw) is None:
                        break
                    self._longest_run = k
        return self._longest_run >= n

    def has_any(self, needles: tuple[str, ...]) -> bool:
        """Whether any needle occurs (case-sensitive)."""
        return any(n in self.raw for n in needles)


def keyword_ends(text: Text, keywords: tuple[str, ...], fallback: re.Pattern[str]) -> list[int]:
    """Sorted end offsets of lower-case keywords (str.find), or of `fallback` matches.

    A keyword written with a leading space only counts at the start of a word ("tel" in
    "Tel." but not in "hotel").
    """
    low = text.lower
    if low is None:
        return [m.end() for m in fallback.finditer(text.raw)]
    ends: list[int] = []
    for keyword in keywords:
        word = keyword.lstrip(" ")
        bounded = word != keyword
        at = low.find(word)
        while at != -1:
            if not (bounded and at > 0 and low[at - 1].isalpha()):
                ends.append(at + len(word))
            at = low.find(word, at + 1)
    ends.sort()
    return ends
