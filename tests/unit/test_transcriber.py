"""The central's Whisper loader and its admission: local weights only, bounded waiting."""

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from benchmarks.speech_eval import espeak_wav, words
from central_service.transcribe import (
    TranscribeOptions,
    Transcriber,
    TranscriberLoadError,
    packaged_model_path,
)
from common.errors import BadRequest, Unavailable
from tests.speech_fixtures import require_espeak


@pytest.fixture(scope="module")
def transcriber() -> Iterator[Transcriber]:
    """The packaged tiny.en, at most one call waiting."""
    loaded = Transcriber.load(TranscribeOptions(max_pending=1))
    yield loaded
    loaded.close()


def test_weights_come_from_the_package_and_the_hub_is_off(transcriber: Transcriber) -> None:
    path = packaged_model_path()
    assert (path / "model.bin").stat().st_size > 30_000_000
    assert os.environ["HF_HUB_OFFLINE"] == "1"
    assert not transcriber.multilingual


@pytest.mark.parametrize("path", [Path("/nonexistent/whisper"), Path("tiny.en")])
def test_a_missing_directory_fails_instead_of_downloading(path: Path) -> None:
    # `tiny.en` is a name faster-whisper would fetch from the hub; we refuse it up front
    with pytest.raises(TranscriberLoadError, match="not a CTranslate2 Whisper model"):
        Transcriber.load(TranscribeOptions(model_path=path))


def test_an_english_only_model_refuses_other_languages(transcriber: Transcriber) -> None:
    assert transcriber.check_language(None) == "en"
    assert transcriber.check_language(" EN ") == "en"
    with pytest.raises(BadRequest):
        transcriber.check_language("de")


async def test_calls_beyond_max_pending_get_503(transcriber: Transcriber) -> None:
    require_espeak()
    audio = espeak_wav("The children are playing in the garden.")
    first = asyncio.create_task(transcriber.transcribe(audio))
    await asyncio.sleep(0)  # the first call is now pending
    with pytest.raises(Unavailable):
        await transcriber.transcribe(audio)
    transcript = await first
    assert {"children", "garden"} <= set(words(transcript.text))
    assert transcript.elapsed_s > 0 and transcript.segments
