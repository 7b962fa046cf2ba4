"""The one place that creates onnxruntime sessions."""

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import onnxruntime as ort
from pydantic import Field

from edge_models.errors import ModelLoadError, ProviderError

_GRAPH_LEVELS = {
    "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
    "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
    "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
    "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
}


@dataclass(frozen=True)
class SessionOptions:
    """How to build an ORT session; one thread by default (a 2-core edge box)."""

    intra_op_threads: Annotated[int, Field(ge=1)] = 1
    inter_op_threads: Annotated[int, Field(ge=1)] = 1
    graph_optimization: str = "all"
    providers: tuple[str, ...] = ("CPUExecutionProvider",)


def create_session(
    path: Path, options: SessionOptions, disabled_optimizers: Sequence[str] = ()
) -> ort.InferenceSession:
    """Build an inference session for `path`, failing clearly on bad providers or files.

    `disabled_optimizers` names ORT graph transformers to skip for this model (a fusion can
    make one graph slower).
    """
    available = ort.get_available_providers()
    missing = [p for p in options.providers if p not in available]
    if missing:
        raise ProviderError(
            f"execution provider(s) {missing} not available; available: {available}"
        )
    if options.graph_optimization not in _GRAPH_LEVELS:
        raise ValueError(
            f"unknown graph_optimization {options.graph_optimization!r}; "
            f"valid: {sorted(_GRAPH_LEVELS)}"
        )
    if not path.is_file():
        raise ModelLoadError(f"model file not found: {path}")
    so = ort.SessionOptions()
    so.intra_op_num_threads = options.intra_op_threads
    so.inter_op_num_threads = options.inter_op_threads
    so.graph_optimization_level = _GRAPH_LEVELS[options.graph_optimization]
    so.log_severity_level = 3
    try:
        return ort.InferenceSession(
            str(path),
            sess_options=so,
            providers=list(options.providers),
            disabled_optimizers=list(disabled_optimizers) or None,
        )
    except Exception as exc:  # ORT raises its own untyped errors for corrupt files
        raise ModelLoadError(f"cannot load {path}: {exc}") from exc
