"""Word lists the semantic-cache guard reads (EN, DE, ZH): negations, antonyms, units, ..."""

from __future__ import annotations


def _words(text: str) -> frozenset[str]:
    """The whitespace-separated words of a string."""
    return frozenset(text.split())


NEGATIONS = frozenset(
    {
        "not", "no", "never", "none", "nothing", "nobody", "neither", "nor", "without",
        "cannot", "cant", "dont", "doesnt", "isnt", "arent", "wont", "shouldnt",
        "nicht", "kein", "keine", "keinen", "keinem", "keiner", "nie", "niemals", "ohne",
        "nichts", "weder",
    }
)  # fmt: skip
NEGATIVE_PREFIXES = ("un", "in", "im", "il", "ir", "dis", "non", "de", "anti", "miss")

_PAIRS = """
enable disable, activate deactivate, increase decrease, raise lower, buy sell, before after,
upload download, import export, encrypt decrypt, install uninstall, start stop, on off,
up down, more less, above below, first last, left right, north south, east west, win lose,
accept reject, allow deny, allow block, lock unlock, push pull, send receive, true false,
legal illegal, possible impossible, with without, add remove, open close, maximum minimum,
max min, hot cold, cheap expensive, fast slow, long short, big small, large small, high low,
early late, old new, best worst, better worse, most least, include exclude, inside outside,
input output, inbound outbound, incoming outgoing, login logout, subscribe unsubscribe,
connect disconnect, mount unmount, zip unzip, compress decompress, freeze unfreeze,
follow unfollow, block unblock, show hide, increase reduce, gain lose, profit loss,
positive negative, plus minus, sunrise sunset, arrival departure, arrive depart,
import export, borrow lend, debit credit, deposit withdraw, hire fire, love hate,
safe dangerous, healthy unhealthy, pros cons, advantages disadvantages, agree disagree,
aktivieren deaktivieren, einschalten ausschalten, erhöhen senken, erhöhen verringern,
kaufen verkaufen, vor nach, hochladen herunterladen, öffnen schließen, anmelden abmelden,
einzahlen abheben, sicher gefährlich, sicher unsicher, schnell langsam, billig teuer,
groß klein, hoch niedrig, früh spät, alt neu, mehr weniger, ankunft abflug, gewinn verlust,
erlauben verbieten, hinzufügen entfernen, installieren deinstallieren, mit ohne,
增加 减少, 买 卖, 之前 之后, 上 下, 开 关, 高 低, 大 小, 多 少, 快 慢, 早 晚, 安全 危险
"""
ANTONYM_PAIRS: tuple[tuple[str, str], ...] = tuple(
    (pair.split()[0], pair.split()[1])
    for pair in _PAIRS.replace("\n", " ").split(",")
    if pair.strip()
)

