"""The MiniLM `make setup` builds: fp32 parity with PyTorch, the int8 gate, the served choice."""

import json
import shutil
from pathlib import Path

import aiohttp
import numpy as np
import pytest

from edge_models.errors import ModelLoadError
from edge_models.minilm_assets import ASSETS, MANIFEST, choose_text_model, model_file
from edge_models.quantize_minilm import choose
from edge_models.sessions import SessionOptions
from edge_models.text import TextEncoder

DATA = Path(__file__).parent.parent / "data"


def test_the_built_fp32_graph_matches_the_pytorch_reference() -> None:
    reference = json.loads((DATA / "minilm_fp32_reference.json").read_text())
    encoder = TextEncoder.load(SessionOptions(), model_file("fp32"))
    cosines = (encoder.embed(reference["sentences"]) * np.asarray(reference["vectors"])).sum(1)
    assert cosines.min() >= 0.9999, cosines


def test_the_manifest_records_a_passed_gate_for_a_kept_int8() -> None:
    manifest = json.loads((ASSETS / MANIFEST).read_text())
    assert manifest["chosen"] in manifest["files"]
    if "int8" in manifest["files"]:
        gate = manifest["gate"]
        assert gate["passed"] and gate["cosine_mean"] >= 0.99
        bank = gate["banking77"]
        assert bank["accuracy_int8"] >= bank["accuracy_fp32"] - 0.01


def test_auto_serves_the_builds_choice_and_each_precision_can_be_forced() -> None:
    manifest = json.loads((ASSETS / MANIFEST).read_text())
    auto = choose_text_model("auto")
    assert auto.precision == manifest["chosen"] and auto.reason.startswith("auto: ")
    fp32 = choose_text_model("fp32")
    assert fp32.path == model_file("fp32") and fp32.sha256 == manifest["files"]["fp32"]
    with pytest.raises(ValueError, match="valid: auto, int8, fp32"):
        choose_text_model("int4")


def test_a_corrupt_or_missing_build_fails_clearly(tmp_path: Path) -> None:
    shutil.copy(ASSETS / MANIFEST, tmp_path / MANIFEST)
    with pytest.raises(ModelLoadError, match="missing"):
        choose_text_model("fp32", tmp_path)
    model_file("fp32", tmp_path).write_bytes(b"not the model")
    with pytest.raises(ModelLoadError, match="sha256"):
        choose_text_model("fp32", tmp_path)
    with pytest.raises(ModelLoadError, match="make setup"):
        choose_text_model("auto", tmp_path / "empty")


def test_int8_serves_only_past_the_gate_and_without_vnni_only_when_faster() -> None:
    passed, failed = {"passed": True}, {"passed": False}
    fast = {"int8_b1": 2.0, "fp32_b1": 5.0, "int8_b32": 30.0, "fp32_b32": 60.0}
    slow = {"int8_b1": 6.0, "fp32_b1": 5.0, "int8_b32": 30.0, "fp32_b32": 60.0}
    assert choose(failed, fast, vnni=True)[0] == "fp32"
    assert choose(passed, slow, vnni=True)[0] == "int8"
    assert choose(passed, fast, vnni=False)[0] == "int8"
    assert choose(passed, slow, vnni=False)[0] == "fp32"
    assert "not faster" in choose(passed, slow, vnni=False)[1]


async def test_readyz_says_which_minilm_serves(http: aiohttp.ClientSession, edge_url: str) -> None:
    async with http.get(edge_url + "/readyz") as response:
        body = await response.json()
    assert response.status == 200
    text_model = body["edge_runtime"]["text_model"]
    assert text_model["precision"] == choose_text_model().precision
    assert text_model["file"] == model_file(text_model["precision"]).name
    assert "all-minilm-l6-v2" in body["edge_runtime"]["admission"]
