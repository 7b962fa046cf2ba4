"""Built-in PII detectors: one linear-time candidate regex each, then a validator.

Every pattern starts with a negative look-behind for its own alphabet (so a long run is
entered once, not at every position) and has bounded repeats, so a scan is linear in the
text. A detector yields `(start, end, confidence)`; in strict mode a value whose checksum
fails but whose shape holds (Chinese ID, IBAN) is kept at a lower confidence.
"""

from __future__ import annotations

import ipaddress
import re
from bisect import bisect_left
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from router.pii.checks import (
    IBAN_LENGTHS,
    card_prefix_ok,
    cn_id_checksum_ok,
    cn_id_shape,
    digits_of,
    iban_checksum_ok,
    jwt_header_ok,
    luhn_valid,
    ssn_valid,
)
from router.pii.phones import PhoneScanner
from router.pii.text import Text, keyword_ends

Span = tuple[int, int, float]
BAD_CHECKSUM = 0.6


Scan = Callable[[Text], Iterator[Span]]


_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
# Patterns start with a character (so `re` can skip ahead in C) and check what precedes it
# right after: a long digit or letter run is entered once, not at every position.
IPV4_RE = re.compile(  # the first octet's digits are read after the look-behind
    r"\d(?<!\d.)(?<!\d\..)(?<![vV].)(?:(?<=1)\d{0,2}|(?<=2)(?:[0-4]\d|5[0-5]|\d)?|(?<=[3-9])\d?|(?<=0))"
    rf"(?:\.{_OCTET}){{3}}(?!\.?\d)",
    re.ASCII,
)
IPV6_RE = re.compile(
    r"[0-9A-Fa-f:](?<![0-9A-Za-z_.].)(?<![0-9A-Za-z_.]:.)[0-9A-Fa-f]{0,3}:[0-9A-Fa-f:.]{1,43}",
    re.ASCII,
)
EMAIL_RE = re.compile(
    r"[A-Za-z0-9._%+\-](?<![A-Za-z0-9._%+\-].)[A-Za-z0-9._%+\-]{0,63}@"
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?\.){1,8}[A-Za-z]{2,24}(?![A-Za-z0-9])",
    re.ASCII,
)
_MOBILE_TAIL = r"1[3-9]\d(?:[ \-]?\d{4}){2}(?!\d)"
CN_MOBILE_RE = re.compile(
    rf"\+(?<!\d.)86[ \-]?{_MOBILE_TAIL}|0(?<!\d.)086[ \-]?{_MOBILE_TAIL}"
    rf"|8(?<!\d.)6[ \-]?{_MOBILE_TAIL}|1(?<!\d.)[3-9]\d(?:[ \-]?\d{{4}}){{2}}(?!\d)",
    re.ASCII,
)
CN_ID_RE = re.compile(r"\d(?<!\d.)\d{5}[ ]?(?:18|19|20)\d{6}[ ]?\d{3}[\dXx](?!\d)", re.ASCII)
CARD_RE = re.compile(
    r"\d(?<!\d.)(?<!\d[ \-].)"
    r"(?:\d{12,18}|\d{3}([ \-])\d{4}\1\d{4}\1\d{4}\1\d{1,3}|\d{3}([ \-])\d{4}\2\d{4}\2\d{1,4}"
    r"|\d{3}([ \-])\d{6}\3\d{4,5})(?![ \-]?\d)",
    re.ASCII,
)
SSN_RE = re.compile(r"(\d(?<![\d\-].)\d{2})([\- ]?)(\d{2})\2(\d{4})(?![\d\-])", re.ASCII)
SSN_WORDS = ("ssn", "social security", "soc. sec", "soc sec", "社会安全")
SSN_CONTEXT_RE = re.compile(r"ssn|social security|soc\.? ?sec|社会安全", re.IGNORECASE)
IBAN_RE = re.compile(
    r"[A-Za-z](?<![A-Za-z0-9].)[A-Za-z]\d{2}(?:[ \-]?[A-Za-z0-9]){10,34}", re.ASCII
)
IBAN_CONTEXT_RE = re.compile(r"iban|konto|account|账户|账号|compte|cuenta", re.IGNORECASE)
PASSPORT_WORDS = ("passport", "reisepass", "passnummer", "pass-nr", "passeport", "pasaporte")
PASSPORT_WORDS += ("护照",)
PASSPORT_KEYWORD_RE = re.compile("|".join(map(re.escape, PASSPORT_WORDS)), re.IGNORECASE)
PASSPORT_TAIL_RE = re.compile(
    r"[^\w\n]{0,3}(?:(?:number|nummer|num|no|nr|id|号码|号)\.?)?[^\w\n]{0,4}"
    r"(?:(?:is|ist|lautet|est|es|是|为)[^\w\n]{0,3})?"
    r"(?<![A-Za-z0-9])([A-Za-z0-9]{6,9})(?![A-Za-z0-9])",
    re.IGNORECASE,
)
API_KEY_PREFIXES = ("sk-", "sk_", "rk_", "AKIA", "ASIA", "AGPA", "AIDA", "AROA", "ANPA", "ANVA")
API_KEY_PREFIXES += ("AIPA", "gh", "github_pat_", "xox", "AIza", "glpat-")
API_KEY_RE = re.compile(
    r"(?<![A-Za-z0-9_\-])(?:sk-(?:proj-|ant-[a-z0-9]{2,8}-)?[A-Za-z0-9_\-]{20,256}"
    r"|(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,128}"
    r"|(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[A-Z0-9]{16}"
    r"|gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255}"
    r"|xox[abposr]-[A-Za-z0-9\-]{10,255}|AIza[0-9A-Za-z_\-]{35}"
    r"|glpat-[A-Za-z0-9_\-]{20,64})(?![A-Za-z0-9_\-])",
    re.ASCII,
)
SECRET_WORDS = ("api_key", "api-key", "apikey", "api key", "secret", "access_token", "token")
SECRET_WORDS += ("password", "passwd", "pwd", "passwort", "kennwort", "密码", "密钥")
SECRET_KEYWORD_RE = re.compile("|".join(map(re.escape, SECRET_WORDS)), re.IGNORECASE)
SECRET_TAIL_RE = re.compile(
    r"[A-Za-z_\-]{0,20}[\"']?[ \t]{0,3}[:=：][ \t]{0,3}[\"']?([A-Za-z0-9+/=_\-.!@#$%^&*]{8,256})"
)
JWT_RE = re.compile(
    r"e(?<![A-Za-z0-9_\-.].)yJ[A-Za-z0-9_\-]{5,4096}\.eyJ[A-Za-z0-9_\-]{5,16384}"
    r"\.[A-Za-z0-9_\-]{10,4096}(?![A-Za-z0-9_\-])",
    re.ASCII,
)
PEM_BEGIN_RE = re.compile(r"-----BEGIN ((?:[A-Z0-9]+ ){0,3})PRIVATE KEY-----")
_PEM_BODY_RE = re.compile(r"[A-Za-z0-9+/=\s:,\-]{0,20000}")
_MAX_PEM = 20000
_ASCII_WORD = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")


