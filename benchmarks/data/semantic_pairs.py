"""The semantic-cache stress set: paraphrases that should hit, near-misses that must miss.

Pairs (cached prompt `a`, asked prompt `b`) in English, German and some Chinese, built from
families of templates with fillers. `same=True` pairs are paraphrases (a cached answer is
right); every other category changes the meaning and must never be served: negation,
antonym, swap (entities or direction), entity, number, unit, currency, date, language and
tenant (the same question from another tenant). `stress_pairs()` is deterministic.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from benchmarks.data.semantic_paraphrases import PARAPHRASES, TRANSLATION_PAIRS


@dataclass(frozen=True)
class Pair:
    """One stress pair: `a` is cached, `b` is asked; `same` says whether `a`'s answer fits `b`."""

    a: str
    b: str
    same: bool
    category: str
    lang: str
    other_tenant: bool = False


CITIES = [("Paris", "London"), ("Berlin", "Munich"), ("Tokyo", "Osaka"), ("Rome", "Madrid")]
CITIES += [("New York", "Boston"), ("Vienna", "Prague"), ("Zurich", "Geneva"), ("Lisbon", "Porto")]
COUNTRIES = ["France", "Germany", "Japan", "Italy", "Spain", "Canada", "Brazil", "Kenya"]
CURRENCY_PAIRS = [("USD", "EUR"), ("EUR", "GBP"), ("JPY", "USD"), ("CHF", "EUR"), ("GBP", "USD")]
DRUGS = ["ibuprofen", "paracetamol", "aspirin", "antibiotics", "melatonin", "caffeine"]
ACTIVITIES = ["alcohol", "coffee", "grapefruit juice", "milk"]

NEGATION_EN = [
    ("Is it safe to take {d} with {x}?", "Is it unsafe to take {d} with {x}?"),
    ("Is it safe to take {d} with {x}?", "Is it not safe to take {d} with {x}?"),
    ("Should I take {d} with {x}?", "Should I not take {d} with {x}?"),
    ("Can I take {d} with {x}?", "Why can't I take {d} with {x}?"),
    ("Does {d} interact with {x}?", "Does {d} not interact with {x}?"),
]
NEGATION_DE = [
    ("Ist es sicher, {d} mit {x} zu nehmen?", "Ist es unsicher, {d} mit {x} zu nehmen?"),
    ("Ist es sicher, {d} mit {x} zu nehmen?", "Ist es nicht sicher, {d} mit {x} zu nehmen?"),
    ("Darf ich {d} mit {x} nehmen?", "Darf ich {d} nicht mit {x} nehmen?"),
]
ANTONYM_EN = [
    ("How do I enable {f}?", "How do I disable {f}?"),
    ("How do I install {f}?", "How do I uninstall {f}?"),
    ("How do I increase the {p}?", "How do I decrease the {p}?"),
    ("How do I lock my {o}?", "How do I unlock my {o}?"),
    ("How do I upload files to {s}?", "How do I download files from {s}?"),
    ("Should I buy {t} stock now?", "Should I sell {t} stock now?"),
    ("What should I eat before a run?", "What should I eat after a run?"),
    ("How do I encrypt a file with {s}?", "How do I decrypt a file with {s}?"),
]
ANTONYM_DE = [
    ("Wie aktiviere ich {f}?", "Wie deaktiviere ich {f}?"),
    ("Wie kann ich {f} aktivieren?", "Wie kann ich {f} deaktivieren?"),
    ("Soll ich {t} Aktien kaufen?", "Soll ich {t} Aktien verkaufen?"),
    ("Wie installiere ich {f}?", "Wie deinstalliere ich {f}?"),
    ("Was soll ich vor dem Laufen essen?", "Was soll ich nach dem Laufen essen?"),
]
FEATURES = ["two-factor authentication", "dark mode", "auto-update", "the firewall", "Bluetooth"]
PARAMS = ["font size", "volume", "timeout", "screen brightness"]
OBJECTS = ["phone", "account", "laptop", "SIM card"]
SERVICES = ["Dropbox", "Google Drive", "OneDrive", "S3"]
TICKERS = ["Apple", "Tesla", "Nvidia", "Siemens"]


def _swap_pairs() -> list[Pair]:
    """Direction and order: A→B against B→A, in three languages."""
    out = []
    for x, y in CITIES:
        out.append(Pair(f"Show me flights from {x} to {y}", f"Show me flights from {y} to {x}",
                        False, "swap", "en"))  # fmt: skip
        out.append(Pair(f"Flüge von {x} nach {y} am Freitag", f"Flüge von {y} nach {x} am Freitag",
                        False, "swap", "de"))  # fmt: skip
        out.append(
            Pair(f"Is {x} bigger than {y}?", f"Is {y} bigger than {x}?", False, "swap", "en")
        )
        out.append(Pair(f"How long is the train from {x} to {y}?",
                        f"How long is the train from {y} to {x}?", False, "swap", "en"))  # fmt: skip  # noqa: E501
    for x, y in CURRENCY_PAIRS:
        out.append(
            Pair(f"Convert 100 {x} to {y}", f"Convert 100 {y} to {x}", False, "currency", "en")
        )
        out.append(
            Pair(f"Rechne 50 {x} in {y} um", f"Rechne 50 {y} in {x} um", False, "currency", "de")
        )
        out.append(Pair(f"What is the {x} to {y} exchange rate?",
                        f"What is the {y} to {x} exchange rate?", False, "currency", "en"))  # fmt: skip  # noqa: E501
    zh = [("北京", "上海"), ("巴黎", "伦敦"), ("东京", "大阪"), ("广州", "深圳")]
    for x, y in zh:
        out.append(Pair(f"从{x}到{y}的航班", f"从{y}到{x}的航班", False, "swap", "zh"))
    out.append(Pair("Translate this from English to German", "Translate this from German to English",  # noqa: E501
                    False, "swap", "en"))  # fmt: skip
    out.append(
        Pair("Does the dog chase the cat?", "Does the cat chase the dog?", False, "swap", "en")
    )
    return out


