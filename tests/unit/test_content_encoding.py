"""Request body decoding: codings undone in order, bounded output, clear errors."""

import gzip
import zlib

import pytest

from common.content_encoding import decode_body, encodings
from common.errors import BadRequest, PayloadTooLarge, UnsupportedMedia

DATA = b'{"inputs": {"text": "hello"}}' * 10


def test_codings_are_listed_in_the_order_applied_without_identity() -> None:
    assert encodings("gzip, identity,  DEFLATE") == ["gzip", "deflate"]
    assert encodings("identity") == []


@pytest.mark.parametrize(
    ("header", "body"),
    [
        ("gzip", gzip.compress(DATA)),
        ("x-gzip", gzip.compress(DATA)),
        ("deflate", zlib.compress(DATA)),
        ("deflate", zlib.compress(DATA, wbits=-zlib.MAX_WBITS)),
        ("deflate, gzip", gzip.compress(zlib.compress(DATA))),
        ("identity", DATA),
    ],
)
def test_each_supported_coding_is_undone(header: str, body: bytes) -> None:
    assert decode_body(body, header, len(DATA)) == DATA


def test_output_one_byte_over_the_limit_is_413_and_at_the_limit_passes() -> None:
    body = gzip.compress(DATA)
    assert decode_body(body, "gzip", len(DATA)) == DATA
    with pytest.raises(PayloadTooLarge):
        decode_body(body, "gzip", len(DATA) - 1)


def test_a_truncated_stream_is_a_400() -> None:
    with pytest.raises(BadRequest, match="not valid gzip"):
        decode_body(gzip.compress(DATA)[:-12], "gzip", 10_000)


def test_an_unknown_coding_is_a_415() -> None:
    with pytest.raises(UnsupportedMedia, match="'br'"):
        decode_body(b"...", "br", 10_000)