def _regex(pattern: re.Pattern[str], needles: tuple[str, ...] = (), run: int = 0) -> Scan:
    """A detector whose regex alone decides; skipped when none of `needles` occurs or the
    text has no digit run of length `run`."""

    def scan(text: Text) -> Iterator[Span]:
        if (needles and not text.has_any(needles)) or (run and not text.digit_run(run)):
            return
        for m in pattern.finditer(text.raw):
            yield m.start(), m.end(), 1.0

    return scan


def scan_cn_id(strict: bool) -> Scan:
    """18-char resident IDs (optionally spaced 6-8-4): full confidence with a valid check."""

    def scan(text: Text) -> Iterator[Span]:
        if not text.digit_run(6):
            return
        for m in CN_ID_RE.finditer(text.raw):
            value = m.group().replace(" ", "")
            if not cn_id_shape(value):
                continue
            if cn_id_checksum_ok(value):
                yield m.start(), m.end(), 1.0
            elif strict:
                yield m.start(), m.end(), BAD_CHECKSUM

    return scan


def scan_card(text: Text) -> Iterator[Span]:
    """Luhn-valid card numbers with a card-network prefix, plain or grouped."""
    if not text.digit_run(4):
        return
    for m in CARD_RE.finditer(text.raw):
        digits = digits_of(m.group())
        if 13 <= len(digits) <= 19 and card_prefix_ok(digits) and luhn_valid(digits):
            yield m.start(), m.end(), 1.0


def scan_ssn(text: Text) -> Iterator[Span]:
    """US SSNs: dashed anywhere; spaced or plain only after an SSN keyword."""
    if not text.digit_run(4):
        return
    context: list[int] | None = None
    for m in SSN_RE.finditer(text.raw):
        if not ssn_valid(m.group(1), m.group(3), m.group(4)):
            continue
        if m.group(2) != "-":
            if context is None:
                context = keyword_ends(text, SSN_WORDS, SSN_CONTEXT_RE)
            i = bisect_left(context, m.start() - 40)
            if i == len(context) or context[i] > m.start():
                continue
        yield m.start(), m.end(), 1.0


def scan_iban(strict: bool) -> Scan:
    """IBANs in any spelling (spaces, dashes, lower case), cut to the country's length."""

    def scan(text: Text) -> Iterator[Span]:
        raw = text.raw
        for m in IBAN_RE.finditer(raw):
            length = IBAN_LENGTHS.get(m.group()[:2].upper())
            if length is None:
                continue
            end, count = m.start(), 0
            for i, ch in enumerate(m.group()):
                if ch.isalnum():
                    count += 1
                    if count == length:
                        end = m.start() + i + 1
                        break
            if count < length or (end < len(raw) and raw[end].isalnum()):
                continue
            compact = "".join(ch for ch in raw[m.start() : end] if ch.isalnum()).upper()
            if iban_checksum_ok(compact):
                yield m.start(), end, 1.0
            elif strict and (" " in raw[m.start() : end] or _near(IBAN_CONTEXT_RE, raw, m)):
                yield m.start(), end, BAD_CHECKSUM

    return scan


