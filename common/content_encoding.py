"""Request bodies sent with `Content-Encoding`, decoded by the handler rather than the parser.

aiohttp's parser decodes a compressed body as it arrives; a corrupt one fails inside the
parser, which then drops the connection while the client may still be sending, so the client
sees a reset instead of our 400. With the parser's `auto_decompress` off, the raw body is read
whole by its length, the connection stays usable, and decoding happens here: gzip and deflate
(zlib-wrapped or raw), bounded in output so a small bomb cannot expand past the body limit.
"""

import zlib

from common.errors import BadRequest, PayloadTooLarge, UnsupportedMedia

IDENTITY = frozenset({"", "identity"})
# handler_args of every app whose handlers read bodies with `common.http.read_body`
RAW_BODY_HANDLER_ARGS = {"auto_decompress": False}
_WBITS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}
RAW_DEFLATE_WBITS = -zlib.MAX_WBITS  # "deflate" as some clients send it: no zlib header


def encodings(header: str) -> list[str]:
    """The codings of a `Content-Encoding` header, in the order they were applied."""
    return [c for c in (part.strip().lower() for part in header.split(",")) if c not in IDENTITY]


def decode_body(raw: bytes, header: str, max_bytes: int) -> bytes:
    """`raw` with every coding of `header` undone; 415 unknown, 400 corrupt, 413 too large."""
    body = raw
    for coding in reversed(encodings(header)):
        wbits = _WBITS.get(coding)
        if wbits is None:
            raise UnsupportedMedia(
                f"Content-Encoding {coding!r} is not supported; use gzip, deflate or identity",
                "unsupported_content_encoding",
            )
        body = _inflate(body, coding, wbits, max_bytes)
    return body


def _inflate(data: bytes, coding: str, wbits: int, max_bytes: int) -> bytes:
    """One coding undone, at most `max_bytes` of output."""
    try:
        return _bounded(data, wbits, max_bytes)
    except zlib.error as first:
        if coding == "deflate":
            try:
                return _bounded(data, RAW_DEFLATE_WBITS, max_bytes)
            except zlib.error:
                pass  # neither form: report the zlib-wrapped failure below
        raise BadRequest(
            f"request body is not valid {coding} data ({first})", "invalid_body_encoding"
        ) from None


def _bounded(data: bytes, wbits: int, max_bytes: int) -> bytes:
    """Inflate `data` completely, refusing output over `max_bytes` (413) or a truncated stream."""
    inflater = zlib.decompressobj(wbits)
    out = inflater.decompress(data, max_bytes + 1)
    if len(out) > max_bytes:
        raise PayloadTooLarge(
            f"decoded request body is over {max_bytes} bytes (max_body_bytes)", "body_too_large"
        )
    if not inflater.eof:
        raise zlib.error("incomplete or truncated stream")
    return out