UNITS: dict[str, str] = {
    **dict.fromkeys(["km", "kilometer", "kilometers", "kilometre", "kilometres"], "km"),
    **dict.fromkeys(["mile", "miles", "meile", "meilen", "mi"], "mile"),
    **dict.fromkeys(["m", "meter", "meters", "metre", "metres", "metern"], "m"),
    **dict.fromkeys(["cm", "centimeter", "centimeters", "zentimeter"], "cm"),
    **dict.fromkeys(["mm", "millimeter", "millimeters"], "mm"),
    **dict.fromkeys(["ft", "foot", "feet", "fuß"], "ft"),
    **dict.fromkeys(["inch", "inches", "zoll"], "inch"),
    **dict.fromkeys(["kg", "kilogram", "kilograms", "kilogramm", "kilo", "kilos"], "kg"),
    **dict.fromkeys(["g", "gram", "grams", "gramm"], "g"),
    **dict.fromkeys(["lb", "lbs", "pound", "pounds", "pfund"], "lb"),
    **dict.fromkeys(["oz", "ounce", "ounces", "unze", "unzen"], "oz"),
    **dict.fromkeys(["l", "liter", "liters", "litre", "litres", "litern"], "l"),
    **dict.fromkeys(["ml", "milliliter", "milliliters"], "ml"),
    **dict.fromkeys(["gallon", "gallons", "gallone", "gallonen"], "gallon"),
    **dict.fromkeys(["celsius", "°c"], "celsius"),
    **dict.fromkeys(["fahrenheit", "°f"], "fahrenheit"),
    **dict.fromkeys(["kelvin"], "kelvin"),
    **dict.fromkeys(["second", "seconds", "sekunde", "sekunden", "秒"], "s"),
    **dict.fromkeys(["minute", "minutes", "minuten", "分钟"], "min"),
    **dict.fromkeys(["hour", "hours", "stunde", "stunden", "小时"], "h"),
    **dict.fromkeys(["week", "weeks", "woche", "wochen", "周"], "week"),
    **dict.fromkeys(["month", "months", "monat", "monate", "monaten"], "month"),
    **dict.fromkeys(["year", "years", "jahr", "jahre", "jahren"], "year"),
    **dict.fromkeys(["gb", "gigabyte", "gigabytes"], "gb"),
    **dict.fromkeys(["mb", "megabyte", "megabytes"], "mb"),
    **dict.fromkeys(["percent", "prozent", "%"], "%"),
    **dict.fromkeys(["公里", "千米"], "km"),
    **dict.fromkeys(["英里"], "mile"),
    **dict.fromkeys(["公斤"], "kg"),
    **dict.fromkeys(["磅"], "lb"),
}  # fmt: skip
CURRENCIES: dict[str, str] = {
    **dict.fromkeys(["usd", "$", "dollar", "dollars", "美元"], "usd"),
    **dict.fromkeys(["eur", "€", "euro", "euros", "欧元"], "eur"),
    **dict.fromkeys(["gbp", "£", "sterling"], "gbp"),
    **dict.fromkeys(["jpy", "yen", "日元"], "jpy"),
    **dict.fromkeys(["cny", "rmb", "yuan", "¥", "人民币"], "cny"),
    **dict.fromkeys(["chf", "franc", "francs", "franken"], "chf"),
    **dict.fromkeys(["inr", "rupee", "rupees", "₹"], "inr"),
    **dict.fromkeys(["btc", "bitcoin"], "btc"),
}  # fmt: skip
DATE_WORDS: dict[str, str] = {
    **{w: w for w in ("today", "tomorrow", "yesterday", "tonight")},
    "heute": "today", "morgen": "tomorrow", "gestern": "yesterday", "heute abend": "tonight",
    "今天": "today", "明天": "tomorrow", "昨天": "yesterday",
    **{d: d for d in ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday")},
    "sunday": "sunday",
    "montag": "monday", "dienstag": "tuesday", "mittwoch": "wednesday", "donnerstag": "thursday",
    "freitag": "friday", "samstag": "saturday", "sonntag": "sunday",
    **{m: m for m in ("january", "february", "march", "april", "june", "july", "august")},
    **{m: m for m in ("september", "october", "november", "december")},
    "januar": "january", "februar": "february", "märz": "march", "juni": "june", "juli": "july",
    "oktober": "october", "dezember": "december", "morning": "morning", "evening": "evening",
    "morgens": "morning", "abends": "evening", "weekend": "weekend", "wochenende": "weekend",
}  # fmt: skip
NUMBER_WORDS: dict[str, str] = {
    w: str(i)
    for i, words in enumerate(
        [
            ("zero", "null"), ("one", "eins"), ("two", "zwei"), ("three", "drei"),
            ("four", "vier"), ("five", "fünf"), ("six", "sechs"), ("seven", "sieben"),
            ("eight", "acht"), ("nine", "neun"), ("ten", "zehn"), ("eleven", "elf"),
            ("twelve", "zwölf"),
        ]
    )
    for w in words
} | {ch: str(i) for i, ch in enumerate("零一二三四五六七八九十")}  # fmt: skip
STOPWORDS = _words(
    """a an the is are was were be been being am do does did done i me my mine you your
    we our us he she it its they them their this that these those what which who whom whose
    when where why how can could should would will shall may might must of in on at by for
    with to from into onto about as and or but if then so than too very just also please
    tell show give get find explain describe there here any some much many way steps step
    whats hows wheres whos wie was wer wo warum wann welche welcher welches ist sind war
    der die das den dem des ein eine einen einem einer und oder aber ich mich mir mein meine
    du dein sie es wir uns ihr man zu zum zur im am an auf aus bei für von mit über
    um kann können könnte soll sollte muss bitte mal gibt es eigentlich"""
)
EN_HINTS = _words(
    "the is are what how do does can i my you a an of to in for with who why when where which"
    " has have"
)
DE_HINTS = _words(
    "der die das ist sind was wie ich mein meine kann ein eine und nicht für mit zu auf"
)
