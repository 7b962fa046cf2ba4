"""Texts full of numbers that are not PII: orders, prices, dates, versions, coordinates, ...

Written as a user would write them, in EN/DE/ZH, with random fillers from a seeded generator.
Anything a detector finds here is a false positive.
"""

from __future__ import annotations

import random
import string

ALNUM = string.ascii_uppercase + string.digits


def _hex(rng: random.Random, n: int) -> str:
    """n random lower-case hex digits."""
    return "".join(rng.choice("0123456789abcdef") for _ in range(n))


FILLERS = {
    "order": lambda r: f"{r.randint(100000, 99999999)}",
    "order_dash": lambda r: f"ORD-{r.randint(2019, 2026)}-{r.randint(1, 999999):06d}",
    "invoice": lambda r: f"INV-{r.randint(2019, 2026)}-{r.randint(1, 99999):05d}",
    "price": lambda r: f"{r.randint(1, 9999):,}.{r.randint(0, 99):02d}",
    "price_de": lambda r: f"{r.randint(1, 9999):,}".replace(",", ".") + f",{r.randint(0, 99):02d}",
    "date_iso": lambda r: f"{r.randint(1990, 2030)}-{r.randint(1, 12):02d}-{r.randint(1, 28):02d}",
    "date_de": lambda r: f"{r.randint(1, 28):02d}.{r.randint(1, 12):02d}.{r.randint(1990, 2030)}",
    "date_us": lambda r: f"{r.randint(1, 12)}/{r.randint(1, 28)}/{r.randint(1990, 2030)}",
    "time": lambda r: f"{r.randint(0, 23):02d}:{r.randint(0, 59):02d}",
    "version": lambda r: f"{r.randint(0, 20)}.{r.randint(0, 40)}.{r.randint(0, 99)}",
    "build": lambda r: f"{r.randint(10, 11)}.0.{r.randint(10000, 26000)}.{r.randint(1, 9999)}",
    "lat": lambda r: f"{r.uniform(-89, 89):.4f}",
    "lon": lambda r: f"{r.uniform(-179, 179):.4f}",
    "qty": lambda r: f"{r.randint(1, 500)}",
    "pct": lambda r: f"{r.uniform(0, 100):.1f}",
    "year": lambda r: f"{r.randint(1900, 2030)}",
    "isbn": lambda r: f"978-{r.randint(0, 9)}-{r.randint(100, 999)}-{r.randint(1, 9)}-1",
    "tracking": lambda r: "1Z" + "".join(r.choice(ALNUM) for _ in range(16)),
    "zip": lambda r: f"{r.randint(10000, 99999)}",
    "room": lambda r: f"{r.randint(1, 12)}{r.randint(0, 40):02d}",
    "sha": lambda r: _hex(r, 40),
    "uuid": lambda r: "-".join(_hex(r, n) for n in (8, 4, 4, 4, 12)),
    "big": lambda r: f"{r.randint(1_000_000, 9_999_999_999):,}",
    "mb": lambda r: f"{r.randint(1, 4096)}",
    "temp": lambda r: f"{r.randint(-30, 45)}",
    "math_a": lambda r: f"{r.randint(2, 999)}",
    "math_b": lambda r: f"{r.randint(2, 999)}",
    "score": lambda r: f"{r.randint(0, 9)}:{r.randint(0, 9)}",
    "ticket": lambda r: f"{r.randint(1000, 999999)}",
    "hex": lambda r: "#" + _hex(r, 6),
    "port": lambda r: f"{r.randint(1024, 65535)}",
    "cn_order": lambda r: f"{r.randint(2019, 2026)}{r.randrange(10**12):012d}",
    "sku": lambda r: f"{r.randint(1000, 9999)}-{r.choice(['S', 'M', 'XL'])}-{r.randint(1, 99):02d}",
    "model": lambda r: r.choice(["RTX 4090", "iPhone 15 Pro", "GPT-4o", "Llama 3.1 8B"]),
    "flight": lambda r: f"{r.choice(['LH', 'BA', 'CA', 'UA'])}{r.randint(100, 9999)}",
}  # fmt: skip

TEMPLATES = [
    "Where is my order #{order}? It was placed on {date_iso}.",
    "Order {order_dash} shipped on {date_iso} at {time}, tracking {tracking}.",
    "Invoice {invoice} totals ${price} including {pct}% tax.",
    "The meeting moved to {date_us} at {time}, room {room}.",
    "Upgrade from version {version} to {version} fixed the crash.",
    "Windows build {build} breaks the driver.",
    "The coordinates are {lat}, {lon}.",
    "We sold {qty} units at {price} each in {year}.",
    "ISBN {isbn}, published {year}, {qty} pages.",
    "What is {math_a} × {math_b}?",
    "Compute {math_a} + {math_b} - {qty}.",
    "The file is {mb} MB and the checksum is {sha}.",
    "Request id {uuid} failed with status 503 after {qty} ms.",
    "Temperature today: {temp}°C, humidity {pct}%.",
    "The final score was {score} after {qty} minutes.",
    "Ticket #{ticket} was closed on {date_iso}.",
    "Use color {hex} for the header and port {port} for the dev server.",
    "Population grew to {big} by {year}.",
    "SKU {sku} is out of stock until {date_us}.",
    "Is the {model} worth ${price}?",
    "Flight {flight} departs at {time} on {date_iso}.",
    "Ship to ZIP {zip}, apartment {room}.",
    "Commit {sha} bumped the version to {version}.",
    "Bestellung Nr. {order} vom {date_de} ist noch nicht angekommen.",
    "Die Rechnung {invoice} über {price_de} € ist fällig am {date_de}.",
    "Wir treffen uns am {date_de} um {time} Uhr in Raum {room}.",
    "Version {version} behebt den Fehler aus {version}.",
    "Die Koordinaten lauten {lat}, {lon}.",
    "Lieferung an PLZ {zip}, {qty} Pakete, Gewicht {mb} kg.",
    "Was ist {math_a} mal {math_b}?",
    "Der Preis stieg um {pct} % auf {price_de} €.",
    "Artikel {sku} kostet {price_de} €.",
    "我的订单号是{cn_order}，什么时候发货？",
    "订单{order}于{date_iso}下单，金额¥{price}。",
    "会议改到{date_iso} {time}，在{room}会议室。",
    "软件版本{version}修复了这个问题。",
    "坐标是北纬{lat}，东经{lon}。",
    "{math_a}乘以{math_b}等于多少？",
    "今年销量{big}件，同比增长{pct}%。",
    "航班{flight}在{time}起飞。",
    "Order {order_dash} / Bestellung {order} / 订单 {cn_order}: {qty} items, ${price}.",
    "Build {build} ({date_de}) und Version {version} – 版本 {version}.",
]


def clean_corpus(seed: int = 16, size: int = 600) -> list[str]:
    """`size` texts from the templates with fresh random fillers each."""
    rng = random.Random(seed)
    out = []
    for i in range(size):
        template = TEMPLATES[i % len(TEMPLATES)]
        fields = {name: fill(rng) for name, fill in FILLERS.items()}
        out.append(template.format(**fields))
    return out