def _near(pattern: re.Pattern[str], raw: str, m: re.Match[str], window: int = 30) -> bool:
    """Whether `pattern` occurs in the `window` characters before the match."""
    return pattern.search(raw, max(0, m.start() - window), m.start()) is not None


def scan_passport(text: Text) -> Iterator[Span]:
    """A passport-number-shaped token right after a passport keyword (the value only)."""
    if not text.digit_count():
        return
    for end in keyword_ends(text, PASSPORT_WORDS, PASSPORT_KEYWORD_RE):
        m = PASSPORT_TAIL_RE.match(text.raw, end)
        if m and any(ch.isdigit() for ch in m.group(1)):
            yield m.start(1), m.end(1), 1.0


def scan_secret_assignment(text: Text) -> Iterator[Span]:
    """`password: …`, `api_key=…` values with letters and digits (the value only)."""
    if not text.digit_count() or not text.has_any((":", "=", "：")):
        return
    for end in keyword_ends(text, SECRET_WORDS, SECRET_KEYWORD_RE):
        m = SECRET_TAIL_RE.match(text.raw, end)
        if m is None:
            continue
        value = m.group(1)
        if any(c.isdigit() for c in value) and any(c.isalpha() for c in value):
            yield m.start(1), m.end(1), 0.9


def scan_jwt(text: Text) -> Iterator[Span]:
    """Three base64url segments whose header decodes to JSON with `alg`."""
    if "eyJ" not in text.raw:
        return
    for m in JWT_RE.finditer(text.raw):
        yield m.start(), m.end(), 1.0 if jwt_header_ok(m.group()) else 0.7


def scan_pem(text: Text) -> Iterator[Span]:
    """A PEM private key block: BEGIN to END, or to the end of its base64 body."""
    raw = text.raw
    if "-----BEGIN" not in raw:
        return
    pos = 0
    while (m := PEM_BEGIN_RE.search(raw, pos)) is not None:
        footer = f"-----END {m.group(1)}PRIVATE KEY-----"
        end = raw.find(footer, m.end(), m.end() + _MAX_PEM)
        if end != -1:
            pos, confidence = end + len(footer), 1.0
        else:
            body = _PEM_BODY_RE.match(raw, m.end())
            pos, confidence = (body.end() if body else m.end()), 0.9
        yield m.start(), pos, confidence


def scan_ipv4(text: Text) -> Iterator[Span]:
    """Dotted quads whose four octets are 0-255 without leading zeros."""
    for m in IPV4_RE.finditer(text.raw):
        yield m.start(), m.end(), 1.0


def scan_ipv6(text: Text) -> Iterator[Span]:
    """IPv6 candidates checked by `ipaddress` (a trailing colon or dot is left out)."""
    raw = text.raw
    if ":" not in raw:
        return
    for m in IPV6_RE.finditer(raw):
        if m.end() < len(raw) and raw[m.end()] in _ASCII_WORD:
            continue
        value = m.group().rstrip(".")
        if value.endswith(":") and not value.endswith("::"):
            value = value[:-1]
        if value.count(":") < 2 or not value.strip(":"):
            continue
        try:
            ipaddress.IPv6Address(value)
        except ValueError:
            continue
        yield m.start(), m.start() + len(value), 1.0


@dataclass(frozen=True)
class Builtin:
    """A built-in kind: placeholder label and scanner (list order is the overlap rank)."""

    kind: str
    label: str
    scan: Scan


def builtins(strict: bool, phone_regions: tuple[str, ...], max_phone_parses: int) -> list[Builtin]:
    """The built-in detectors, most specific first."""
    phones = PhoneScanner(phone_regions, strict, max_phone_parses)
    return [
        Builtin("private_key", "PRIVATE_KEY", scan_pem),
        Builtin("jwt", "JWT", scan_jwt),
        Builtin("api_key", "API_KEY", _regex(API_KEY_RE, API_KEY_PREFIXES)),
        Builtin("cn_id", "CN_ID", scan_cn_id(strict)),
        Builtin("iban", "IBAN", scan_iban(strict)),
        Builtin("cn_mobile", "PHONE", _regex(CN_MOBILE_RE, run=4)),
        Builtin("bank_card", "BANK_CARD", scan_card),
        Builtin("ssn", "SSN", scan_ssn),
        Builtin("phone", "PHONE", phones.scan),
        Builtin("passport", "PASSPORT", scan_passport),
        Builtin("email", "EMAIL", _regex(EMAIL_RE, ("@",))),
        Builtin("ipv6", "IP", scan_ipv6),
        Builtin("ipv4", "IP", scan_ipv4),
        Builtin("secret", "SECRET", scan_secret_assignment),
    ]


BUILTIN_KINDS: frozenset[str] = frozenset(b.kind for b in builtins(True, ("US",), 1))
