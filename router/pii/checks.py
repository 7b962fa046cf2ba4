"""Checksums and shape rules for PII values: Luhn, Chinese ID, IBAN mod-97, SSN, JWT."""

from __future__ import annotations

import base64
import binascii
import json
import re
from datetime import date

_CN_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CN_ID_CHECK = "10X98765432"
CN_PROVINCES = frozenset(
    {11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46}
    | {50, 51, 52, 53, 54, 61, 62, 63, 64, 65, 71, 81, 82, 83, 91}
)

# IBAN length per country (SWIFT IBAN registry).
IBAN_LENGTHS: dict[str, int] = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22,
    "BH": 22, "BI": 27, "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24,
    "DE": 22, "DJ": 27, "DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24, "FI": 18,
    "FK": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27,
    "GT": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27,
    "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20,
    "LV": 21, "LY": 25, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MN": 20, "MR": 27,
    "MT": 31, "MU": 30, "NI": 28, "NL": 18, "NO": 15, "OM": 23, "PK": 24, "PL": 28,
    "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "RU": 33, "SA": 24, "SC": 31,
    "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25, "SV": 28,
    "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20, "YE": 30,
}  # fmt: skip


_NON_DIGITS = re.compile(r"[^0-9]+")
_DROP_ASCII_NON_DIGITS = {c: None for c in range(128) if not 48 <= c <= 57}


def digits_of(value: str) -> str:
    """Only the ASCII digits of a value."""
    if value.isascii():
        return value.translate(_DROP_ASCII_NON_DIGITS)
    return _NON_DIGITS.sub("", value)


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


def card_prefix_ok(digits: str) -> bool:
    """Whether digits start like a payment card (Visa, Mastercard, Amex, UnionPay, JCB, ...)."""
    return digits[:1] in "3456" or "2221" <= digits[:4] <= "2720"


def cn_id_shape(value: str) -> bool:
    """Whether an 18-char value has a known region and a real birth date (checksum aside)."""
    if len(value) != 18 or not (value[:17].isascii() and value[:17].isdigit()):
        return False
    if int(value[:2]) not in CN_PROVINCES or not 1800 <= int(value[6:10]) <= 2100:
        return False
    try:
        date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        return False
    return value[17] in "0123456789Xx"


def cn_id_checksum_ok(value: str) -> bool:
    """Whether the ISO 7064 MOD 11-2 check character of an 18-char ID is right."""
    total = sum(int(ch) * w for ch, w in zip(value[:17], _CN_ID_WEIGHTS, strict=True))
    return _CN_ID_CHECK[total % 11] == value[17].upper()


def cn_id_valid(value: str) -> bool:
    """Whether an 18-char Chinese resident ID has a known region, a real date and a valid check."""
    return cn_id_shape(value) and cn_id_checksum_ok(value)


def iban_checksum_ok(compact: str) -> bool:
    """ISO 13616 mod-97 over an upper-case IBAN without separators."""
    rearranged = compact[4:] + compact[:4]
    try:
        number = int("".join(str(int(ch, 36)) for ch in rearranged))
    except ValueError:
        return False
    return number % 97 == 1


def ssn_valid(area: str, group: str, serial: str) -> bool:
    """SSA rules: area not 000/666/9xx, group not 00, serial not 0000."""
    return area not in ("000", "666") and area[0] != "9" and group != "00" and serial != "0000"


def _b64json(part: str) -> object:
    """A base64url JSON segment, or None."""
    try:
        raw = base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
        return json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return None


def jwt_header_ok(token: str) -> bool:
    """Whether a JWT's first segment decodes to a JSON object naming an `alg`."""
    header = _b64json(token.split(".", 1)[0])
    return isinstance(header, dict) and "alg" in header
