"""The central service under the same hostile input as the edge: JSON 4xx, never a 500 (F4)."""

import asyncio
import gzip

import aiohttp
import pytest

from tests.integration.test_central_e2e import GEN, token


async def post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict]:
    """POST raw JSON bytes with a valid token; the status and the JSON answer."""
    all_headers = {
        "Content-Type": "application/json",
        "Authorization": f"Bearer {token()}",
        **headers,
    }
    async with (
        aiohttp.ClientSession() as http,
        http.post(url + GEN, data=body, headers=all_headers) as response,
    ):
        assert response.content_type == "application/json"
        return response.status, await response.json()


@pytest.mark.parametrize(
    ("body", "headers", "code"),
    [
        (b'{"inputs": {"text": "a \\ud800 b", "task": "generate"}}', {}, "invalid_unicode"),
        (b'{"inputs": {"text": "a", "task": "generate"}, "parameters": {"max_tokens": 9%s}}'
         % (b"9" * 5000), {}, "number_too_large"),
        (b"not deflate", {"Content-Encoding": "deflate"}, "invalid_body_encoding"),
    ],
    ids=["lone-surrogate", "huge-integer", "bad-deflate"],
)  # fmt: skip
async def test_central_answers_bad_input_with_a_json_400(
    central_url: str, body: bytes, headers: dict[str, str], code: str
) -> None:
    status, answer = await post(central_url, body, headers)
    assert status == 400, answer
    assert answer["error"]["code"] == code


async def test_central_answers_an_oversized_head_in_json(central_url: str) -> None:
    port = int(central_url.rsplit(":", 1)[1])
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n")
        await writer.drain()
        async with asyncio.timeout(10):
            answer = await reader.read()
    finally:
        writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    assert b" 400 " in head.split(b"\r\n", 1)[0]
    assert b"application/json" in head.lower()
    assert b'"bad_http_request"' in body


async def test_central_reads_a_gzipped_body_once(central_url: str) -> None:
    """Bodies are decoded by the handler only (the parser's auto-decompression is off)."""
    body = gzip.compress(b'{"inputs": {"text": "Say hi.", "task": "generate"}, '
                         b'"parameters": {"max_tokens": 2, "temperature": 0}}')  # fmt: skip
    status, answer = await post(central_url, body, {"Content-Encoding": "gzip"})
    assert status == 200, answer
    assert isinstance(answer["outputs"][0]["text"], str)
