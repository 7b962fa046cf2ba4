"""The PII corpus (texts with known values, EN/DE/ZH and mixed) and the clean corpus.

`pii_corpus()` and `clean_corpus()` are deterministic (seeded). Each PII sample lists the
values it holds and their kind; a detector passes a value when redaction removes it and
restore puts the text back. Clean samples hold numbers that are not PII (orders, prices,
dates, versions, coordinates, ...): any detection there is a false positive.
`python -m benchmarks.data.pii_corpus OUT_DIR` writes both as JSONL.
"""

from __future__ import annotations

import json
import random
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from benchmarks.data import pii_values as v
from benchmarks.data.clean_corpus import clean_corpus

__all__ = ["PiiSample", "clean_corpus", "pii_corpus"]

Draw = Callable[[random.Random], str]

TEMPLATES: dict[str, dict[str, list[str]]] = {
    "email": {
        "en": ["Please reply to {v} by Friday.", "My email is {v}, thanks!", "cc {v} on it"],
        "de": ["Bitte antworten Sie an {v}.", "Meine E-Mail-Adresse lautet {v}."],
        "zh": ["请把报告发到{v}，谢谢。", "我的邮箱是 {v}"],
    },
    "phone": {
        "en": ["Call me at {v} after 5pm.", "My phone number is {v}.", "Tel: {v}"],
        "de": ["Rufen Sie mich unter {v} an.", "Telefon: {v}", "Meine Handynummer ist {v}."],
        "zh": ["请拨打我的电话{v}。", "联系电话：{v}"],
    },
    "cn_mobile": {
        "en": ["My Chinese mobile is {v}.", "WeChat / phone {v}"],
        "de": ["Meine chinesische Nummer: {v}"],
        "zh": ["我的手机号是{v}，请尽快联系。", "手机：{v}", "收货人电话{v}"],
    },
    "cn_id": {
        "en": ["ID card number {v} for the hotel booking."],
        "de": ["Chinesischer Ausweis: {v}"],
        "zh": ["身份证号码：{v}", "我的身份证是{v}，请核对。"],
    },
    "iban": {
        "en": ["Please wire the money to {v} today.", "IBAN: {v}"],
        "de": ["Bitte überweisen Sie auf {v}.", "Meine IBAN ist {v}, danke."],
        "zh": ["请汇款到账户 {v}。"],
    },
    "bank_card": {
        "en": ["Charge my card {v} please.", "card number: {v}"],
        "de": ["Meine Kreditkarte: {v}"],
        "zh": ["银行卡号{v}，请退款。", "信用卡 {v}"],
    },
    "ssn": {
        "en": ["My SSN is {v}.", "social security number {v} on the form", "SSN: {v}"],
        "de": ["Die US-Sozialversicherungsnummer (SSN) lautet {v}."],
        "zh": ["美国社会安全号码 SSN：{v}"],
    },
    "passport": {
        "en": ["My passport number is {v}.", "Passport No. {v}, expires 2031."],
        "de": ["Meine Reisepassnummer: {v}", "Reisepass Nr. {v}"],
        "zh": ["护照号码：{v}", "我的护照号是{v}。"],
    },
    "ipv4": {
        "en": ["The server at {v} is down.", "ssh root@{v} -p 22"],
        "de": ["Der Server {v} antwortet nicht."],
        "zh": ["服务器地址是{v}，无法连接。"],
    },
    "ipv6": {
        "en": ["Ping {v} from the bastion.", "host ip6 = {v}"],
        "de": ["Die Adresse {v} ist gesperrt."],
        "zh": ["IPv6地址：{v}"],
    },
    "api_key": {
        "en": ["Here is my key {v} - keep it safe.", "export OPENAI_API_KEY={v}"],
        "de": ["Mein Schlüssel: {v}"],
        "zh": ["这是我的密钥 {v} 请勿外传"],
    },
    "jwt": {
        "en": ["Authorization: Bearer {v}", "the token {v} expired"],
        "de": ["Das Token {v} ist abgelaufen."],
        "zh": ["令牌 {v} 已过期"],
    },
    "private_key": {
        "en": ["Why does this key fail?\n{v}\nthanks"],
        "de": ["Dieser Schlüssel funktioniert nicht:\n{v}"],
        "zh": ["这个私钥为什么不能用？\n{v}"],
    },
}
TEMPLATES["cn_id_bad_checksum"] = TEMPLATES["cn_id"]

DRAWS: dict[str, Draw] = {
    "email": v.email,
    "phone": lambda rng: v.phone(rng)[0],
    "cn_mobile": v.cn_mobile,
    "cn_id": v.cn_id,
    "cn_id_bad_checksum": lambda rng: v.cn_id(rng, good_checksum=False),
    "iban": v.iban,
    "bank_card": v.card,
    "ssn": v.ssn,
    "passport": v.passport,
    "ipv4": v.ipv4,
    "ipv6": v.ipv6,
    "api_key": v.api_key,
    "jwt": v.jwt,
    "private_key": v.private_key,
}
# Kinds whose values carry a checksum or a strict format the detector validates.
VALIDATED_KINDS = ("iban", "bank_card", "cn_id", "cn_mobile", "email", "ipv4", "ipv6", "ssn")
VALIDATED_KINDS += ("phone", "api_key", "jwt", "private_key")


@dataclass
class PiiSample:
    """A text, its language, and the (kind, value) pairs it holds."""

    text: str
    lang: str
    values: list[tuple[str, str]] = field(default_factory=list)


def _one(rng: random.Random, kind: str, lang: str) -> tuple[str, str]:
    """A sentence in `lang` holding one value of `kind`; (sentence, value)."""
    value = DRAWS[kind](rng)
    template = rng.choice(TEMPLATES[kind][lang])
    return template.format(v=value), value


def pii_corpus(seed: int = 14, per_kind: int = 40, mixed: int = 120) -> list[PiiSample]:
    """Single-value samples per kind and language, then mixed-language multi-value ones."""
    rng = random.Random(seed)
    samples: list[PiiSample] = []
    for kind in DRAWS:
        langs = sorted(TEMPLATES[kind])
        for i in range(per_kind):
            lang = langs[i % len(langs)]
            text, value = _one(rng, kind, lang)
            samples.append(PiiSample(text, lang, [(kind, value)]))
    kinds = sorted(DRAWS)
    for _ in range(mixed):
        parts, values = [], []
        for kind in rng.sample(kinds, rng.randint(2, 3)):
            lang = rng.choice(sorted(TEMPLATES[kind]))
            text, value = _one(rng, kind, lang)
            parts.append(text)
            values.append((kind, value))
        samples.append(PiiSample(" ".join(parts), "mixed", values))
    return samples


def main(argv: list[str]) -> None:
    """Write pii.jsonl and clean.jsonl into the folder given (default: benchmarks/data/out)."""
    out = Path(argv[0] if argv else "benchmarks/data/out")
    out.mkdir(parents=True, exist_ok=True)
    with (out / "pii.jsonl").open("w") as f:
        for s in pii_corpus():
            f.write(json.dumps(asdict(s), ensure_ascii=False) + "\n")
    with (out / "clean.jsonl").open("w") as f:
        for text in clean_corpus():
            f.write(json.dumps({"text": text}, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
