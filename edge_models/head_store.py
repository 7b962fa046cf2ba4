"""Classification heads on disk: an .npz (no pickles) and a `PATH.sha256` checked before parsing."""

import hashlib
import json
from pathlib import Path

import numpy as np

from edge_models.classifier import Head
from edge_models.errors import ModelLoadError

FORMAT = "hybrid-router-head/1"


def checksum_path(path: Path) -> Path:
    """The side file holding `path`'s sha256."""
    return path.with_name(path.name + ".sha256")


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def save_head(head: Head, path: Path) -> str:
    """Write the head and its checksum side file; returns the sha256."""
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {"format": FORMAT, "labels": list(head.labels), "temperature": head.temperature}
    with path.open("wb") as f:
        np.savez(
            f,
            mean=head.mean,
            scale=head.scale,
            weights=head.weights,
            gram_weights=head.gram_weights,
            bias=head.bias,
            meta=np.frombuffer(json.dumps({**meta, "metadata": head.metadata}).encode(), np.uint8),
        )
    digest = sha256_file(path)
    checksum_path(path).write_text(f"{digest}  {path.name}\n")
    return digest


def load_head(path: Path, expected_sha256: str | None = None) -> Head:
    """Read a head after verifying its sha256 (the configured one, else the side file)."""
    if not path.is_file():
        raise ModelLoadError(f"classifier head {path} does not exist")
    if expected_sha256 is None:
        side = checksum_path(path)
        if not side.is_file():
            raise ModelLoadError(f"classifier head {path} has no checksum file {side.name}")
        expected_sha256 = side.read_text().split()[0] if side.read_text().split() else ""
    actual = sha256_file(path)
    if actual != expected_sha256.lower():
        raise ModelLoadError(
            f"classifier head {path} has sha256 {actual}, expected {expected_sha256}; refusing it"
        )
    try:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(bytes(data["meta"]).decode())
            arrays = {k: data[k] for k in ("mean", "scale", "weights", "gram_weights", "bias")}
    except (OSError, ValueError, KeyError) as exc:
        raise ModelLoadError(f"classifier head {path} is not a valid head file: {exc}") from exc
    if meta.get("format") != FORMAT:
        raise ModelLoadError(f"classifier head {path} has format {meta.get('format')!r}")
    labels = tuple(meta["labels"])
    if arrays["weights"].shape != (len(arrays["mean"]), len(labels)):
        raise ModelLoadError(f"classifier head {path} has weights of the wrong shape")
    return Head(
        labels=labels,
        temperature=float(meta["temperature"]),
        metadata=dict(meta.get("metadata", {})),
        **arrays,
    )
