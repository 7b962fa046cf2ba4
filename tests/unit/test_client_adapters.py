"""Central client adapters, media sniffing, upstream error mapping and SSE parsing (no I/O)."""

import base64
import io
import json
import wave
from collections.abc import AsyncIterator

import pytest

from central_client.adapter_openai import AzureOpenAIAdapter, OpenAIAdapter, OpenAIModels
from central_client.adapters import Capabilities, CentralCall, json_wire, missing
from central_client.media import audio_type, image_type
from central_client.sse import stream_events
from central_client.transport import BodyTooLarge, LineTooLong, read_limited, split_lines
from central_client.upstream_errors import parse_duration, retry_after_of, status_error
from common.errors import BadRequest, BadUpstream, NotSupported, TooManyRequests

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 32
MODELS = OpenAIModels("chat-m", "embed-m", "whisper-m", "image-m")
KEY = "sk-test-secret-key-0123456789"


def wav_bytes() -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(b"\x00\x00" * 1600)
    return out.getvalue()


def call(task: str, item: dict, **params: object) -> CentralCall:
    return CentralCall(task, (item,), tuple(sorted(params.items())), "r1")


def body(wire_body: bytes) -> dict:
    return json.loads(wire_body)


def test_media_types_come_from_the_bytes() -> None:
    assert image_type(PNG) == "image/png"
    assert image_type(JPEG) == "image/jpeg"
    assert image_type(b"RIFF\x00\x00\x00\x00WEBPVP8 ") == "image/webp"
    assert image_type(b"hello") is None
    assert audio_type(wav_bytes()) == "audio/wav"
    assert audio_type(b"not audio at all") is None


def test_jpeg_is_labelled_jpeg_not_png() -> None:
    item = {"text": "what is it?", "image": base64.b64encode(JPEG).decode()}
    sent = body(OpenAIAdapter(MODELS, KEY).request(call("generate", item)).body)
    parts = sent["messages"][-1]["content"]
    assert parts[0] == {"type": "text", "text": "what is it?"}
    assert parts[1]["image_url"]["url"].startswith("data:image/jpeg;base64,")


def test_an_image_type_no_provider_takes_is_501_and_garbage_is_400() -> None:
    bmp = base64.b64encode(b"BM" + b"\x00" * 40).decode()
    with pytest.raises(NotSupported, match="image/bmp"):
        OpenAIAdapter(MODELS, KEY).request(call("generate", {"text": "x", "image": bmp}))
    junk = base64.b64encode(b"not an image").decode()
    with pytest.raises(BadRequest):
        OpenAIAdapter(MODELS, KEY).request(call("generate", {"text": "x", "image": junk}))


def test_chat_passes_tools_and_response_format_through() -> None:
    tools = [{"type": "function", "function": {"name": "f", "parameters": {}}}]
    wire = OpenAIAdapter(MODELS, KEY).request(
        call(
            "generate",
            {"text": "hi"},
            tools=tools,
            tool_choice="auto",
            response_format={"type": "json_object"},
        )
    )
    sent = body(wire.body)
    assert sent["tools"] == tools and sent["tool_choice"] == "auto"
    assert sent["response_format"] == {"type": "json_object"}
    assert "stream" not in sent


def test_stream_request_is_top_level_stream_with_usage() -> None:
    sent = body(OpenAIAdapter(MODELS, KEY).stream_request(call("generate", {"text": "hi"})).body)
    assert sent["stream"] is True and sent["stream_options"] == {"include_usage": True}
    assert "parameters" not in sent


def test_openai_and_azure_credentials() -> None:
    assert OpenAIAdapter(MODELS, KEY).auth_headers() == {"Authorization": f"Bearer {KEY}"}
    azure = AzureOpenAIAdapter(MODELS, KEY, "2024-10-21", {"x-team": "a"})
    assert azure.auth_headers() == {"x-team": "a", "api-key": KEY}
    wire = azure.request(call("generate", {"text": "hi"}))
    assert wire.path == "/openai/deployments/chat-m/chat/completions?api-version=2024-10-21"
    assert "model" not in body(wire.body)


def test_embeddings_rows_are_put_back_in_input_order() -> None:
    adapter = OpenAIAdapter(MODELS, KEY)
    two = CentralCall("embed", ({"text": "a"}, {"text": "b"}), (), "r")
    assert adapter.carries_batch(two)
    assert body(adapter.request(two).body) == {"model": "embed-m", "input": ["a", "b"]}
    answer = adapter.parse(
        json.dumps(
            {"data": [{"index": 1, "embedding": [2.0]}, {"index": 0, "embedding": [1.0]}]}
        ).encode(),
        two,
    )
    assert answer.outputs == [{"embedding": [1.0]}, {"embedding": [2.0]}]
    with pytest.raises(BadUpstream):
        adapter.parse(json.dumps({"data": [{"index": 0, "embedding": [1.0]}]}).encode(), two)


def test_transcription_is_multipart_with_the_sniffed_type() -> None:
    audio = base64.b64encode(wav_bytes()).decode()
    wire = OpenAIAdapter(MODELS, KEY).request(
        call("transcribe", {"audio": audio, "task": "transcribe"})
    )
    assert wire.path == "/v1/audio/transcriptions"
    assert wire.content_type.startswith("multipart/form-data; boundary=")
    assert b'filename="audio.wav"' in wire.body and b"Content-Type: audio/wav" in wire.body
    assert b"whisper-m" in wire.body
    noise = base64.b64encode(b"definitely not audio").decode()
    with pytest.raises(BadRequest):
        OpenAIAdapter(MODELS, KEY).request(call("transcribe", {"audio": noise}))


