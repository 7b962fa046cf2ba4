"""Benchmark plots: titles that say where answers came from, errors by kind, marked tails."""

import random
from pathlib import Path

import pytest

from benchmarks.loadgen import Recorder, RunResult, Sample
from benchmarks.plots import error_kinds, report_html, run_title, write_plots

pytest.importorskip("matplotlib")


def samples(route: str, n: int = 400, errors: int = 0) -> list[Sample]:
    rng = random.Random(1)
    out = [
        Sample(i, i * 0.05, i * 0.05, rng.lognormvariate(3, 0.4), 1.0, "embed", route, 200)
        for i in range(n)
    ]
    out += [Sample(n + i, i * 0.1, i * 0.1, 2.0, 2.0, "embed", "none", 429) for i in range(errors)]
    return out


def test_edge_only_runs_are_titled_so() -> None:
    assert run_title("edge-embed", "central", samples("edge")) == "edge-embed (edge only)"
    mixed = samples("edge") + samples("central", 5)
    assert run_title("routed-mix", "central", mixed) == "routed-mix (upstream: central)"


def test_errors_are_shown_by_kind() -> None:
    assert error_kinds({}) == "none"
    assert error_kinds({"timeout": 1, "429": 3}) == "429: 3, timeout: 1"


def test_plots_and_report(tmp_path: Path) -> None:
    recorder = Recorder()
    recorder.samples.extend(samples("edge", errors=4))
    run = RunResult("open", 20.0, None, 20.0, 20.0, recorder)
    document = {
        "scenario": "edge-embed",
        "created_utc": "now",
        "git_commit": "abc",
        "machine": {"cpu_count": 2, "platform": "linux"},
        "command": ["bench"],
        "runs": [
            {
                "label": "central",
                "groups": [
                    {
                        "path": "edge",
                        "task": "embed",
                        "ok": 400,
                        "errors": {"429": 4},
                        "achieved_rps": 20.0,
                        "latency_ms": dict.fromkeys(("p50", "p90", "p99", "p99.9", "max"), 1.0),
                    }
                ],
                "overall": {"requests": 404, "errors": {"429": 4}},
            }
        ],
    }
    note = write_plots(tmp_path / "run", [("central", run)], document)
    assert "run-cdf.png" in note
    assert (tmp_path / "run-cdf.png").stat().st_size > 10_000
    page = (tmp_path / "run.html").read_text()
    assert "429: 4" in page and "{}" not in page
    assert "{}" not in report_html({**document, "runs": []}, [])
