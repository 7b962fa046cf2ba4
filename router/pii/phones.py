"""Phone numbers of any country: cheap candidate spans, validated with `phonenumbers`.

International spellings (`+49 30 1234567`, `0049 …`) are parsed without a region. National
spellings are only considered in a NANP shape (`(415) 555-0100`, `415-555-0100`) or after a
phone keyword (EN/DE/FR/ES/ZH) close before them, then parsed in each configured region.
Parsing is costly (~0.1 ms), so results are memoised and each scan has a parse budget;
past it, a candidate of a phone's shape is kept at low confidence (fail closed, bounded).
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Iterator
from functools import lru_cache

from router.pii.checks import digits_of
from router.pii.text import Text, keyword_ends

DEFAULT_REGIONS = ("US", "GB", "DE", "FR", "CN", "IN", "JP", "ES", "IT", "BR", "CH", "AT")
CONTEXT_WINDOW = 40
VALID, POSSIBLE, SHAPED = 1.0, 0.8, 0.5

_UNIT = r"(?:\(\d{1,5}\)|\d{1,14})"
_SEP = r"(?:[ \-]{1,2}|(?<=\))|(?=\())"
_BODY = rf"{_UNIT}(?:{_SEP}{_UNIT}){{0,8}}"
_GROUPS = rf"(?:{_SEP}{_UNIT}){{0,8}}"
CANDIDATE_RES = (  # `+…`, national (maybe `00…` or `(0xx) …`), and NANP with dots
    re.compile(rf"\+(?<!\d.)[ ]?{_BODY}(?!\d|[.\-/]\d)", re.ASCII),
    re.compile(
        r"[(\d](?<![\w+\-./].)(?<!\+\d .)(?<!\+\d\d .)(?<!\+\d\d\d .)"
        r"(?:(?<=\()\d{1,5}\)|(?<=\d)\d{0,13})"
        rf"{_GROUPS}(?!\w|[.\-/]\d)",
        re.ASCII,
    ),
    re.compile(r"\d(?<![\w.].)\d{2}\.\d{3}\.\d{4}(?!\w|\.\d)", re.ASCII),
)
_GROUP_END_RE = re.compile(r"[ \-]{1,2}(?=[\d(])")
_NANP_RE = re.compile(r"\(\d{3}\)[ ]?\d{3}[ \-.]\d{4}|\d{3}[\-.]\d{3}[\-.]\d{4}", re.ASCII)
_DATE_RE = re.compile(r"\d{4}[\-.]\d{1,2}[\-.]\d{1,2}|\d{1,2}[\-.]\d{1,2}[\-.]\d{4}", re.ASCII)
CONTEXT_WORDS = ("phone", " tel", "mobile", " cell", " call", " ring ", "text me", " sms")
CONTEXT_WORDS += ("whatsapp", " fax", "hotline", "contact", "reach me", " dial", "telefon")
CONTEXT_WORDS += (" handy", " mobil", "rufnummer", "anruf", " rufen", " ruf ", "erreichbar")
CONTEXT_WORDS += ("durchwahl", "téléphone", "portable", "teléfono", "móvil", "llamar", "电话")
CONTEXT_WORDS += ("手机", "致电", "联系", "拨打", "热线")
CONTEXT_RE = re.compile("|".join(re.escape(w.strip()) for w in CONTEXT_WORDS), re.IGNORECASE)


def _candidates(raw: str) -> Iterator[re.Match[str]]:
    """`+…` matches, then national ones that do not start inside a `+…` match."""
    covered: list[tuple[int, int]] = []
    if "+" in raw:
        for m in CANDIDATE_RES[0].finditer(raw):
            covered.append(m.span())
            yield m
    for pattern in CANDIDATE_RES[1:]:
        i = 0
        for m in pattern.finditer(raw):
            start = m.start()
            while i < len(covered) and covered[i][1] <= start:
                i += 1
            if i < len(covered) and covered[i][0] <= start:
                continue
            yield m


@lru_cache(maxsize=8192)
def _judge(candidate: str, region: str | None) -> float:
    """VALID, POSSIBLE or 0.0 for one spelling in one region (None: it carries a `+`)."""
    import phonenumbers  # on first use: its metadata is large, and most texts need none
    from phonenumbers import NumberParseException

    try:
        number = phonenumbers.parse(candidate, region)
    except NumberParseException:
        return 0.0
    if phonenumbers.is_valid_number(number):
        return VALID
    return POSSIBLE if phonenumbers.is_possible_number(number) else 0.0


class PhoneScanner:
    """Finds phone numbers in one text, spending at most `max_parses` library parses."""

    def __init__(
        self, regions: tuple[str, ...] = DEFAULT_REGIONS, strict: bool = True, max_parses: int = 64
    ) -> None:
        self.regions = regions
        self.strict = strict
        self.max_parses = max_parses

    def scan(self, text: Text) -> Iterator[tuple[int, int, float]]:
        """(start, end, confidence) of every phone number in `text` (ASCII-folded)."""
        raw = text.raw
        if text.digit_count() < 6:
            return
        gated = "+" not in raw and "(" not in raw and not text.digit_run(4)
        if gated and not keyword_ends(text, CONTEXT_WORDS, CONTEXT_RE):
            return
        budget = [self.max_parses]
        context_ends: list[int] | None = None
        for m in _candidates(raw):
            candidate = m.group()
            if len(candidate) < 6:
                continue
            if candidate[0] == "+" or candidate.startswith("00"):
                regions: tuple[str | None, ...] = (None,)
                low, high = 7, 15
            elif _DATE_RE.fullmatch(candidate):
                continue
            elif _NANP_RE.match(candidate):
                regions, low, high = ("US", "CA"), 10, 11
            else:
                if context_ends is None:
                    context_ends = keyword_ends(text, CONTEXT_WORDS, CONTEXT_RE)
                i = bisect_left(context_ends, m.start() - CONTEXT_WINDOW)
                if i == len(context_ends) or context_ends[i] > m.start():
                    continue
                regions, low, high = self.regions, 7, 12
            end, score = self._best_prefix(candidate, regions, low, high, budget)
            if score:
                yield m.start(), m.start() + end, score

    def _best_prefix(
        self,
        candidate: str,
        regions: tuple[str | None, ...],
        low: int,
        high: int,
        budget: list[int],
    ) -> tuple[int, float]:
        """The longest whole-group prefix the library accepts; else the longest of a phone's
        shape (kept at low confidence in strict mode, or once the parse budget is spent)."""
        skip = 2 if candidate.startswith("00") else 0
        intl = regions == (None,)
        digits = digits_of(candidate)[skip:]
        if intl and digits.startswith("0"):
            return 0, 0.0
        if low <= len(digits) <= high:  # the usual case: the whole candidate is the number
            if budget[0] <= 0:
                return len(candidate), SHAPED
            score = self._judged(self._spelled(candidate, skip), regions, budget)
            if score:
                return len(candidate), score
            if intl and self.strict:
                return len(candidate), SHAPED
            return 0, 0.0
        ends = [g.start() for g in _GROUP_END_RE.finditer(candidate)]
        shaped = 0
        for end in reversed(ends):
            n = len(digits_of(candidate[:end])) - skip
            if n > high + 2:
                continue
            if n < low - 1:
                break
            if not shaped and low <= n <= high:
                shaped = end
                if budget[0] <= 0:
                    return end, SHAPED
            score = self._judged(self._spelled(candidate[:end], skip), regions, budget)
            if score:
                return end, score
        if shaped and ((self.strict and intl) or budget[0] <= 0):
            return shaped, SHAPED
        return 0, 0.0

    @staticmethod
    def _spelled(prefix: str, skip: int) -> str:
        """A `00…` spelling rewritten with `+` for the library."""
        return "+" + prefix[2:].lstrip() if skip else prefix

    def _judged(self, candidate: str, regions: tuple[str | None, ...], budget: list[int]) -> float:
        """The best library verdict over regions, within budget (SHAPED once it is spent)."""
        best = 0.0
        for region in regions:
            if budget[0] <= 0:
                return best or SHAPED
            budget[0] -= 1
            best = max(best, _judge(candidate, region))
            if best == VALID:
                break
        return best
