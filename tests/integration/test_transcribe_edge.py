"""`transcribe` through the real edge: Silero VAD trims the audio, the central's Whisper hears."""

import asyncio
import base64
import gzip
import re
from typing import Any

import aiohttp
import numpy as np
import openai
import pytest

from benchmarks.speech_eval import words
from common.tokens import TokenMinter
from edge_models.audio import decode_wav
from router.app import create_app
from router.keys import EDGE
from tests.integration.test_transcribe_central import flac
from tests.servers import TEST_KEY_ID, TEST_SECRET, edge_settings, serve
from tests.speech_fixtures import (
    ESPEAK_RATE,
    change_rate,
    render_speech,
    require_espeak,
    wav_bytes,
)

GEN = "/v3/models/auto/generate"
SENTENCE = "Please send the report to my office before noon."


def padded_speech(rate: int, lead_s: float, tail_s: float, channels: int = 1) -> bytes:
    """`SENTENCE` between stretches of digital silence, as a 16-bit WAV."""
    speech = change_rate(render_speech(SENTENCE), ESPEAK_RATE, rate)
    audio = np.concatenate(
        [np.zeros(round(lead_s * rate), np.float32), speech, np.zeros(round(tail_s * rate))]
    )
    return wav_bytes(np.repeat(audio[:, None], channels, axis=1), rate)


async def transcribe(
    http: aiohttp.ClientSession, edge_url: str, audio: bytes
) -> tuple[int, dict[str, Any], Any]:
    body = {"inputs": {"audio": base64.b64encode(audio).decode(), "task": "transcribe"}}
    async with http.post(edge_url + GEN, json=body) as response:
        return response.status, await response.json(), response.headers


async def saved_bytes(http: aiohttp.ClientSession, edge_url: str) -> float:
    async with http.get(edge_url + "/metrics") as response:
        text = await response.text()
    found = re.search(r'^edge_transcribe_audio_bytes_total\{kind="saved"\} (\S+)$', text, re.M)
    return float(found.group(1)) if found else 0.0


async def test_only_speech_leaves_the_edge_and_the_central_transcribes_it(
    http: aiohttp.ClientSession, edge_url: str
) -> None:
    require_espeak()
    audio = padded_speech(44_100, lead_s=3.0, tail_s=2.0, channels=2)
    before = await saved_bytes(http, edge_url)
    status, body, headers = await transcribe(http, edge_url, audio)
    assert status == 200, body
    assert headers["X-Route"] == "central"
    output = body["outputs"][0]
    assert {"report", "office", "noon"} <= set(words(output["text"])), output
    duration = decode_wav(audio, 60).duration_s
    # the central heard only the speech (plus pads), not the 5 s of silence around it
    assert output["duration_s"] == pytest.approx(duration, abs=0.01)
    assert 1.5 < output["speech_s"] < duration - 4
    assert output["audio_bytes_sent"] + output["audio_bytes_saved"] == len(audio)
    assert output["audio_bytes_sent"] < len(audio) / 5
    assert await saved_bytes(http, edge_url) - before == output["audio_bytes_saved"]


async def test_silence_is_answered_on_the_edge_and_nothing_is_sent(
    http: aiohttp.ClientSession, edge_url: str
) -> None:
    audio = wav_bytes(np.zeros(16_000 * 3, np.float32), 16_000)
    status, body, headers = await transcribe(http, edge_url, audio)
    assert status == 200, body
    assert (headers["X-Route"], headers["X-Route-Reason"]) == ("edge", "vad:no-speech")
    output = body["outputs"][0]
    assert output["text"] == "" and output["audio_bytes_sent"] == 0
    assert output["audio_bytes_saved"] == len(audio)
    assert output["duration_s"] == pytest.approx(3.0)


