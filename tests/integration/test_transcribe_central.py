"""The central's Whisper (faster-whisper, CTranslate2): `/v3` and `/v1/audio/transcriptions`."""

import base64
import io
import wave
from typing import Any

import aiohttp
import jiwer
import numpy as np
import pytest

from benchmarks.speech_eval import (
    SENTENCES,
    espeak_wav,
    recorded_clips,
    word_error_rate,
    words,
)
from common.tokens import TokenMinter
from edge_models.audio import decode_wav
from tests.servers import TEST_KEY_ID, TEST_SECRET
from tests.speech_fixtures import require_espeak

AUD = "hybrid-router-central"
GEN = "/v3/models/multimodal-pro/generate"
OPENAI = "/v1/audio/transcriptions"
MAX_WER = 0.25


def auth() -> dict[str, str]:
    """A valid Bearer token for the central."""
    return {"Authorization": f"Bearer {TokenMinter(TEST_KEY_ID, TEST_SECRET, AUD).token()}"}


async def transcribe_v3(
    http: aiohttp.ClientSession, url: str, audio: bytes
) -> tuple[int, dict[str, Any]]:
    body = {"inputs": {"audio": base64.b64encode(audio).decode(), "task": "transcribe"}}
    async with http.post(url + GEN, json=body, headers=auth()) as response:
        return response.status, await response.json()


def form(audio: bytes, **fields: str) -> aiohttp.FormData:
    data = aiohttp.FormData()
    data.add_field("file", audio, filename="speech.wav", content_type="audio/wav")
    for name, value in {"model": "whisper-1", **fields}.items():
        data.add_field(name, value)
    return data


async def test_whisper_word_error_rate_on_espeak_sentences(
    http: aiohttp.ClientSession, central_url: str
) -> None:
    require_espeak()
    hypotheses = []
    for sentence in SENTENCES:
        status, body = await transcribe_v3(http, central_url, espeak_wav(sentence))
        assert status == 200, body
        output = body["outputs"][0]
        assert output["language"] == "en" and output["duration_s"] > 0.5
        hypotheses.append(output["text"])
    wer = word_error_rate(SENTENCES, hypotheses)
    assert len(SENTENCES) >= 10
    assert wer <= MAX_WER, list(zip(SENTENCES, hypotheses, strict=True))
    # our WER agrees with jiwer's on the same normalised words
    reference = jiwer.wer(
        [" ".join(words(s)) for s in SENTENCES], [" ".join(words(h)) for h in hypotheses]
    )
    assert wer == pytest.approx(reference)


async def test_whisper_word_error_rate_on_recorded_librivox_speech(
    http: aiohttp.ClientSession, central_url: str
) -> None:
    clips = recorded_clips()
    if not clips:
        pytest.skip(
            "pocketsphinx-testdata is not installed (apt-get install pocketsphinx-testdata)"
        )
    hypotheses = []
    for _, audio in clips:
        status, body = await transcribe_v3(http, central_url, audio)
        assert status == 200, body
        hypotheses.append(body["outputs"][0]["text"])
    references = [reference for reference, _ in clips]
    assert word_error_rate(references, hypotheses) <= MAX_WER, hypotheses


async def test_openai_transcriptions_json_text_and_verbose(
    http: aiohttp.ClientSession, central_url: str
) -> None:
    require_espeak()
    audio = espeak_wav("Please send the report to my office before noon.")
    async with http.post(central_url + OPENAI, data=form(audio), headers=auth()) as response:
        body = await response.json()
        assert response.status == 200, body
    assert set(body) == {"text"} and "report" in words(body["text"])
    fields = {"response_format": "text", "language": "en"}
    async with http.post(central_url + OPENAI, data=form(audio, **fields), headers=auth()) as r:
        assert r.status == 200 and r.content_type == "text/plain"
        assert "office" in words(await r.text())
    fields = {"response_format": "verbose_json"}
    async with http.post(central_url + OPENAI, data=form(audio, **fields), headers=auth()) as r:
        verbose = await r.json()
    assert verbose["language"] == "en" and verbose["duration"] > 1
    assert verbose["segments"] and verbose["segments"][-1]["end"] <= verbose["duration"] + 0.5


