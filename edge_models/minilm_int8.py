"""Per-token int8 activations for the MiniLM: a rewrite of ORT's dynamically quantized graph.

`quantize_dynamic` quantizes each MatMul's input with DynamicQuantizeLinear: one scale and zero
point for the whole [batch, sequence, hidden] tensor, so a text's vector moves with its batch
mates (and their padding). This rewrite gives every token (row over `hidden`) its own symmetric
scale, s = max|x| / 127, held as uint8 with zero point 128 (the fast u8 x s8 integer GEMM):

    x_q = QuantizeLinear(x, s, 128)   # blocked (opset 21): one block spans a whole row
    y   = MatMulIntegerToFloat(x_q, w_q, s, w_scale, 128, w_zero) + bias

A row's integers, its scale and so its output depend on that row alone: batches stay batches.
The bias stays a separate Add: ORT's MatMulIntegerToFloat would add a fused bias *before*
applying a per-row A scale. Build time only: imports `onnx`.
"""

from dataclasses import dataclass

import numpy as np
import onnx
from onnx import helper, numpy_helper

MS_DOMAIN = "com.microsoft"
OPSET = 21  # QuantizeLinear with block_size, ReduceMax with axes as an input
ROW_BLOCK = 1 << 16  # a block wider than any row: ceil(width / ROW_BLOCK) == 1 scale per row
QMAX = 127  # symmetric: round(x / s) lies in [-127, 127], stored as 1..255 around zero point 128
ZERO_POINT = "per_token.zero_point"
INV_QMAX = "per_token.inv_qmax"
TINY = "per_token.tiny"
LAST_AXIS = "per_token.last_axis"


@dataclass(frozen=True)
class IntegerMatMul:
    """One MatMulInteger -> Cast -> Mul(scale) chain of the dynamically quantized graph."""

    matmul: onnx.NodeProto
    cast: onnx.NodeProto
    mul: onnx.NodeProto
    scales: onnx.NodeProto  # Mul(activation scale, weight scale)


def _consumers(model: onnx.ModelProto) -> dict[str, list[onnx.NodeProto]]:
    found: dict[str, list[onnx.NodeProto]] = {}
    for node in model.graph.node:
        for name in node.input:
            found.setdefault(name, []).append(node)
    return found


def _only(nodes: list[onnx.NodeProto], op_type: str) -> onnx.NodeProto:
    if len(nodes) != 1 or nodes[0].op_type != op_type:
        raise ValueError(f"expected one {op_type} consumer, found {[n.op_type for n in nodes]}")
    return nodes[0]


def integer_matmuls(model: onnx.ModelProto) -> list[IntegerMatMul]:
    """Every MatMulInteger chain, checked to have the shape `quantize_dynamic` writes."""
    consumers = _consumers(model)
    producers = {out: node for node in model.graph.node for out in node.output}
    chains = []
    for node in model.graph.node:
        if node.op_type != "MatMulInteger":
            continue
        cast = _only(consumers[node.output[0]], "Cast")
        mul = _only(consumers[cast.output[0]], "Mul")
        scale_name = next(name for name in mul.input if name != cast.output[0])
        scales = producers[scale_name]
        if scales.op_type != "Mul":
            raise ValueError(f"{node.name}: output scale comes from {scales.op_type}, not Mul")
        chains.append(IntegerMatMul(node, cast, mul, scales))
    return chains


def _per_token_quantize(x: str, outputs: list[str]) -> list[onnx.NodeProto]:
    """Nodes giving DynamicQuantizeLinear's outputs (x_q, scale, zero point), one scale a row."""
    x_q, scale, zero_point = outputs
    p = f"{x}.per_token"

    def node(op: str, inputs: list[str], out: str, **attrs: object) -> onnx.NodeProto:
        return helper.make_node(op, inputs, [out], name=out, **attrs)

    return [
        node("Abs", [x], f"{p}.abs"),
        node("ReduceMax", [f"{p}.abs", LAST_AXIS], f"{p}.absmax", keepdims=1),
        node("Mul", [f"{p}.absmax", INV_QMAX], f"{p}.raw_scale"),
        node("Max", [f"{p}.raw_scale", TINY], scale),  # an all-zero row gets a tiny scale
        node("Shape", [scale], f"{p}.scale_shape"),
        node("Expand", [ZERO_POINT, f"{p}.scale_shape"], f"{p}.zero_points"),
        node("QuantizeLinear", [x, scale, f"{p}.zero_points"], x_q, axis=-1, block_size=ROW_BLOCK),
        node("Identity", [ZERO_POINT], zero_point),
    ]


def _to_float(chain: IntegerMatMul) -> onnx.NodeProto:
    """MatMulIntegerToFloat for a chain: per-row A scale, per-channel W scale, no fused bias."""
    a, w, a_zero, w_zero = chain.matmul.input
    a_scale, w_scale = chain.scales.input
    return helper.make_node(
        "MatMulIntegerToFloat",
        [a, w, a_scale, w_scale, a_zero, w_zero],
        [chain.mul.output[0]],
        name=f"{chain.matmul.name}.to_float",
        domain=MS_DOMAIN,
    )


def per_token_activations(model: onnx.ModelProto) -> onnx.ModelProto:
    """Rewrite `model` (from `quantize_dynamic`) in place to quantize activations per token."""
    chains = integer_matmuls(model)
    if not chains:
        raise ValueError("no MatMulInteger in the model: was it quantized dynamically?")
    replaced = {id(n) for c in chains for n in (c.matmul, c.cast, c.mul, c.scales)}
    first_of = {id(c.matmul): c for c in chains}
    nodes: list[onnx.NodeProto] = []
    for node in model.graph.node:
        if node.op_type == "DynamicQuantizeLinear":
            nodes.extend(_per_token_quantize(node.input[0], list(node.output)))
        elif id(node) in first_of:
            nodes.append(_to_float(first_of[id(node)]))
        elif id(node) not in replaced:
            nodes.append(node)
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    model.graph.initializer.extend(
        numpy_helper.from_array(value, name)
        for name, value in (
            (ZERO_POINT, np.array(128, dtype=np.uint8)),
            (INV_QMAX, np.array(1.0 / QMAX, dtype=np.float32)),
            (TINY, np.array(1e-12, dtype=np.float32)),
            (LAST_AXIS, np.array([-1], dtype=np.int64)),
        )
    )
    _use_opset(model)
    onnx.checker.check_model(model)
    return model


def _use_opset(model: onnx.ModelProto) -> None:
    """Default domain at OPSET (the MiniLM's other ops mean the same from 17 on), plus ORT's."""
    others = [o for o in model.opset_import if o.domain not in ("", "ai.onnx", MS_DOMAIN)]
    del model.opset_import[:]
    model.opset_import.extend(
        [helper.make_opsetid("", OPSET), helper.make_opsetid(MS_DOMAIN, 1), *others]
    )
    model.ir_version = max(model.ir_version, 10)  # opset 21 needs IR 10
