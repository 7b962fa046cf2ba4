"""Canonical cache keys of jobs, and results as the bytes a cache stores."""

import hashlib
import hmac
import json
from typing import Any

import numpy as np

from router.cache_backends import MIN_SALT_BYTES
from router.jobs import Job, JobInput, Result

KEY_VERSION = 1


def _digest(data: bytes | None) -> str | None:
    return None if data is None else hashlib.sha256(data).hexdigest()


def canonical_input(item: JobInput) -> dict[str, Any]:
    """One input as JSON-able data, binary payloads replaced by their sha256."""
    return {
        "text": item.text,
        "messages": [list(m) for m in item.messages],
        "image": _digest(item.image),
        "image_url": item.image_url,
        "audio": _digest(item.audio),
        "modality": item.modality,
    }


def canonical_scope(job: Job) -> dict[str, Any]:
    """Everything but the inputs that decides the answer: model, task, tenant, parameters."""
    p = job.params
    return {
        "v": KEY_VERSION,
        "model": job.model,
        "pinned_edge_model": job.pinned_edge_model,
        "task": job.task,
        "tenant": job.tenant,
        "params": {
            "max_tokens": int(p.max_tokens),
            "temperature": float(p.temperature),
            "top_p": float(p.top_p),
            "labels": list(p.labels),
            "label_set": p.label_set,
            "top_k": int(p.top_k),
            "response_format": p.response_format,
        },
    }


def canonical_bytes(data: dict[str, Any]) -> bytes:
    """Deterministic JSON: sorted keys, no whitespace."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def cache_key(job: Job, salt: bytes) -> str:
    """HMAC-SHA256 (hex) of the canonical job under the deployment's salt."""
    if len(salt) < MIN_SALT_BYTES:
        raise ValueError(f"the cache salt must be at least {MIN_SALT_BYTES} bytes")
    data = {**canonical_scope(job), "inputs": [canonical_input(i) for i in job.inputs]}
    return hmac.new(salt, canonical_bytes(data), hashlib.sha256).hexdigest()


def _json_default(value: object) -> object:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot cache a value of type {type(value).__name__}")


def result_to_bytes(result: Result) -> bytes:
    """A Result as compact JSON; TypeError when its outputs are not JSON-able."""
    data = {
        "outputs": result.outputs,
        "route": result.route,
        "reason": result.reason,
        "model": result.model,
        "usage": result.usage,
    }
    return json.dumps(data, separators=(",", ":"), default=_json_default).encode()


def result_from_bytes(data: bytes) -> Result:
    """The Result stored by `result_to_bytes`; ValueError when the bytes are not one."""

    try:
        obj = json.loads(data)
        result = Result(
            outputs=list(obj["outputs"]),
            route=str(obj["route"]),
            reason=str(obj["reason"]),
            model=str(obj["model"]),
            usage={str(k): int(v) for k, v in obj["usage"].items()},
        )
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise ValueError(f"not a cached result: {exc}") from None
    if not all(isinstance(o, dict) for o in result.outputs):
        raise ValueError("not a cached result: outputs must be objects")
    return result
