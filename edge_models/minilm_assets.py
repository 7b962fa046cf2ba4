"""The MiniLM files `make setup` builds: where they are, which precision serves, and their checks.

`python -m edge_models.quantize_minilm` writes an fp32 and (when its quality gate passes) an int8
ONNX file into `edge_models/assets/`, plus a manifest saying which one to serve and why. This
module reads that manifest at run time; it never imports `onnx` or torch.
"""

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from edge_models.errors import ModelLoadError

ASSETS = Path(__file__).with_name("assets")
MODEL_STEM = "all-minilm-l6-v2"
MANIFEST = f"{MODEL_STEM}.json"
PRECISIONS = ("int8", "fp32")
BUILD_HINT = "run `make setup` (or `python -m edge_models.quantize_minilm`)"


def model_file(precision: str, assets: Path = ASSETS) -> Path:
    """Path of the built ONNX file for `precision`."""
    return assets / f"{MODEL_STEM}.{precision}.onnx"


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def has_vnni() -> bool:
    """True when the CPU has integer dot-product instructions (AVX-512 VNNI or AVX-VNNI)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    flags = next((line for line in text.splitlines() if line.startswith("flags")), "")
    return any(f in flags.split() for f in ("avx512_vnni", "avx_vnni", "amx_int8"))


@dataclass(frozen=True)
class TextModelChoice:
    """Which MiniLM file serves, and why; shown in /readyz."""

    precision: str
    path: Path
    sha256: str
    reason: str

    def describe(self) -> dict[str, str]:
        """JSON-ready summary."""
        return {
            "file": self.path.name,
            "precision": self.precision,
            "sha256": self.sha256,
            "reason": self.reason,
        }


def choose_text_model(precision: str = "auto", assets: Path = ASSETS) -> TextModelChoice:
    """Resolve `auto|int8|fp32` against the manifest, verifying the file's sha256."""
    if precision not in ("auto", *PRECISIONS):
        raise ValueError(f"unknown text model precision {precision!r}; valid: auto, int8, fp32")
    manifest_path = assets / MANIFEST
    if not manifest_path.is_file():
        raise ModelLoadError(f"MiniLM manifest {manifest_path} is missing; {BUILD_HINT}")
    manifest = json.loads(manifest_path.read_text())
    files: dict[str, str] = manifest["files"]
    if precision == "auto":
        chosen = manifest["chosen"]
        reason = f"auto: {manifest['reason']}"
    else:
        chosen = precision
        reason = "configured"
    if chosen not in files:
        raise ModelLoadError(
            f"no {chosen} MiniLM was kept by the build ({manifest['reason']}); "
            f"built: {sorted(files)}"
        )
    path = model_file(chosen, assets)
    if not path.is_file():
        raise ModelLoadError(f"MiniLM file {path} is missing; {BUILD_HINT}")
    actual = sha256_of(path)
    if actual != files[chosen]:
        raise ModelLoadError(f"{path} has sha256 {actual}, but {MANIFEST} records {files[chosen]}")
    return TextModelChoice(chosen, path, actual, reason)
