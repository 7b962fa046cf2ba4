"""Results files: the machine, the commit, the command, the stats; and comparing two of them."""

import datetime as dt
import json
import os
import platform
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge_models.minilm_assets import has_vnni

DEFAULT_OUT = Path(__file__).parent / "results"
RATIO_KEYS = ("p50", "p99")


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo ("" where there is none)."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return ""
    return next((x.split(":", 1)[1].strip() for x in lines if x.startswith("model name")), "")


def machine() -> dict[str, Any]:
    """Where the numbers were measured."""
    return {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor(),
        "cpu_model": cpu_model(),
        "int8_vnni": has_vnni(),
        "cpu_count": os.cpu_count(),
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
    }


def git_commit(cwd: Path | None = None) -> str:
    """`git rev-parse HEAD` (with `+dirty` when the tree has changes), else "uncommitted"."""
    where = cwd or Path(__file__).parent
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True, timeout=5
        )
        if head.returncode != 0:
            return "uncommitted"
        status = subprocess.run(
            ["git", "status", "--porcelain"], cwd=where, capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.TimeoutExpired):
        return "uncommitted"
    commit = head.stdout.strip()
    return f"{commit}+dirty" if status.stdout.strip() else commit


def timestamp() -> str:
    """UTC time for file names: 20250101-120000."""
    return dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S")


def envelope(scenario: str, command: list[str], config: dict[str, Any]) -> dict[str, Any]:
    """The fields every results file carries."""
    return {
        "scenario": scenario,
        "created_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "git_commit": git_commit(),
        "command": command,
        "config": config,
    }


def write_results(out_dir: Path, stem: str, document: dict[str, Any]) -> Path:
    """Write `<out_dir>/<stem>.json` and return its path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{stem}.json"
    path.write_text(json.dumps(document, indent=2, default=str) + "\n")
    return path


def overhead(groups: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """For each task served both directly and via the edge: the edge's cost as ratios."""
    direct = {g["task"]: g for g in groups if g["path"] == "direct" and g["ok"]}
    rows = []
    for group in groups:
        base = direct.get(group["task"])
        if group["path"] == "direct" or base is None or not group["ok"]:
            continue
        via, raw = group["latency_ms"], base["latency_ms"]
        row: dict[str, Any] = {"task": group["task"], "via": group["path"]}
        for key in RATIO_KEYS:
            row[f"{key}_ratio"] = round(via[key] / raw[key], 3) if raw[key] else None
            row[f"{key}_delta_ms"] = round(via[key] - raw[key], 3)
        rows.append(row)
    return rows


@dataclass(frozen=True)
class CompareRow:
    """One path+task's p50/p99 now vs the baseline."""

    run: str
    path: str
    task: str
    base: dict[str, float]
    current: dict[str, float]
    ratios: dict[str, float | None]
    regressed: bool


def _index(document: dict[str, Any]) -> dict[tuple[str, str, str], dict[str, float]]:
    return {
        (run.get("label", "main"), g["path"], g["task"]): g["latency_ms"]
        for run in document.get("runs", [])
        for g in run.get("groups", [])
        if g.get("ok")
    }


def compare(
    baseline: dict[str, Any], current: dict[str, Any], threshold: float
) -> list[CompareRow]:
    """Ratios current/baseline of p50 and p99 for every group both have."""
    base_index, cur_index = _index(baseline), _index(current)
    rows = []
    for key in sorted(base_index.keys() & cur_index.keys()):
        base, cur = base_index[key], cur_index[key]
        ratios = {k: (round(cur[k] / base[k], 3) if base[k] else None) for k in RATIO_KEYS}
        regressed = any(r is not None and r > 1 + threshold for r in ratios.values())
        rows.append(
            CompareRow(
                key[0],
                key[1],
                key[2],
                {k: base[k] for k in RATIO_KEYS},
                {k: cur[k] for k in RATIO_KEYS},
                ratios,
                regressed,
            )
        )
    return rows


def format_compare(rows: list[CompareRow], threshold: float) -> str:
    """A plain-text table of the comparison."""
    lines = [
        f"{'run':10} {'path':8} {'task':16} {'p50 base→now (ms)':>24} {'ratio':>6} "
        f"{'p99 base→now (ms)':>24} {'ratio':>6}  (regression > {1 + threshold:.2f}x)"
    ]
    for row in rows:
        cells = []
        for key in RATIO_KEYS:
            ratio = row.ratios[key]
            cells.append(f"{row.base[key]:>10.2f} → {row.current[key]:<10.2f}")
            cells.append(f"{ratio:>6.2f}" if ratio is not None else f"{'-':>6}")
        flag = "  REGRESSED" if row.regressed else ""
        lines.append(f"{row.run:10} {row.path:8} {row.task:16} " + " ".join(cells) + flag)
    return "\n".join(lines)


def load(path: Path) -> dict[str, Any]:
    """A results file."""
    return dict(json.loads(path.read_text()))
