"""Valid PII values of every built-in kind, drawn from a seeded random generator."""

from __future__ import annotations

import base64
import ipaddress
import json
import random
import string

import phonenumbers
from phonenumbers import PhoneNumberFormat, PhoneNumberType

PROVINCES = (11, 12, 13, 31, 32, 33, 37, 44, 50, 51, 61, 65)
ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
IBAN_BBAN = {  # country: (length of BBAN, letters prefix length)
    "DE": (18, 0), "FR": (23, 0), "GB": (18, 4), "NL": (14, 4), "ES": (20, 0), "IT": (23, 1),
    "CH": (17, 0), "AT": (16, 0), "BE": (12, 0), "PL": (24, 0), "SE": (20, 0), "NO": (11, 0),
}  # fmt: skip
PHONE_REGIONS = ("US", "GB", "DE", "FR", "CN", "IN", "JP", "ES", "IT", "BR", "CH", "AT", "AU", "MX")


def luhn_complete(body: str) -> str:
    """Append the check digit that makes `body` Luhn-valid."""
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return body + str((10 - total % 10) % 10)


def digits(rng: random.Random, n: int) -> str:
    """n random digits."""
    return "".join(rng.choice(string.digits) for _ in range(n))


def email(rng: random.Random) -> str:
    """first.last+tag@sub.domain.tld in assorted shapes."""
    first = rng.choice(["anna", "li.wei", "jonas", "maria", "chen", "o.brien", "sam", "zhang_san"])
    last = rng.choice(["", ".mueller", "_2024", str(rng.randint(1, 99)), "+news", ".k"])
    domain = rng.choice(["example.com", "mail.example.de", "corp.example.co.uk", "qq.com"])
    value = f"{first}{last}@{domain}"
    return value.upper() if rng.random() < 0.1 else value


def phone(rng: random.Random, region: str | None = None) -> tuple[str, str]:
    """A valid number of a random region: (spelling, 'intl'|'national')."""
    region = region or rng.choice(PHONE_REGIONS)
    kind = rng.choice([PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE])
    example = phonenumbers.example_number_for_type(region, kind)
    assert example is not None
    national = str(example.national_number)
    for _ in range(50):
        keep = max(2, len(national) - 4)
        candidate = national[:keep] + digits(rng, len(national) - keep)
        number = phonenumbers.parse(f"+{example.country_code}{candidate}", None)
        if phonenumbers.is_valid_number(number):
            break
    else:
        number = example
    style = rng.choice(["intl", "intl", "e164", "national"])
    if style == "national":
        return phonenumbers.format_number(number, PhoneNumberFormat.NATIONAL), "national"
    fmt = PhoneNumberFormat.E164 if style == "e164" else PhoneNumberFormat.INTERNATIONAL
    return phonenumbers.format_number(number, fmt), "intl"


def cn_mobile(rng: random.Random) -> str:
    """A Chinese mobile number, plain, spaced 3-4-4 or with +86."""
    value = "1" + rng.choice("3456789") + digits(rng, 9)
    style = rng.randrange(4)
    if style == 1:
        return f"{value[:3]} {value[3:7]} {value[7:]}"
    if style == 2:
        return "+86 " + value
    if style == 3:
        return f"+86-{value[:3]}-{value[3:7]}-{value[7:]}"
    return value


def cn_id(rng: random.Random, good_checksum: bool = True) -> str:
    """An 18-char resident ID with a real region and birth date; the check may be wrong."""
    born = f"{rng.randint(1950, 2010)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
    body = f"{rng.choice(PROVINCES)}{rng.randint(0, 9999):04d}{born}{rng.randint(0, 999):03d}"
    total = sum(int(c) * w for c, w in zip(body, ID_WEIGHTS, strict=True))
    check = "10X98765432"[total % 11]
    if not good_checksum:
        check = rng.choice([c for c in "0123456789X" if c != check])
    return body + check


