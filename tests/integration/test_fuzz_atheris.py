"""Each atheris harness under libFuzzer for a bounded time (coverage-guided, unlike the smoke run).

CI runs this (marked slow): about 20 s per harness, so a few minutes in all. A crash fails the
test and leaves `crash-*` beside the log for replay: `python tests/fuzz/fuzz_x.py crash-...`.
"""

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("atheris")

pytestmark = pytest.mark.slow

FUZZ_DIR = Path(__file__).resolve().parents[1] / "fuzz"
HARNESSES = ["fuzz_request", "fuzz_redaction", "fuzz_wav", "fuzz_image", "fuzz_sse"]
SECONDS = 20
MAX_RUNS = 200_000


@pytest.mark.parametrize("harness", HARNESSES)
def test_harness_survives_a_bounded_fuzz_run(harness: str, tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            str(FUZZ_DIR / f"{harness}.py"),
            f"-max_total_time={SECONDS}",
            f"-runs={MAX_RUNS}",
            "-rss_limit_mb=2048",
            "-timeout=10",
            f"-artifact_prefix={tmp_path}/",
        ],
        capture_output=True,
        text=True,
        timeout=SECONDS * 6 + 120,
        cwd=FUZZ_DIR.parents[1],
    )
    crashes = sorted(p.name for p in tmp_path.glob("crash-*"))
    assert result.returncode == 0 and not crashes, (crashes, result.stderr[-3000:])
    assert "Done" in result.stderr or "DONE" in result.stderr, result.stderr[-1000:]
