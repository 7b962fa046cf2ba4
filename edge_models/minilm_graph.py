"""Build the fp32 all-MiniLM-L6-v2 ONNX graph from its safetensors weights (no torch).

A BERT encoder written out op by op with `onnx.helper`: embeddings, 6 post-LN layers of
12-head self-attention and an erf-GELU MLP. Inputs `input_ids`, `attention_mask`,
`token_type_ids` ([batch, sequence], int64); output `last_hidden_state` ([batch, sequence, 384]),
the same interface the runtime's TextEncoder pools. Build time only: imports `onnx`.
"""

import json
import math
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17  # LayerNormalization is a standard op from 17
_DTYPES = {"F32": np.float32, "I64": np.int64, "F16": np.float16}


@dataclass(frozen=True)
class BertShape:
    """The few hyper-parameters the graph needs, read from the model's config.json."""

    layers: int
    heads: int
    hidden: int
    eps: float

    @classmethod
    def from_config(cls, path: Path) -> "BertShape":
        """Read a Hugging Face BERT config.json."""
        config = json.loads(path.read_text())
        return cls(
            layers=int(config["num_hidden_layers"]),
            heads=int(config["num_attention_heads"]),
            hidden=int(config["hidden_size"]),
            eps=float(config["layer_norm_eps"]),
        )


def read_safetensors(path: Path) -> dict[str, np.ndarray]:
    """Every tensor of a .safetensors file as numpy (the format: a JSON header, then bytes)."""
    data = path.read_bytes()
    (header_len,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + header_len])
    base = 8 + header_len
    tensors: dict[str, np.ndarray] = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        dtype = _DTYPES[info["dtype"]]
        tensors[name] = np.frombuffer(data[base + start : base + end], dtype=dtype).reshape(
            info["shape"]
        )
    return tensors


class _Graph:
    """Accumulates nodes and initializers, naming every intermediate uniquely."""

    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self._n = 0

    def const(self, name: str, value: np.ndarray) -> str:
        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def op(self, op_type: str, inputs: list[str], **attrs: object) -> str:
        self._n += 1
        out = f"{op_type.lower()}_{self._n}"
        self.nodes.append(helper.make_node(op_type, inputs, [out], name=out, **attrs))
        return out

    def linear(self, x: str, weights: dict[str, np.ndarray], prefix: str) -> str:
        """x @ W^T + b, with W stored [in, out] so MatMul quantizes per output channel."""
        w = self.const(f"{prefix}.weight", weights[f"{prefix}.weight"].T.astype(np.float32))
        b = self.const(f"{prefix}.bias", weights[f"{prefix}.bias"].astype(np.float32))
        return self.op("Add", [self.op("MatMul", [x, w]), b])

    def layer_norm(self, x: str, weights: dict[str, np.ndarray], prefix: str, eps: float) -> str:
        gamma = self.const(f"{prefix}.weight", weights[f"{prefix}.weight"])
        beta = self.const(f"{prefix}.bias", weights[f"{prefix}.bias"])
        return self.op("LayerNormalization", [x, gamma, beta], axis=-1, epsilon=eps)


