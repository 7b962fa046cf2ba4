"""PNG plots (latency CDF per path, latency over time) and an HTML report embedding them.

matplotlib is the optional `bench` extra: it is imported only here, lazily, and a missing
install is reported as a note instead of failing the run.
"""

import html
from collections import defaultdict
from pathlib import Path
from typing import Any

from benchmarks.loadgen import RunResult, Sample


def _ok(sample: Sample) -> bool:
    return 200 <= sample.status < 300


def _series(samples: list[Sample]) -> dict[str, list[Sample]]:
    by: dict[str, list[Sample]] = defaultdict(list)
    for sample in samples:
        by[f"{sample.route}/{sample.task}" if _ok(sample) else "errors"].append(sample)
    return dict(sorted(by.items()))


def write_plots(stem: Path, runs: list[tuple[str, RunResult]], document: dict[str, Any]) -> str:
    """Write `<stem>-cdf.png`, `<stem>-timeline.png` and `<stem>.html`; return a note."""
    try:
        import matplotlib
    except ImportError:
        return "plots skipped: matplotlib is not installed (pip install 'hybrid-router[bench]')"
    matplotlib.use("Agg")
    from matplotlib import pyplot as plt
    from matplotlib.ticker import ScalarFormatter

    cdf_path, timeline_path = Path(f"{stem}-cdf.png"), Path(f"{stem}-timeline.png")
    fig, axes = plt.subplots(1, len(runs), figsize=(7 * len(runs), 4.5), squeeze=False)
    for ax, (label, run) in zip(axes[0], runs, strict=True):
        for name, samples in _series(run.recorder.samples).items():
            if name == "errors":
                continue
            values = sorted(s.latency_ms for s in samples)
            fractions = [(i + 1) / len(values) for i in range(len(values))]
            ax.step(values, fractions, where="post", label=f"{name} (n={len(values)})")
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(ScalarFormatter())
        ax.set_xlabel("latency from intended send (ms, log)")
        ax.set_ylabel("fraction of requests")
        ax.set_title(f"{document['scenario']} (upstream: {label}) latency CDF")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(cdf_path, dpi=100)
    plt.close(fig)

    fig, axes = plt.subplots(len(runs), 1, figsize=(10, 3.5 * len(runs)), squeeze=False)
    for ax, (label, run) in zip(axes[:, 0], runs, strict=True):
        for name, samples in _series(run.recorder.samples).items():
            ax.scatter(
                [s.intended_s for s in samples],
                [s.latency_ms for s in samples],
                s=6,
                marker="x" if name == "errors" else "o",
                label=name,
            )
        ax.set_yscale("log")
        ax.yaxis.set_major_formatter(ScalarFormatter())
        ax.set_xlabel("intended send time (s from start)")
        ax.set_ylabel("latency (ms, log)")
        ax.set_title(f"{document['scenario']} (upstream: {label}) latency over time")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(timeline_path, dpi=100)
    plt.close(fig)

    Path(f"{stem}.html").write_text(report_html(document, [cdf_path.name, timeline_path.name]))
    return f"plots: {cdf_path.name}, {timeline_path.name}, {Path(stem).name}.html"


def report_html(document: dict[str, Any], images: list[str]) -> str:
    """A small self-describing HTML page: the tables, then the plots."""
    esc = html.escape
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{esc(document['scenario'])} benchmark</title>",
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}</style></head><body>",
        f"<h1>{esc(document['scenario'])}</h1>",
        f"<p>{esc(document['created_utc'])} · commit {esc(document['git_commit'])} · "
        f"{esc(str(document['machine']['cpu_count']))} CPUs · "
        f"{esc(document['machine']['platform'])}</p>",
        f"<p><code>{esc(' '.join(document['command']))}</code></p>",
    ]
    for note in document.get("notes", []):
        parts.append(f"<p><em>{esc(note)}</em></p>")
    header = "<tr><th>run</th><th>path</th><th>task</th><th>ok</th><th>errors</th>"
    header += "<th>rps</th><th>p50</th><th>p90</th><th>p99</th><th>p99.9</th><th>max</th></tr>"
    parts.append(f"<table>{header}")
    for run in document["runs"]:
        for g in run["groups"]:
            lat = g["latency_ms"]
            parts.append(
                f"<tr><td>{esc(run['label'])}</td><td>{esc(g['path'])}</td>"
                f"<td>{esc(g['task'])}</td><td>{g['ok']}</td><td>{esc(str(g['errors']))}</td>"
                f"<td>{g['achieved_rps']}</td><td>{lat['p50']}</td><td>{lat['p90']}</td>"
                f"<td>{lat['p99']}</td><td>{lat['p99.9']}</td><td>{lat['max']}</td></tr>"
            )
    parts.append("</table><p>latencies in ms, from each request's intended send time</p>")
    for image in images:
        parts.append(f"<p><img src='{esc(image)}' alt='{esc(image)}'></p>")
    parts.append("</body></html>\n")
    return "\n".join(parts)