@pytest.mark.parametrize(
    "payload", [b"hello, I am text and not audio", b"RIFF\x10\x00\x00\x00WAVE"]
)
async def test_non_audio_bytes_are_a_400_at_the_edge(
    http: aiohttp.ClientSession, edge_url: str, payload: bytes
) -> None:
    status, body, _ = await transcribe(http, edge_url, payload)
    assert status == 400, body
    assert body["error"]["code"] == "invalid_audio"
    data = aiohttp.FormData()
    data.add_field("file", payload, filename="x.wav", content_type="audio/wav")
    data.add_field("model", "whisper-1")
    async with http.post(edge_url + "/v1/audio/transcriptions", data=data) as response:
        assert response.status == 400
        assert (await response.json())["error"]["code"] == "invalid_audio"


async def test_a_content_encoded_form_is_a_json_415(
    http: aiohttp.ClientSession, edge_url: str
) -> None:
    boundary = "b0undary"
    form = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="x.wav"\r\n'
        f"Content-Type: audio/wav\r\n\r\nRIFF\r\n--{boundary}--\r\n"
    ).encode()
    headers = {
        "Content-Type": f"multipart/form-data; boundary={boundary}",
        "Content-Encoding": "gzip",
    }
    async with http.post(
        edge_url + "/v1/audio/transcriptions", data=gzip.compress(form), headers=headers
    ) as response:
        assert response.status == 415
        assert (await response.json())["error"]["code"] == "unsupported_content_encoding"


async def test_openai_sdk_transcribes_through_the_edge(edge_url: str) -> None:
    require_espeak()
    audio = padded_speech(16_000, lead_s=1.5, tail_s=1.0)
    client = openai.AsyncOpenAI(base_url=edge_url + "/v1", api_key="unused", max_retries=0)
    try:
        result = await client.audio.transcriptions.create(
            model="whisper-1", file=("speech.wav", audio, "audio/wav")
        )
        text = await client.audio.transcriptions.create(
            model="whisper-1", file=("speech.wav", audio, "audio/wav"), response_format="text"
        )
        with pytest.raises(openai.NotFoundError):
            await client.audio.transcriptions.create(
                model="silero-vad", file=("speech.wav", audio, "audio/wav")
            )
    finally:
        await client.close()
    assert {"report", "office"} <= set(words(result.text))
    assert isinstance(text, str) and "noon" in words(text)


async def test_openai_protocol_central_transcribes_via_multipart(
    http: aiohttp.ClientSession, central_url: str
) -> None:
    """The edge's `openai` adapter posts the trimmed WAV as multipart to the central's
    OpenAI-compatible endpoint (the JWT stands in for a provider API key)."""
    require_espeak()
    key = TokenMinter(TEST_KEY_ID, TEST_SECRET, "hybrid-router-central").token()
    settings = edge_settings(central_url, central={"protocol": "openai", "api_key": key})
    app = create_app(settings)
    async with serve(app) as url:
        await asyncio.wait_for(app[EDGE].wait_ready(), 120)
        audio = padded_speech(16_000, lead_s=2.0, tail_s=1.0)
        status, body, headers = await transcribe(http, url, audio)
    assert status == 200, body
    assert headers["X-Route"] == "central"
    output = body["outputs"][0]
    assert {"report", "office", "noon"} <= set(words(output["text"])), output
    assert 0 < output["audio_bytes_sent"] < len(audio) - 16_000 * 2 * 2


async def test_compressed_audio_goes_untrimmed(http: aiohttp.ClientSession, edge_url: str) -> None:
    """The edge's VAD reads WAV only: a FLAC leaves as it came, and says it saved nothing."""
    require_espeak()
    audio = flac(padded_speech(16_000, lead_s=1.0, tail_s=0.5))
    status, body, headers = await transcribe(http, edge_url, audio)
    assert status == 200, body
    assert headers["X-Route"] == "central"
    output = body["outputs"][0]
    assert "report" in words(output["text"])
    assert (output["audio_bytes_sent"], output["audio_bytes_saved"]) == (len(audio), 0)
    assert "speech_s" not in output
