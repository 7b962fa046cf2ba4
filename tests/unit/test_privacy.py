"""Tests for PII detection and reversible redaction (router.privacy)."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from router.privacy import (
    BUILTIN_KINDS,
    CustomPattern,
    PiiMatch,
    RedactionMap,
    Redactor,
    cn_id_valid,
    luhn_valid,
)

PROPS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
CJK = "中文电话号码邮箱地址身份证银行卡你好世界"
LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
PUNCT = " .,;:!?()-+'\"/"
PROVINCES = [11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46]
PROVINCES += [50, 51, 52, 53, 54, 61, 62, 63, 64, 65, 71, 81, 82, 83, 91]
ID_WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]

pads = st.text(alphabet=LETTERS + CJK + PUNCT.replace(":", ""), max_size=15)
safe_pads = st.text(alphabet=LETTERS + CJK + " .,;!?()", max_size=15)
boundaries = st.text(alphabet=CJK + " ,;!?()", min_size=1, max_size=3)
digit_strings = st.text(alphabet="0123456789", max_size=6)


def id_check(body: str) -> str:
    """The ISO 7064 MOD 11-2 check character for 17 digits."""
    return "10X98765432"[sum(int(c) * w for c, w in zip(body, ID_WEIGHTS, strict=True)) % 11]


def luhn_fix(body: str) -> str:
    """Append the digit that makes body Luhn-valid."""
    for d in "0123456789":
        if luhn_valid(body + d):
            return body + d
    raise AssertionError("no Luhn digit")


@st.composite
def cn_mobiles(draw: st.DrawFn) -> str:
    """Valid Chinese mobile numbers in the accepted spellings."""
    digits = (
        "1" + draw(st.sampled_from("3456789")) + draw(st.text("0123456789", min_size=9, max_size=9))
    )
    sep = draw(st.sampled_from(["", " ", "-"]))
    body = f"{digits[:3]}{sep}{digits[3:7]}{sep}{digits[7:]}"
    return draw(st.sampled_from(["", "+86", "+86 ", "86", "0086", "+86-"])) + body


mobile_digits = st.from_regex(r"(86|0086)?1[3-9][0-9]{9}", fullmatch=True)


@st.composite
def intl_numbers(draw: st.DrawFn) -> str:
    """E.164 numbers (7-15 digits) grouped with spaces, dashes and parentheses."""
    cc = draw(st.sampled_from("123456789")) + draw(st.text("0123456789", max_size=2))
    rest = draw(st.text("0123456789", min_size=max(1, 7 - len(cc)), max_size=15 - len(cc)))
    cuts = sorted(draw(st.sets(st.integers(1, len(rest) - 1), max_size=4))) if len(rest) > 1 else []
    groups = [rest[a:b] for a, b in zip([0, *cuts], [*cuts, len(rest)], strict=True)]
    if draw(st.booleans()) and len(groups[0]) <= 4:
        groups[0] = f"({groups[0]})"
    out = "+" + cc
    for group in groups:
        out += draw(st.sampled_from([" ", "-"])) + group
    return out


emails = st.from_regex(
    r"[a-z0-9]{1,10}(\.[a-z0-9]{1,5})?@[a-z0-9]{1,10}(\.[a-z0-9]{1,8})?\.[a-z]{2,6}", fullmatch=True
)


@st.composite
def cn_ids(draw: st.DrawFn) -> str:
    """Valid resident IDs: region, birth date, sequence and computed check character."""
    region = f"{draw(st.sampled_from(PROVINCES))}{draw(st.integers(0, 9999)):04d}"
    born = draw(st.dates(date(1900, 1, 1), date(2099, 12, 31))).strftime("%Y%m%d")
    body = region + born + f"{draw(st.integers(0, 999)):03d}"
    check = id_check(body)
    return body + (check.lower() if draw(st.booleans()) else check)


@st.composite
def card_digits(draw: st.DrawFn) -> str:
    """13-19 digits with a real-looking BIN start and a fixed-up Luhn check digit."""
    n = draw(st.integers(13, 19))
    body = draw(st.sampled_from("3456")) + draw(
        st.text("0123456789", min_size=n - 2, max_size=n - 2)
    )
    return luhn_fix(body)


@st.composite
def cards(draw: st.DrawFn) -> str:
    """Luhn-valid card numbers, plain or grouped by fours."""
    digits = draw(card_digits())
    sep = draw(st.sampled_from(["", " ", "-"]))
    return sep.join(digits[i : i + 4] for i in range(0, len(digits), 4))


ipv4s = st.ip_addresses(v=4).map(str)


@st.composite
def ipv6s(draw: st.DrawFn) -> str:
    """IPv6 addresses in compressed, exploded, upper-case and IPv4-mapped spellings."""
    addr = draw(st.ip_addresses(v=6))
    assume(int(addr) != 0)
    style = draw(st.sampled_from(["short", "long", "upper", "mapped"]))
    if style == "mapped":
        return "::ffff:" + str(draw(st.ip_addresses(v=4)))
    text = addr.exploded if style == "long" else str(addr)
    return text.upper() if style == "upper" else text


def check_round_trip(redactor: Redactor, text: str, value: str) -> str:
    """Redact, assert the value is gone and restore gives the text back; return redacted."""
    mapping = RedactionMap()
    redacted = redactor.redact(text, mapping)
    assert value not in redacted
    assert redactor.restore(redacted, mapping) == text
    return redacted


@PROPS
@given(pads, cn_mobiles(), pads)
def test_cn_mobile_round_trip(before: str, value: str, after: str) -> None:
    text = before + value + after
    assert Redactor().kinds(text) & {"cn_mobile", "phone"}
    assert "[PHONE_1]" in check_round_trip(Redactor(), text, value)


@PROPS
@given(pads, intl_numbers(), pads)
def test_intl_phone_round_trip(before: str, value: str, after: str) -> None:
    text = before + value + after
    assert Redactor().kinds(text) & {"cn_mobile", "phone"}
    check_round_trip(Redactor(), text, value)


@PROPS
@given(pads, emails, pads)
def test_email_round_trip(before: str, value: str, after: str) -> None:
    text = before + value + after
    assert "email" in Redactor().kinds(text)
    assert "[EMAIL_1]" in check_round_trip(Redactor(), text, value)


@PROPS
@given(pads, cn_ids(), pads)
def test_cn_id_round_trip(before: str, value: str, after: str) -> None:
    text = before + value + after
    assert Redactor().kinds(text) == {"cn_id"}
    assert "[CN_ID_1]" in check_round_trip(Redactor(), text, value)


@PROPS
@given(pads, cards(), pads)
def test_card_round_trip(before: str, value: str, after: str) -> None:
    text = before + value + after
    assert Redactor().kinds(text) & {"bank_card", "cn_id", "phone"}
    check_round_trip(Redactor(), text, value)


@PROPS
@given(pads, ipv4s, pads)
def test_ipv4_round_trip(before: str, value: str, after: str) -> None:
    assume(not before.endswith(("v", "V")))  # v1.2.3.4 is a version, not an address
    text = before + value + after
    assert Redactor().kinds(text) == {"ipv4"}
    assert "[IP_1]" in check_round_trip(Redactor(), text, value)


@PROPS
@given(pads, boundaries, ipv6s(), boundaries, pads)
def test_ipv6_round_trip(before: str, left: str, value: str, right: str, after: str) -> None:
    text = before + left + value + right + after
    assert Redactor().kinds(text) == {"ipv6"}
    assert "[IP_1]" in check_round_trip(Redactor(), text, value)


@PROPS
@given(safe_pads, cn_ids(), st.sampled_from("0123456789X"), safe_pads)
def test_invalid_id_checksum_lowers_confidence(
    before: str, value: str, wrong: str, after: str
) -> None:
    """Strict mode (the default) keeps a bad-checksum ID at lower confidence; lenient drops it."""
    assume(wrong != value[-1].upper())
    bad = value[:17] + wrong
    assume(not luhn_valid(bad if wrong != "X" else bad[:17]))
    text = before + bad + after
    (match,) = Redactor().find(text)
    assert (match.kind, text[match.start : match.end], match.confidence < 1) == ("cn_id", bad, True)
    assert bad not in Redactor().redact(text, RedactionMap())
    assert Redactor(strict=False).find(text) == []


@PROPS
@given(safe_pads, card_digits(), st.integers(1, 9), safe_pads)
def test_invalid_luhn_not_redacted(before: str, digits: str, delta: int, after: str) -> None:
    bad = digits[:-1] + str((int(digits[-1]) + delta) % 10)
    assume(not cn_id_valid(bad))
    assert not luhn_valid(bad)
    text = before + bad + after
    assert Redactor().find(text) == []


@PROPS
@given(
    st.one_of(mobile_digits, cn_ids().filter(str.isdigit), card_digits()),
    digit_strings,
    digit_strings,
)
def test_no_match_inside_longer_digit_run(value: str, head: str, tail: str) -> None:
    assume(head or tail)
    run = head + value + tail
    text = f"ab {run} cd"
    start, end = 3, 3 + len(run)
    for m in Redactor().find(text):
        assert (m.start, m.end) == (start, end) or m.end <= start or m.start >= end


@PROPS
@given(st.one_of(cn_mobiles(), emails, cn_ids(), cards(), ipv4s, ipv6s()))
def test_same_value_same_placeholder(value: str) -> None:
    mapping = RedactionMap()
    redacted = Redactor().redact(f"{value} 和 {value}", mapping)
    assert len(mapping) == 1
    (placeholder,) = mapping.placeholders()
    assert redacted == f"{placeholder} 和 {placeholder}"
    assert mapping.original(placeholder) == value


@PROPS
@given(st.lists(st.one_of(cn_mobiles(), emails, ipv4s), min_size=2, max_size=4, unique=True))
def test_distinct_values_distinct_placeholders(values: list[str]) -> None:
    mapping = RedactionMap()
    text = " | ".join(values)
    redacted = Redactor().redact(text, mapping)
    assert len(mapping) == len(values)
    assert Redactor().restore(redacted, mapping) == text


def test_literal_placeholder_in_user_text_round_trips() -> None:
    redactor = Redactor()
    mapping = RedactionMap()
    text = "template [PHONE_1] stays, mine is 13800138000"
    redacted = redactor.redact(text, mapping)
    assert redacted == "template [PHONE_1] stays, mine is [PHONE_2]"
    assert redactor.restore(redacted, mapping) == text
    reply = "I see [PHONE_2]; [PHONE_1] is just a template"
    assert redactor.restore(reply, mapping) == "I see 13800138000; [PHONE_1] is just a template"


def test_literal_matching_an_issued_placeholder_is_escaped() -> None:
    redactor = Redactor()
    mapping = RedactionMap()
    first = redactor.redact("call 13800138000", mapping)
    second = redactor.redact("what is [PHONE_1]?", mapping)
    assert first == "call [PHONE_1]"
    assert "[PHONE_1]" not in second
    assert redactor.restore(second, mapping) == "what is [PHONE_1]?"
    assert redactor.restore(first, mapping) == "call 13800138000"


def test_restore_tolerates_echo_variants_and_unknown_placeholders() -> None:
    redactor = Redactor()
    mapping = RedactionMap()
    redactor.redact("mail a.b@example.com", mapping)
    reply = "Sent to [EMAIL_1], cc [ email_1 ] and [EMAIL_9]."
    assert redactor.restore(reply, mapping) == (
        "Sent to a.b@example.com, cc a.b@example.com and [EMAIL_9]."
    )


def test_json_redaction_round_trip_and_skip_keys() -> None:
    redactor = Redactor()
    mapping = RedactionMap()
    doc = {
        "inputs": [{"text": "ping 10.0.0.1 or 13800138000", "image": "+14155552671AAAA"}],
        "parameters": {"max_tokens": 5, "labels": ["a@b.co", None, True]},
    }
    redacted = redactor.redact_json(doc, mapping, skip_keys=frozenset({"image"}))
    assert redacted == {
        "inputs": [{"text": "ping [IP_1] or [PHONE_1]", "image": "+14155552671AAAA"}],
        "parameters": {"max_tokens": 5, "labels": ["[EMAIL_1]", None, True]},
    }
    assert redactor.restore_json(redacted, mapping) == doc


def test_json_reserves_literals_across_strings_first() -> None:
    redactor = Redactor()
    mapping = RedactionMap()
    doc = ["13800138000", "keep [PHONE_1] literally"]
    redacted = redactor.redact_json(doc, mapping)
    assert redacted == ["[PHONE_2]", "keep [PHONE_1] literally"]
    assert redactor.restore_json(redacted, mapping) == doc


@pytest.mark.parametrize(
    ("text", "kind", "value"),
    [
        ("tel +86 138-0013-8000.", "cn_mobile", "+86 138-0013-8000"),
        ("tel 138 0013 8000!", "cn_mobile", "138 0013 8000"),
        ("call +1 (415) 555-2671 now", "phone", "+1 (415) 555-2671"),
        ("uk +44 20 7946 0958", "phone", "+44 20 7946 0958"),
        ("身份证11010519491231002X号", "cn_id", "11010519491231002X"),
        ("卡号6222 0202 0000 0000 006，谢谢", "bank_card", "6222 0202 0000 0000 006"),
        ("card 4111-1111-1111-1111", "bank_card", "4111-1111-1111-1111"),
        ("host 192.168.1.254.", "ipv4", "192.168.1.254"),
        ("lo ::1 here", "ipv6", "::1"),
        ("link fe80::1 here", "ipv6", "fe80::1"),
        ("v6 2001:db8::8a2e:370:7334, ok", "ipv6", "2001:db8::8a2e:370:7334"),
        ("mapped ::ffff:10.0.0.1 ok", "ipv6", "::ffff:10.0.0.1"),
        ("qq 13800138000@qq.com", "email", "13800138000@qq.com"),
        ("全角１３８００１３８０００号", "cn_mobile", "１３８００１３８０００"),
        ("全角４１１１１１１１１１１１１１１１号", "bank_card", "４１１１１１１１１１１１１１１１"),
        (
            "电话＋８６\u3000１３８\u3000００１３\u3000８０００。",
            "cn_mobile",
            "＋８６\u3000１３８\u3000００１３\u3000８０００",
        ),
        ("邮箱ｊｏｈｎ＠ｅｘａｍｐｌｅ．ｃｏｍ。", "email", "ｊｏｈｎ＠ｅｘａｍｐｌｅ．ｃｏｍ"),
    ],
)
def test_known_examples(text: str, kind: str, value: str) -> None:
    (match,) = Redactor().find(text)
    assert (match.kind, text[match.start : match.end]) == (kind, value)


@pytest.mark.parametrize(
    "text",
    [
        "order 12345678901234567890123 shipped",
        "ref 013800138000 and 138001380001",
        "ip 256.1.1.1 and 1.2.3.4.5 and 01.2.3.4",
        "time 12:30:45 mac 00:1a:2b:3c:4d:5e std::vector",
        "born 11010519490230002X",  # Feb 30th: not a date
        "short +123456 and +0123456789",
        "v1.2.3.4 and build 10.0.19045.3693",
        "card 4111 1111 1111 1112",
        "全角４１１１１１１１１１１１１１１２号",
    ],
)
def test_non_pii_not_matched(text: str) -> None:
    assert Redactor().find(text) == []


def test_id_with_valid_checksum_but_impossible_date_rejected() -> None:
    body = "11010519490230002"
    assert not cn_id_valid(body + id_check(body))
    body = "11010519480229002"  # 1948 is a leap year
    assert cn_id_valid(body + id_check(body))


def test_overlap_prefers_id_over_card() -> None:
    value = next(
        body + id_check(body)
        for seq in range(1000)
        if luhn_valid((body := f"11010519491231{seq:03d}") + id_check(body))
    )
    assert Redactor().find(f"x {value} y") == [PiiMatch("cn_id", 2, 20)]


def test_custom_patterns_and_enabled_kinds() -> None:
    redactor = Redactor(
        custom=[CustomPattern("employee id", r"EMP-\d{6}")],
        enabled_kinds=frozenset({"email", "employee id"}),
    )
    mapping = RedactionMap()
    text = "EMP-123456 mailed a@b.io from 10.0.0.1"
    assert redactor.redact(text, mapping) == "[EMPLOYEE_ID_1] mailed [EMAIL_1] from 10.0.0.1"
    assert redactor.kinds(text) == {"employee id", "email"}
    assert not redactor.contains_pii("only 13800138000")
    assert Redactor().contains_pii("only 13800138000")


def test_bad_configuration_is_rejected() -> None:
    with pytest.raises(ValueError, match="valid choices"):
        Redactor(enabled_kinds=frozenset({"nope"}))
    with pytest.raises(ValueError, match=r"'bad'.*invalid regex"):
        Redactor(custom=[CustomPattern("bad", "(")])
    with pytest.raises(ValueError, match="reserved"):
        Redactor(custom=[CustomPattern("email", "x")])
    assert {"cn_mobile", "phone", "email", "cn_id", "bank_card", "ipv4", "ipv6"} < BUILTIN_KINDS
    assert {"iban", "ssn", "passport", "api_key", "jwt", "private_key", "secret"} < BUILTIN_KINDS


def test_mapping_repr_hides_values() -> None:
    mapping = RedactionMap()
    Redactor().redact("a@b.io 13800138000", mapping)
    assert "13800138000" not in repr(mapping)
    assert "a@b.io" not in repr(mapping)
    assert len(mapping) == 2


@pytest.mark.parametrize("text", ["a 1:2:3:4:5:6:7:8:9 b", "a 1::2::3 b", "a 12345::1 b", "a :: b"])
def test_ipv6_candidates_validated_by_ipaddress(text: str) -> None:
    assert Redactor().find(text) == []


def test_ipv6_trailing_colon_forgiven() -> None:
    assert Redactor().find("addr fe80::1: down") == [PiiMatch("ipv6", 5, 12)]
