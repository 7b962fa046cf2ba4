"""The docs say what the code does: defaults named in the README and deploy files equal the
settings' defaults, and the README's numbers table matches a committed benchmark JSON."""

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from router.settings import Settings

ROOT = Path(__file__).parents[2]
RESULTS = ROOT / "benchmarks" / "results"
DOCS = [
    ROOT / "README.md",
    ROOT / "deploy" / "README.md",
    ROOT / "deploy" / "systemd" / "hybrid-router-edge.service",
    ROOT / "deploy" / "systemd" / "edge.env.example",
]
SECTIONS = "|".join(Settings.model_fields)
KEY = rf"`?((?:{SECTIONS})\.[a-z_][a-z0-9_.]*[a-z0-9_])`?"
NUMBER = r"(\d+(?:\.\d+)?)"
# "`server.shutdown_grace_s` (default 30 s", "server.shutdown_grace_s, 30 s by default",
# "`models.max_queue_delay_ms` (20 ms)", "up to 8 items (`models.max_batch_size`)"
UNIT = r"\s*(MB|KB|ms|s|items)?\b"
AFTER = re.compile(KEY + r"\s*[,(]\s*(?:default\s+)?" + NUMBER + UNIT)
BEFORE = re.compile(NUMBER + UNIT + r"\s*\(`" + KEY[2:-2] + r"`\)")
SCALE = {"MB": 1024 * 1024, "KB": 1024}


def default_of(dotted: str) -> Any:
    """The default value of a dotted settings key."""
    value: Any = Settings()
    for part in dotted.split("."):
        value = getattr(value, part)
    return value


def named_defaults() -> list[tuple[str, str, float]]:
    """(file, key, number) for every default the docs state next to a settings key."""
    found = []
    for path in DOCS:
        text = path.read_text()
        name = str(path.relative_to(ROOT))
        for m in AFTER.finditer(text):
            found.append((name, m.group(1), float(m.group(2)) * SCALE.get(m.group(3) or "", 1)))
        for m in BEFORE.finditer(text):
            found.append((name, m.group(3), float(m.group(1)) * SCALE.get(m.group(2) or "", 1)))
    return found


def test_the_docs_state_some_defaults() -> None:
    keys = {key for _, key, _ in named_defaults()}
    assert {"server.shutdown_grace_s", "models.max_batch_size"} <= keys


@pytest.mark.parametrize(("doc", "key", "number"), named_defaults())
def test_named_defaults_match_the_code(doc: str, key: str, number: float) -> None:
    assert float(default_of(key)) == number, f"{doc} says {key} = {number}"


def newest(prefix: str) -> dict[str, Any]:
    """The newest committed results file of a benchmark."""
    files = sorted(RESULTS.glob(f"{prefix}-2[0-9]*.json"))
    assert files, f"no benchmarks/results/{prefix}-*.json"
    return json.loads(files[-1].read_text())


def p50_p99(digits: int) -> Callable[[dict[str, Any]], str]:
    """'p50 16.9 ms, p99 23.3 ms' from a scenario run's overall latency."""

    def render(d: dict[str, Any]) -> str:
        latency = d["runs"][0]["overall"]["latency_ms"]
        return f"p50 {latency['p50']:.{digits}f} ms, p99 {latency['p99']:.{digits}f} ms"

    return render


def router_overhead(d: dict[str, Any]) -> str:
    tiny = next(r for r in d["runs"] if r["label"] == "tiny")["overhead"][0]
    return f"+{tiny['p50_delta_ms']:.1f} ms p50, +{tiny['p99_delta_ms']:.1f} ms p99"


def embed_http_vs_raw(d: dict[str, Any]) -> str:
    if "one_at_a_time" in d:  # the current layout of benchmarks/embed_http.py
        http, raw = d["one_at_a_time"]["http_ms"]["p50"], d["one_at_a_time"]["raw_ms"]["p50"]
    else:
        http = d["http"]["batching_default"]["one_at_a_time"]["latency_ms"]["p50"]
        raw = d["raw_session_run"]["batch_1_ms"]["p50"]
    return f"{http:.1f} ms vs {raw:.1f} ms p50"


def sweep_best(d: dict[str, Any]) -> str:
    return f"{d['sweep'][0]['best_rps']:.0f} rps"


def cascade(d: dict[str, Any]) -> str:
    r = d["results"]
    return (
        f"edge {r['edge_only_accuracy']:.0%}; with the cascade to SmolLM2-135M "
        f"{r['cascade_accuracy']:.0%} (so it is off by default)"
    )


def cold_start(d: dict[str, Any]) -> str:
    m, p = d["median"], d["phases_median"]
    return (
        f"{m['ready_s']:.1f} s to ready ({m['cpu_s']:.1f} s CPU; imports {p['import_cpu_s']:.1f} s"
        f" CPU; load average {d['load_average_1m']['before']:.0f})"
    )


def before_after(d: dict[str, Any]) -> str:
    rows = {(r["path"], r["edge"]): r for r in d["rows"]}

    def ratios(path: str) -> str:
        base, now = rows[(path, "base")], rows[(path, "current")]
        return (
            f"{path} p50 {now['p50_ms'] / base['p50_ms']:.2f}x, "
            f"peak {now['peak_rps'] / base['peak_rps']:.2f}x"
        )

    return f"{ratios('embed')}; {ratios('classify')}"