def iban(rng: random.Random) -> str:
    """A mod-97-valid IBAN spelled compact, grouped by spaces or dashes, or lower-case."""
    country = rng.choice(sorted(IBAN_BBAN))
    length, letters = IBAN_BBAN[country]
    bban = "".join(rng.choice(string.ascii_uppercase) for _ in range(letters))
    bban += digits(rng, length - letters)
    numeric = "".join(str(int(c, 36)) for c in bban + country + "00")
    value = f"{country}{98 - int(numeric) % 97:02d}{bban}"
    style = rng.randrange(4)
    if style == 0:
        return value
    grouped = [value[i : i + 4] for i in range(0, len(value), 4)]
    if style == 1:
        return " ".join(grouped)
    if style == 2:
        return "-".join(grouped)
    return " ".join(grouped).lower()


def card(rng: random.Random) -> str:
    """A Luhn-valid Visa, Mastercard, Amex, UnionPay or JCB number, plain or grouped."""
    network = rng.choice(["visa", "mc", "mc2", "amex", "unionpay", "jcb"])
    prefix, length = {
        "visa": ("4", 16),
        "mc": (str(rng.randint(51, 55)), 16),
        "mc2": (str(rng.randint(2221, 2720)), 16),
        "amex": (rng.choice(["34", "37"]), 15),
        "unionpay": ("62", rng.choice([16, 19])),
        "jcb": ("35", 16),
    }[network]
    value = luhn_complete(prefix + digits(rng, length - len(prefix) - 1))
    sep = rng.choice(["", " ", "-"])
    if not sep:
        return value
    if length == 15:
        return sep.join([value[:4], value[4:10], value[10:]])
    return sep.join(value[i : i + 4] for i in range(0, len(value), 4))


def ssn(rng: random.Random) -> str:
    """A US SSN with a valid area, group and serial, dashed."""
    area = rng.choice([a for a in range(1, 900) if a != 666])
    return f"{area:03d}-{rng.randint(1, 99):02d}-{rng.randint(1, 9999):04d}"


def passport(rng: random.Random) -> str:
    """US/UK (9 digits), German (C01X00T47 style), Chinese (E + 8 digits), French numbers."""
    style = rng.randrange(4)
    if style == 0:
        return digits(rng, 9)
    if style == 1:
        alphabet = "CFGHJKLMNPRTVWXYZ0123456789"
        return rng.choice("CFGHJK") + "".join(rng.choice(alphabet) for _ in range(8))
    if style == 2:
        return rng.choice("EG") + digits(rng, 8)
    return (
        digits(rng, 2)
        + "".join(rng.choice(string.ascii_uppercase) for _ in range(2))
        + (digits(rng, 5))
    )


def ipv4(rng: random.Random) -> str:
    """A dotted quad."""
    return str(ipaddress.IPv4Address(rng.getrandbits(32)))


def ipv6(rng: random.Random) -> str:
    """A compressed or full IPv6 address."""
    addr = ipaddress.IPv6Address((0x2001 << 112) | rng.getrandbits(100))
    return addr.exploded if rng.random() < 0.3 else str(addr)


def api_key(rng: random.Random) -> str:
    """OpenAI, AWS, GitHub, Slack or Google API keys."""
    alnum = string.ascii_letters + string.digits
    pick = rng.randrange(5)
    if pick == 0:
        return "sk-proj-" + "".join(rng.choice(alnum + "_-") for _ in range(48))
    if pick == 1:
        return "AKIA" + "".join(
            rng.choice(string.ascii_uppercase + string.digits) for _ in range(16)
        )
    if pick == 2:
        return "ghp_" + "".join(rng.choice(alnum) for _ in range(36))
    if pick == 3:
        return "xoxb-" + digits(rng, 12) + "-" + "".join(rng.choice(alnum) for _ in range(24))
    return "AIza" + "".join(rng.choice(alnum + "_-") for _ in range(35))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwt(rng: random.Random) -> str:
    """A signed-looking JWT with a real header and payload."""
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    payload = _b64(
        json.dumps({"sub": digits(rng, 8), "iat": rng.randint(10**9, 2 * 10**9)}).encode()
    )
    return f"{header}.{payload}.{_b64(rng.randbytes(32))}"


def private_key(rng: random.Random) -> str:
    """A PEM private key block."""
    kind = rng.choice(["", "RSA ", "EC ", "OPENSSH "])
    body = base64.b64encode(rng.randbytes(rng.randint(120, 400))).decode()
    lines = "\n".join(body[i : i + 64] for i in range(0, len(body), 64))
    return f"-----BEGIN {kind}PRIVATE KEY-----\n{lines}\n-----END {kind}PRIVATE KEY-----"
