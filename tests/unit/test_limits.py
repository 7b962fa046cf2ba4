"""Input limits: the JSON body parser (depth, numbers, Unicode), the per-request input limits
(each error names its setting), and handler args that fit aiohttp."""

import inspect
import json

import pytest
from aiohttp import web_protocol
from hypothesis import given, settings
from hypothesis import strategies as st

from common.errors import ApiError, BadRequest
from common.jsonbody import parse_json_body
from router.limits import (
    InputLimits,
    RequestTimeout,
    ServerLimits,
    check_input_sizes,
    check_json_depth,
    json_nesting_depth,
    parsed_json_depth,
    server_handler_args,
)

TRICKY_TEXT = st.text(alphabet=st.sampled_from('ab[]{}"\\\n,:é'), max_size=12)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | TRICKY_TEXT,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(TRICKY_TEXT, children, max_size=4)
    ),
    max_leaves=40,
)


@settings(max_examples=300, deadline=None)
@given(value=JSON_VALUES, chunk=st.integers(1, 64), ascii_only=st.booleans())
def test_raw_depth_matches_the_parsed_depth(value: object, chunk: int, ascii_only: bool) -> None:
    raw = json.dumps(value, ensure_ascii=ascii_only).encode()
    assert json_nesting_depth(raw, chunk_bytes=chunk) == parsed_json_depth(value)
    assert parsed_json_depth(json.loads(raw)) == parsed_json_depth(value)


@pytest.mark.parametrize(
    ("raw", "depth"),
    [
        (b"", 0),
        (b"1", 0),
        (b"[]", 1),
        (b'{"a": [1, {"b": []}]}', 4),
        (b'["]]]]", "[[[["]', 1),
        (b'["\\"[[[["]', 1),  # escaped quote keeps the brackets inside the string
        (b'["\\\\"[[[', 4),  # escaped backslash: the quote closes the string
        (b'"[[[[', 0),  # unterminated string: a parser stops before any bracket
        (b"[" * 100_000, 100_000),
        (b"[" * 50 + b"]" * 50 + b"[[]]", 50),
    ],
)
def test_raw_depth_cases(raw: bytes, depth: int) -> None:
    assert json_nesting_depth(raw) == depth
    assert json_nesting_depth(raw, chunk_bytes=3) == depth


def test_check_json_depth_at_the_limit() -> None:
    check_json_depth(b"[" * 8 + b"]" * 8, 8)
    check_json_depth(b'["' + b"[" * 100 + b'"]', 8)
    with pytest.raises(BadRequest) as caught:
        check_json_depth(b"[" * 9 + b"]" * 9, 8)
    assert caught.value.code == "json_too_deep"
    with pytest.raises(BadRequest):
        check_json_depth(b"[" * 5_000_000, 32)  # stops scanning early, still refuses


def test_parsed_depth_survives_data_deeper_than_the_recursion_limit() -> None:
    deep: list[object] = []
    for _ in range(100_000):
        deep = [deep]
    assert parsed_json_depth(deep) == 100_001
    assert parsed_json_depth({"a": 1}) == 1
    assert parsed_json_depth("x") == 0


def test_handler_args_are_aiohttp_request_handler_options() -> None:
    accepted = inspect.signature(web_protocol.RequestHandler.__init__).parameters
    args = server_handler_args(ServerLimits(header_timeout_s=7, max_headers=10))
    assert set(args) <= set(accepted)
    assert args["keepalive_timeout"] == 7
    assert args["max_headers"] == 10


def test_request_timeout_closes_the_connection() -> None:
    error = RequestTimeout("slow", "body_timeout")
    assert error.status == 408
    assert error.headers() == {"Connection": "close"}


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be"])
def test_utf16_and_utf32_bodies_are_scanned_as_text(encoding: str) -> None:
    # U+2200 and U+5B5B hold the bytes 0x22 ('"') and 0x5B ('[') in UTF-16: naive byte
    # scanning would see a fake quote and hide the nesting that follows it.
    text = '["\u2200\u5b5b", ' + "[" * 40 + "]" * 40 + "]"
    raw = text.encode(encoding)
    assert json.loads(raw) is not None
    with pytest.raises(BadRequest) as caught:
        check_json_depth(raw, 32)
    assert caught.value.code == "json_too_deep"
    check_json_depth(("[" * 30 + "]" * 30).encode(encoding), 32)


LIMITS = InputLimits(max_inputs=3, max_text_chars=10, max_labels=4, max_label_chars=5)


@pytest.mark.parametrize(
    ("chars", "labels", "media", "status", "code", "setting"),
    [
        ([], (), (), 400, "empty_inputs", "inputs"),
        ([1, 1, 1, 1], (), (), 400, "too_many_inputs", "max_inputs"),
        ([1, 11], (), (), 400, "text_too_long", "max_text_chars"),
        ([1], ("a", "b", "c", "d", "e"), (), 400, "too_many_labels", "max_labels"),
        ([1], ("a", "bbbbbb"), (), 400, "label_too_long", "max_label_chars"),
        ([1], (), (LIMITS.max_media_bytes + 1,), 413, "media_too_large", "max_media_bytes"),
    ],
)
def test_each_input_limit_is_named(
    chars: list[int],
    labels: tuple[str, ...],
    media: tuple[int, ...],
    status: int,
    code: str,
    setting: str,
) -> None:
    with pytest.raises(ApiError) as caught:
        check_input_sizes(LIMITS, chars, labels, media)
    assert (caught.value.status, caught.value.code) == (status, code)
    assert setting in caught.value.message


def test_inputs_at_every_limit_pass() -> None:
    check_input_sizes(LIMITS, [10, 10, 10], ("a", "bbbbb", "c", "d"), (LIMITS.max_media_bytes,))


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (b'{"a": "\\ud800"}', "invalid_unicode"),
        (b'{"a": "\\udc00\\ud800"}', "invalid_unicode"),
        (b'{"a": "\xff"}', "invalid_unicode"),
        (b'{"a": ' + b"9" * 5000 + b"}", "number_too_large"),
        (b'{"a": 1e400}', "number_too_large"),
        (b'{"a": ', "malformed_json"),
        (b"[" * 40 + b"]" * 40, "json_too_deep"),
    ],
)
def test_parse_failures_are_named_400s(raw: bytes, code: str) -> None:
    with pytest.raises(BadRequest) as caught:
        parse_json_body(raw, 32)
    assert caught.value.code == code


def test_parse_accepts_pairs_utf16_and_a_bom() -> None:
    assert parse_json_body(b'{"a": "\\ud83d\\ude00"}', 32) == {"a": "\U0001f600"}
    assert parse_json_body('{"a": "é"}'.encode("utf-16"), 32) == {"a": "é"}
    assert parse_json_body(b'\xef\xbb\xbf{"a": 1}', 32) == {"a": 1}
