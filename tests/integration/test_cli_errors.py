"""Every CLI failure is one line on stderr with a non-zero exit; `--debug` adds the traceback."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.servers import free_port

SECRET_ENV = {k: v for k, v in os.environ.items() if not k.startswith("HYBRID_ROUTER_")}


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "router.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**SECRET_ENV, **(env or {})},
    )


def error_lines(stderr: str) -> list[str]:
    """Lines that are not ordinary log lines (those carry a level name)."""
    return [line for line in stderr.splitlines() if " WARNING " not in line and line.strip()]


def test_version() -> None:
    done = run_cli("--version")
    assert done.returncode == 0 and done.stdout.startswith("hybrid-router ")


@pytest.mark.parametrize(
    ("files", "args", "env", "expected"),
    [
        ({}, ["edge", "--config", "missing.yaml"], {}, "config file not found"),
        ({"bad.yaml": "server:\n  port: [1\n"}, ["edge", "--config", "bad.yaml"], {}, "bad YAML"),
        (
            {"typo.yaml": "server:\n  prot: 1\n"},
            ["central", "--config", "typo.yaml"],
            {},
            "did you mean 'server.port'",
        ),
        ({}, ["edge"], {"HYBRID_ROUTER_SERVER__PROT": "1"}, "HYBRID_ROUTER_SERVER__PORT"),
        ({"req.json": "{}"}, ["route", "explain", "req.json", "--url", "URL"], {}, "cannot reach"),
        (
            {},
            ["edge", "--port", "0", "--grpc-port", "0"],
            {"HYBRID_ROUTER_CENTRAL__SECRET": "too-short"},
            "at least 32 bytes",
        ),
    ],
)
def test_failures_are_one_line(
    tmp_path: Path, files: dict[str, str], args: list[str], env: dict[str, str], expected: str
) -> None:
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    args = [str(tmp_path / a) if a in files or a.endswith(".yaml") else a for a in args]
    args = [url if a == "URL" else a for a in args]
    done = run_cli(*args, env=env)
    assert done.returncode != 0
    lines = error_lines(done.stderr)
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("hybrid-router: error: ") and expected in lines[0]
    assert "Traceback" not in done.stderr


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    done = run_cli("--debug", "edge", "--config", str(tmp_path / "missing.yaml"))
    assert done.returncode != 0 and "Traceback" in done.stderr
    done = run_cli("edge", "--config", str(tmp_path / "missing.yaml"), "--debug")
    assert done.returncode != 0 and "Traceback" in done.stderr


def test_the_edge_imports_no_llm_runtime_or_benchmarks() -> None:
    """`hybrid-router edge` loads neither the central's LLM runtime nor the bench plugin."""
    probe = (
        "import sys, router.cli\n"
        "router.cli.build_parser(plugins=False)\n"
        "import router.serve, router.app\n"
        "heavy = ('xllamacpp', 'faster_whisper', 'ctranslate2', 'benchmarks', 'matplotlib')\n"
        "loaded = [m for m in sys.modules if m.split('.')[0] in heavy\n"
        "          or m in ('central_service.service', 'central_service.llm')]\n"
        "print(loaded)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True
    )
    assert done.stdout.strip() == "[]"