def _entity_pairs(rng: random.Random) -> list[Pair]:
    """The same question about another country, city or product."""
    out = []
    for country in COUNTRIES:
        other = rng.choice([c for c in COUNTRIES if c != country])
        out.append(Pair(f"What is the capital of {country}?", f"What is the capital of {other}?",
                        False, "entity", "en"))  # fmt: skip
        out.append(Pair(f"Was ist die Hauptstadt von {country}?",
                        f"Was ist die Hauptstadt von {other}?", False, "entity", "de"))  # fmt: skip
    for x, y in CITIES:
        out.append(Pair(f"What's the weather like in {x}?", f"What's the weather like in {y}?",
                        False, "entity", "en"))  # fmt: skip
    for x, y in zip(SERVICES, SERVICES[1:] + SERVICES[:1], strict=True):
        out.append(Pair(f"How do I share a folder on {x}?", f"How do I share a folder on {y}?",
                        False, "entity", "en"))  # fmt: skip
    return out


def _number_pairs(rng: random.Random) -> list[Pair]:
    """Changed numbers, units and dates."""
    out = []
    for _ in range(12):
        a, b = rng.randint(11, 99), rng.randint(11, 99)
        out.append(Pair(f"What is {a}×{b}?", f"What is {a}×{b + 1}?", False, "number", "en"))
        out.append(
            Pair(f"Was ist {a} mal {b}?", f"Was ist {a} mal {b + 2}?", False, "number", "de")
        )
    for n in (5, 10, 42, 100):
        out.append(
            Pair(f"Convert {n} km to miles", f"Convert {n + 1} km to miles", False, "number", "en")
        )
        out.append(
            Pair(f"Convert {n} km to miles", f"Convert {n} miles to km", False, "unit", "en")
        )
        out.append(Pair(f"Convert {n} km to miles", f"Convert {n} km to feet", False, "unit", "en"))
        out.append(Pair(f"Wie viel sind {n} kg in Pfund?", f"Wie viel sind {n} Pfund in kg?",
                        False, "unit", "de"))  # fmt: skip
        out.append(Pair(f"Convert {n} degrees Celsius to Fahrenheit",
                        f"Convert {n} degrees Fahrenheit to Celsius", False, "unit", "en"))  # fmt: skip  # noqa: E501
        out.append(Pair(f"How many grams are in {n} pounds?", f"How many grams are in {n} ounces?",
                        False, "unit", "en"))  # fmt: skip
    for x, _ in CITIES[:6]:
        out.append(Pair(f"What's the weather in {x} today?", f"What's the weather in {x} tomorrow?",
                        False, "date", "en"))  # fmt: skip
        out.append(Pair(f"Wie wird das Wetter in {x} heute?", f"Wie wird das Wetter in {x} morgen?",
                        False, "date", "de"))  # fmt: skip
    for y in (1969, 1990, 2008, 2020):
        out.append(Pair(f"What happened in the news in {y}?", f"What happened in the news in {y + 1}?",  # noqa: E501
                        False, "date", "en"))  # fmt: skip
        out.append(Pair(f"Is the store open on Monday {y}?", f"Is the store open on Tuesday {y}?",
                        False, "date", "en"))  # fmt: skip
    return out


def _template_pairs(rng: random.Random) -> list[Pair]:
    """Negations and antonyms from the template families."""
    out = []
    for d in DRUGS:
        x = rng.choice(ACTIVITIES)
        for a, b in NEGATION_EN:
            out.append(Pair(a.format(d=d, x=x), b.format(d=d, x=x), False, "negation", "en"))
        for a, b in NEGATION_DE:
            out.append(Pair(a.format(d=d, x=x), b.format(d=d, x=x), False, "negation", "de"))
    fill = {"f": FEATURES, "p": PARAMS, "o": OBJECTS, "s": SERVICES, "t": TICKERS}
    for i in range(3):
        values = {k: v[i % len(v)] for k, v in fill.items()}
        for a, b in ANTONYM_EN:
            out.append(Pair(a.format(**values), b.format(**values), False, "antonym", "en"))
        for a, b in ANTONYM_DE:
            out.append(Pair(a.format(**values), b.format(**values), False, "antonym", "de"))
    return out


def _cross_pairs(paraphrases: list[Pair]) -> list[Pair]:
    """Language (EN asked in DE) and tenant (same prompt, another tenant) must-misses."""
    out = [Pair(a, b, False, "language", "xx") for a, b in TRANSLATION_PAIRS]
    out += [Pair(b, a, False, "language", "xx") for a, b in TRANSLATION_PAIRS]
    out += [Pair(p.a, p.a, False, "tenant", p.lang, other_tenant=True) for p in paraphrases[:30]]
    return out


def stress_pairs(seed: int = 2) -> list[Pair]:
    """Every pair of the stress set, paraphrases first."""
    rng = random.Random(seed)
    paraphrases = [Pair(a, b, True, "paraphrase", lang) for lang, a, b in PARAPHRASES]
    misses = _template_pairs(rng) + _swap_pairs() + _entity_pairs(rng) + _number_pairs(rng)
    return paraphrases + misses + _cross_pairs(paraphrases)