def build_bert(weights: dict[str, np.ndarray], shape: BertShape) -> onnx.ModelProto:
    """The encoder as an ONNX model, weights embedded as initializers."""
    g = _Graph()
    head_dim = shape.hidden // shape.heads
    g.const("axes_0", np.array([0], dtype=np.int64))  # also the Slice start
    g.const("axes_1_2", np.array([1, 2], dtype=np.int64))
    g.const("heads_shape", np.array([0, 0, shape.heads, head_dim], dtype=np.int64))
    g.const("hidden_shape", np.array([0, 0, shape.hidden], dtype=np.int64))
    g.const("one_f", np.array(1.0, dtype=np.float32))
    g.const("half_f", np.array(0.5, dtype=np.float32))
    g.const("sqrt2_f", np.array(math.sqrt(2.0), dtype=np.float32))
    g.const("mask_min_f", np.array(np.finfo(np.float32).min, dtype=np.float32))
    g.const("scale_f", np.array(1.0 / math.sqrt(head_dim), dtype=np.float32))

    # Embeddings: word + position + token type, then LayerNorm.
    emb = "embeddings"
    word = g.op(
        "Gather", [g.const(f"{emb}.word", weights[f"{emb}.word_embeddings.weight"]), "input_ids"]
    )
    seq_len = g.op("Shape", ["input_ids"], start=1, end=2)  # 1-D, [sequence]
    pos = g.op(
        "Slice",
        [
            g.const(f"{emb}.position", weights[f"{emb}.position_embeddings.weight"]),
            "axes_0",
            seq_len,
            "axes_0",
        ],
    )
    token_type = g.op(
        "Gather",
        [
            g.const(f"{emb}.token_type", weights[f"{emb}.token_type_embeddings.weight"]),
            "token_type_ids",
        ],
    )
    x = g.op("Add", [g.op("Add", [word, pos]), token_type])
    x = g.layer_norm(x, weights, f"{emb}.LayerNorm", shape.eps)

    # Additive attention mask: 0 where attended, float32 min where padded; [batch, 1, 1, seq].
    mask = g.op("Cast", [g.op("Unsqueeze", ["attention_mask", "axes_1_2"])], to=TensorProto.FLOAT)
    mask_bias = g.op("Mul", [g.op("Sub", ["one_f", mask]), "mask_min_f"])

    for i in range(shape.layers):
        p = f"encoder.layer.{i}"

        def heads(t: str, perm: list[int]) -> str:
            return g.op("Transpose", [g.op("Reshape", [t, "heads_shape"])], perm=perm)

        q = heads(g.linear(x, weights, f"{p}.attention.self.query"), [0, 2, 1, 3])
        k = heads(g.linear(x, weights, f"{p}.attention.self.key"), [0, 2, 3, 1])
        v = heads(g.linear(x, weights, f"{p}.attention.self.value"), [0, 2, 1, 3])
        scores = g.op("Add", [g.op("Mul", [g.op("MatMul", [q, k]), "scale_f"]), mask_bias])
        probs = g.op("Softmax", [scores], axis=-1)
        context = g.op("Transpose", [g.op("MatMul", [probs, v])], perm=[0, 2, 1, 3])
        context = g.op("Reshape", [context, "hidden_shape"])
        attn = g.linear(context, weights, f"{p}.attention.output.dense")
        x = g.layer_norm(
            g.op("Add", [attn, x]), weights, f"{p}.attention.output.LayerNorm", shape.eps
        )
        inner = g.linear(x, weights, f"{p}.intermediate.dense")
        erf = g.op("Erf", [g.op("Div", [inner, "sqrt2_f"])])
        gelu = g.op("Mul", [g.op("Mul", [inner, "half_f"]), g.op("Add", [erf, "one_f"])])
        out = g.linear(gelu, weights, f"{p}.output.dense")
        x = g.layer_norm(g.op("Add", [out, x]), weights, f"{p}.output.LayerNorm", shape.eps)

    g.nodes.append(helper.make_node("Identity", [x], ["last_hidden_state"], name="output"))
    dims = ["batch", "sequence"]
    graph = helper.make_graph(
        g.nodes,
        "all-MiniLM-L6-v2",
        [
            helper.make_tensor_value_info(name, TensorProto.INT64, dims)
            for name in ("input_ids", "attention_mask", "token_type_ids")
        ],
        [
            helper.make_tensor_value_info(
                "last_hidden_state", TensorProto.FLOAT, [*dims, shape.hidden]
            )
        ],
        g.inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 8
    model.producer_name = "hybrid-router edge_models.minilm_graph"
    onnx.checker.check_model(model)
    return model


def build_fp32(model_dir: Path) -> onnx.ModelProto:
    """The fp32 graph for the Hugging Face BERT checkpoint in `model_dir`."""
    weights = read_safetensors(model_dir / "model.safetensors")
    return build_bert(weights, BertShape.from_config(model_dir / "config.json"))
