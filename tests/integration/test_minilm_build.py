"""The MiniLM `make setup` builds: fp32 parity with PyTorch, the int8 gate, the served choice."""

import json
import shutil
from pathlib import Path

import aiohttp
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnxruntime.quantization import QuantType, quantize_dynamic

from edge_models.errors import ModelLoadError
from edge_models.minilm_assets import ASSETS, MANIFEST, choose_text_model, model_file
from edge_models.minilm_int8 import per_token_activations
from edge_models.quantize_minilm import GATE_TEXTS, choose
from edge_models.sessions import SessionOptions, create_session
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
        assert gate["batch_vs_alone_max_abs"] <= 1e-5
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


def _linear_model(path: Path, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """An fp32 ONNX `x @ w + b` over [batch, seq, 16] written to `path`; returns (w, b)."""
    w = rng.normal(size=(16, 8)).astype(np.float32)
    b = rng.normal(size=8).astype(np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["x", "w"], ["xw"]),
            helper.make_node("Add", ["xw", "b"], ["y"]),
        ],
        "linear",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", "seq", 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", "seq", 8])],
        [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return w, b


def test_per_token_int8_is_exact_per_row_math_and_ignores_batch_mates(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    _, bias = _linear_model(tmp_path / "fp32.onnx", rng)
    quantize_dynamic(
        tmp_path / "fp32.onnx",
        tmp_path / "tensor.onnx",
        per_channel=True,
        reduce_range=True,
        weight_type=QuantType.QInt8,
    )
    token = per_token_activations(onnx.load(str(tmp_path / "tensor.onnx")))
    onnx.save(token, str(tmp_path / "token.onnx"))
    assert not [n for n in token.graph.node if n.op_type == "DynamicQuantizeLinear"]
    x = rng.normal(size=(1, 3, 16)).astype(np.float32)
    loud = np.concatenate([x, 50 * rng.normal(size=(1, 3, 16)).astype(np.float32)])

    def run(name: str, level: str, feed: np.ndarray) -> np.ndarray:
        options = SessionOptions(graph_optimization=level)
        return create_session(tmp_path / f"{name}.onnx", options).run(None, {"x": feed})[0]

    # the per-batch version is what moved: a loud batch mate changes a quiet row's result
    assert np.abs(run("tensor", "all", loud)[0] - run("tensor", "all", x)[0]).max() > 1e-3
    inits = {i.name: numpy_helper.to_array(i) for i in token.graph.initializer}
    w_q, w_scale = inits["w_quantized"].astype(np.int32), inits["w_scale"]
    scale = np.abs(loud).max(axis=-1, keepdims=True) / 127
    x_q = np.rint(loud / scale).astype(np.int32)
    expected = (x_q @ w_q) * scale * w_scale + bias
    for level in ("all", "disable"):  # ORT's fusions included (a fused bias once came out wrong)
        got = run("token", level, loud)
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
        np.testing.assert_array_equal(got[:1], run("token", level, x))


def test_the_built_int8_agrees_across_ort_graph_optimizations() -> None:
    if "int8" not in json.loads((ASSETS / MANIFEST).read_text())["files"]:
        pytest.skip("the build kept no int8 MiniLM (its gate failed)")
    vectors = [
        TextEncoder.load(SessionOptions(graph_optimization=level), model_file("int8")).embed(
            GATE_TEXTS
        )
        for level in ("all", "disable")
    ]
    assert (vectors[0] * vectors[1]).sum(axis=1).min() >= 0.999