def test_image_generation_url_or_b64() -> None:
    adapter = OpenAIAdapter(MODELS, KEY)
    item = {"text": "a cat", "modality": "image"}
    sent = body(adapter.request(call("generate", item, response_format="base64")).body)
    assert sent == {"model": "image-m", "prompt": "a cat", "n": 1, "response_format": "b64_json"}
    b64 = base64.b64encode(PNG).decode()
    answer = adapter.parse(
        json.dumps({"data": [{"b64_json": b64}]}).encode(), call("generate", item)
    )
    assert answer.outputs == [{"image_base64": b64}]
    answer = adapter.parse(
        json.dumps({"data": [{"url": "https://x/1.png"}]}).encode(), call("generate", item)
    )
    assert answer.outputs == [{"image_url": "https://x/1.png"}]


def test_media_no_provider_takes_is_named() -> None:
    text_only = Capabilities(tasks=frozenset({"generate", "embed"}))
    audio_generate = call("generate", {"text": "Transcribe this", "audio": "AAAA"})
    assert missing(audio_generate, text_only) == ["audio with task generate"]
    image = call("generate", {"text": "x", "image": "AAAA"})
    assert missing(image, text_only) == ["images with task generate"]
    assert missing(call("transcribe", {"audio": "AAAA"}), text_only) == [
        "task transcribe",
        "audio with task transcribe",
    ]


def test_rate_limit_headers() -> None:
    assert retry_after_of({"retry-after-ms": "250"}) == 0.25
    assert retry_after_of({"retry-after": "3"}) == 3.0
    assert retry_after_of({"x-ratelimit-reset-requests": "1m30s"}) == 90.0
    assert retry_after_of({"x-ratelimit-reset-tokens": "20ms"}) == 0.02
    assert retry_after_of({}) is None
    assert parse_duration("1h2m3.5s") == 3723.5
    error = status_error("p", 429, b"{}", {"x-ratelimit-reset-requests": "2s"})
    assert isinstance(error, TooManyRequests) and error.retry_after_s == 2.0


def test_auth_errors_never_echo_the_key() -> None:
    echoed = json.dumps({"error": {"message": f"Incorrect API key provided: {KEY}"}}).encode()
    error = status_error("litellm", 401, echoed, {}, (KEY,))
    assert error.status == 502 and error.code == "central_auth"
    assert KEY not in error.message and "sk-" not in error.message
    other = status_error("p", 500, echoed, {}, ())  # even an unknown key-shaped string
    assert KEY not in other.message


async def lines_of(*chunks: bytes) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk


async def events(*chunks: bytes) -> list[dict]:
    adapter = OpenAIAdapter(MODELS, KEY)
    parsed = split_lines(lines_of(*chunks), 512 * 1024)
    return [e async for e in stream_events(parsed, adapter.event, "p")]


async def test_openai_stream_carries_text_finish_and_usage_split_anywhere() -> None:
    def chunk(delta: dict, finish: str | None = None) -> str:
        return json.dumps({"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})

    stream = (
        f"data: {chunk({'role': 'assistant', 'content': ''})}\n\n"
        f"data: {chunk({'content': 'Hel'})}\n\n"
        f"data: {chunk({'content': 'lo'})}\n\n"
        f"data: {chunk({}, 'length')}\n\n"
        ": keep-alive\n\n"
        'data: {"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 2}}\n\n'
        "data: [DONE]\n\n"
    ).encode()
    pieces = [stream[i : i + 7] for i in range(0, len(stream), 7)]  # split mid-line
    got = await events(*pieces)
    assert "".join(e["text"] for e in got) == "Hello"
    assert got[-1]["finish_reason"] == "length"
    assert got[-1]["usage"] == {"prompt_tokens": 3, "completion_tokens": 2}


@pytest.mark.parametrize(
    "stream",
    [
        b"data: {not json\n\n",
        b'data: {"foo": 1}\n\n',
        b"<html><body>Bad Gateway</body></html>\n",
        b'data: {"choices": [{"delta": {"content": "par"}}]}\n\n',  # ends without finishing
        b"data: \xff\xfe\n\n",
        b'data: {"error": {"message": "boom", "status": 500}}\n\n',
    ],
)
async def test_stream_garbage_is_a_typed_error_never_silence(stream: bytes) -> None:
    with pytest.raises(Exception) as err:
        await events(stream)
    assert getattr(err.value, "status", 0) in (502, 503)


async def test_lines_and_bodies_are_bounded() -> None:
    with pytest.raises(LineTooLong):
        [x async for x in split_lines(lines_of(b"a" * 100, b"b" * 100), 150)]
    assert [x async for x in split_lines(lines_of(b"ab\r\nc", b"d\n"), 10)] == [b"ab", b"cd"]
    assert await read_limited(lines_of(b"x" * 10, b"y" * 10), 20) == b"x" * 10 + b"y" * 10
    with pytest.raises(BodyTooLarge):
        await read_limited(lines_of(b"x" * 10, b"y" * 11), 20)


def test_json_wire_encodes_what_json_carries_and_refuses_the_rest() -> None:
    body = {"messages": [{"content": "héllo 😀"}], "n": [1, 2.5], "seed": 10**30}
    assert json.loads(json_wire("/v1/x", body).body) == body  # big ints too
    with pytest.raises(BadRequest) as unicode_error:
        json_wire("/v1/x", {"messages": [{"content": "a \ud800 b"}]})
    assert unicode_error.value.code == "invalid_unicode"
    for number in (float("nan"), float("inf")):
        with pytest.raises(BadRequest) as number_error:
            json_wire("/v1/x", {"tools": [{"max": number}]})
        assert number_error.value.code == "invalid_number"