def flac(wav: bytes) -> bytes:
    """The WAV re-encoded as FLAC with PyAV (what faster-whisper decodes containers with)."""
    import av

    audio = decode_wav(wav, 60)
    pcm = np.round(audio.samples * 32767).astype("<i2")[None, :]
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="flac") as out:
        stream = out.add_stream("flac", rate=audio.sample_rate, layout="mono")
        frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout="mono")
        frame.sample_rate = audio.sample_rate
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            out.mux(packet)
    return buffer.getvalue()


async def test_compressed_audio_is_decoded_too(
    http: aiohttp.ClientSession, central_url: str
) -> None:
    require_espeak()
    audio = flac(espeak_wav("The children are playing in the garden."))
    assert audio[:4] == b"fLaC"
    data = aiohttp.FormData()
    data.add_field("file", audio, filename="speech.flac", content_type="audio/flac")
    async with http.post(central_url + OPENAI, data=data, headers=auth()) as response:
        body = await response.json()
        assert response.status == 200, body
    assert {"children", "garden"} <= set(words(body["text"]))
    broken = audio[:200]  # a FLAC header and nothing decodable after it
    status, error = await transcribe_v3(http, central_url, broken)
    assert status == 400, error
    assert error["error"]["code"] == "invalid_audio"


async def test_silence_transcribes_to_little_or_nothing(
    http: aiohttp.ClientSession, central_url: str
) -> None:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(16_000)
        wav.writeframes(np.zeros(32_000, dtype="<i2").tobytes())
    status, body = await transcribe_v3(http, central_url, buffer.getvalue())
    assert status == 200, body
    assert len(words(body["outputs"][0]["text"])) <= 2
    assert body["outputs"][0]["duration_s"] == pytest.approx(2.0)


@pytest.mark.parametrize(
    "payload",
    [b"this is plain text, not audio at all", b"\x89PNG\r\n\x1a\n" + bytes(64), b"RIFF\x00"],
)
async def test_non_audio_bytes_are_a_400(
    http: aiohttp.ClientSession, central_url: str, payload: bytes
) -> None:
    status, body = await transcribe_v3(http, central_url, payload)
    assert status == 400, body
    assert body["error"]["code"] == "invalid_audio"
    async with http.post(central_url + OPENAI, data=form(payload), headers=auth()) as response:
        error = await response.json()
        assert response.status == 400, error
    assert error["error"]["code"] == "invalid_audio"


async def test_openai_form_errors(http: aiohttp.ClientSession, central_url: str) -> None:
    require_espeak()
    audio = espeak_wav("Hello there.")
    async with http.post(central_url + OPENAI, data=form(audio)) as response:
        assert response.status == 401  # JWT like every other central route
    cases = [
        (form(audio, model="gpt-4o"), 404, "unknown_model"),
        (form(audio, language="fr"), 400, "unsupported_language"),
        (form(audio, response_format="srt"), 400, "unsupported_response_format"),
    ]
    for data, status, code in cases:
        async with http.post(central_url + OPENAI, data=data, headers=auth()) as response:
            body = await response.json()
            assert (response.status, body["error"]["code"]) == (status, code), body
    no_file = aiohttp.FormData()
    no_file.add_field("model", "whisper-1")
    no_file.add_field("dummy", b"x", filename="x.bin")  # keep it multipart
    async with http.post(central_url + OPENAI, data=no_file, headers=auth()) as response:
        assert response.status == 400
        assert (await response.json())["error"]["code"] == "missing_file"
    async with http.post(central_url + OPENAI, json={"file": "x"}, headers=auth()) as response:
        assert response.status == 415


async def test_models_advertise_transcribe(http: aiohttp.ClientSession, central_url: str) -> None:
    async with http.get(central_url + "/v1/models", headers=auth()) as response:
        body = await response.json()
    assert "transcribe" in body["data"][0]["tasks"]
