"""Classification heads on disk: an .npz (no pickles) and a `PATH.sha256` checked before parsing.

Two formats: softmax-regression heads (`hybrid-router-head/1`) and kernel heads
(`hybrid-router-kernel-head/1`, `edge_models.kernel_head`); the file says which.
"""

import hashlib
import json
from pathlib import Path

import numpy as np

from edge_models.classifier import Head
from edge_models.errors import ModelLoadError
from edge_models.kernel_head import AnyHead, KernelHead

FORMAT = "hybrid-router-head/1"
KERNEL_FORMAT = "hybrid-router-kernel-head/1"
ARRAYS = {
    FORMAT: ("mean", "scale", "weights", "gram_weights", "bias"),
    KERNEL_FORMAT: ("support", "dual"),
}


def checksum_path(path: Path) -> Path:
    """The side file holding `path`'s sha256."""
    return path.with_name(path.name + ".sha256")


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def save_head(head: AnyHead, path: Path) -> str:
    """Write the head and its checksum side file; returns the sha256."""
    path.parent.mkdir(parents=True, exist_ok=True)
    meta: dict[str, object] = {"labels": list(head.labels), "temperature": head.temperature}
    if isinstance(head, KernelHead):
        meta |= {"format": KERNEL_FORMAT, "beta": head.beta}
        arrays = {"support": head.support, "dual": head.dual}
    else:
        meta |= {"format": FORMAT}
        arrays = {k: getattr(head, k) for k in ARRAYS[FORMAT]}
    encoded = json.dumps({**meta, "metadata": head.metadata}).encode()
    with path.open("wb") as f:
        np.savez(f, meta=np.frombuffer(encoded, np.uint8), **arrays)
    digest = sha256_file(path)
    checksum_path(path).write_text(f"{digest}  {path.name}\n")
    return digest


def load_head(path: Path, expected_sha256: str | None = None) -> AnyHead:
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
            names = ARRAYS.get(str(meta.get("format")), ()) if isinstance(meta, dict) else ()
            arrays = {k: data[k] for k in names}
    except (OSError, ValueError, KeyError) as exc:
        raise ModelLoadError(f"classifier head {path} is not a valid head file: {exc}") from exc
    if not names:
        found = meta.get("format") if isinstance(meta, dict) else None
        raise ModelLoadError(f"classifier head {path} has format {found!r}")
    labels = tuple(meta["labels"])
    fields = {
        "labels": labels,
        "temperature": float(meta["temperature"]),
        "metadata": dict(meta.get("metadata", {})),
    }
    if meta["format"] == KERNEL_FORMAT:
        if arrays["dual"].shape != (len(arrays["support"]), len(labels)):
            raise ModelLoadError(f"classifier head {path} has dual weights of the wrong shape")
        return KernelHead(beta=float(meta["beta"]), **fields, **arrays)
    if arrays["weights"].shape != (len(arrays["mean"]), len(labels)):
        raise ModelLoadError(f"classifier head {path} has weights of the wrong shape")
    return Head(**fields, **arrays)