# README row label -> (results prefix, how the row's value is written from that JSON)
CHECKED_ROWS: dict[str, tuple[str, Callable[[dict[str, Any]], str]]] = {
    "embed over HTTP vs raw `session.run` (one at a time)": ("embed_http", embed_http_vs_raw),
    "edge `embed`, 20 rps open loop": ("edge-embed", p50_p99(1)),
    "edge `classify_image`, 5 rps": ("edge-image", p50_p99(1)),
    "cache hit (`embed`), 20 rps": ("cache-hit", p50_p99(1)),
    "central `generate`, 32 tokens, greedy": ("central-generate", p50_p99(0)),
    "highest embed rate with p99 <= 100 ms (sweep)": ("edge-embed-sweep", sweep_best),
    "zero-shot classify on 36 labelled sentences": ("cascade", cascade),
    "edge cold start to `/readyz` 200, median of 5": ("cold-start", cold_start),
    "before/after vs round 1 (`compare_revisions`, 44c8d09, one run)": (
        "compare_revisions",
        before_after,
    ),
    "router overhead vs a direct call (instant upstream, interleaved)": (
        "overhead",
        router_overhead,
    ),
}


def readme_rows() -> dict[str, str]:
    """The README's numbers table, label -> value."""
    text = (ROOT / "README.md").read_text()
    table = text.split("## Numbers on this machine", 1)[1]
    rows = {}
    for line in table.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 2 and cells[0] not in ("what", "---"):
            rows[cells[0]] = cells[1]
    return rows


@pytest.mark.parametrize("label", sorted(CHECKED_ROWS))
def test_readme_numbers_match_the_committed_benchmark(label: str) -> None:
    rows = readme_rows()
    assert label in rows, f"README lost the row {label!r}"
    prefix, render = CHECKED_ROWS[label]
    assert rows[label] == render(newest(prefix))


# Rows checked by other means (a pass/fail report, not one number in one JSON), with where.
UNCHECKED_ROWS = {
    "overload at 2x capacity (adaptive admission)": "benchmarks/results/overload_adaptive-*.json",
    "soak, 10 min mixed at 10 rps": "benchmarks/results/hardening-*.md",
    "semantic cache stress set, 406 pairs EN/DE/ZH (threshold 0.85, verified)": (
        "benchmarks/results/quality_privacy-*.md"
    ),
    "PII corpus, 680 texts in 14 kinds, and 600 clean texts": (
        "benchmarks/results/quality_privacy-*.md"
    ),
    "hostile-mix soak, 300 s (normal traffic + 1 bad request/s)": (
        "benchmarks/results/hardening-20261208-013437.md"
    ),
}


def test_every_readme_number_has_a_source() -> None:
    unsourced = set(readme_rows()) - set(CHECKED_ROWS) - set(UNCHECKED_ROWS)
    assert not unsourced, f"README numbers with no committed source: {sorted(unsourced)}"


# README quality table: (data set, case) -> (results data set, results case)
QUALITY_ROWS = {
    ("Banking77 test (3080)", "label names only"): ("banking77 (test, 3080)", "label names only"),
    (
        "Banking77 test",
        "label names + the unlabeled train texts (`classifier fit --unlabeled`)",
    ): (
        "banking77 (test, 3080)",
        "label names + unlabeled train texts (`classifier fit --unlabeled`)",
    ),
    ("Banking77 test", "8 examples per label, kernel head (mean of 5 draws; min)"): (
        "banking77 (test, 3080)",
        "8 examples per label (auto: kernel head)",
    ),
    ("Banking77 test", "8 examples per label, softmax-regression head (the same 5 draws)"): (
        "banking77 (test, 3080)",
        "8 examples per label (linear head, before)",
    ),
    ("Banking77 test", "head on the full train split (softmax regression)"): (
        "banking77 (test, 3080)",
        "head on the full train split (auto: linear head)",
    ),
    ("support intents (168)", "label names only"): (
        "support intents (project-written, 168)",
        "label names only",
    ),
    ("support intents", "head on half (kernel), tested on the other half"): (
        "support intents (project-written, 168)",
        "head on half (12 per label), tested on the other half",
    ),
}


def quality_cells(result: dict[str, Any]) -> str:
    """'0.853' or, for seeded draws, '0.853; 0.835' (mean; min)."""
    shown = f"{result['accuracy']:.3f}"
    return f"{shown}; {result['min_accuracy']:.3f}" if "min_accuracy" in result else shown


def test_readme_quality_table_matches_the_newest_quality_results() -> None:
    text = (ROOT / "README.md").read_text()
    files = sorted(RESULTS.glob("quality-classification-2[0-9]*.json"))
    assert files and f"benchmarks/results/{files[-1].stem}.md" in text
    datasets = json.loads(files[-1].read_text())["datasets"]
    table = text.split("`python -m benchmarks.quality` measures", 1)[1].split("\n\n")[1]
    rows = [[c.strip() for c in line.strip().strip("|").split("|")] for line in table.splitlines()]
    found = {(r[0], r[1]): r[3:] for r in rows[2:]}
    assert set(found) == set(QUALITY_ROWS)
    for key, (dataset, case) in QUALITY_ROWS.items():
        int8 = datasets[f"{dataset}, int8"]["cases"][case]
        fp32 = datasets[f"{dataset}, fp32"]["cases"][case]
        assert found[key] == [quality_cells(int8), quality_cells(fp32), f"{int8['ece']:.3f}"], key
