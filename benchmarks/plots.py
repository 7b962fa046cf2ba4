"""PNG plots (latency CDF per path, latency over time) and an HTML report embedding them.

matplotlib is the optional `bench` extra: it is imported only here, lazily, and a missing
install is reported as a note instead of failing the run. Log axes get decade ticks with
minor ticks (labelled at 2 and 5 when the data spans few decades); p50, p99 and p99.9 are
marked on both plots.
"""

import html
import math
from collections import defaultdict
from pathlib import Path
from typing import Any

from benchmarks.loadgen import RunResult, Sample

MARKS = ((0.5, "p50"), (0.99, "p99"), (0.999, "p99.9"))
EDGE_ROUTES = frozenset({"edge", "cache"})


def _ok(sample: Sample) -> bool:
    return 200 <= sample.status < 300


def _series(samples: list[Sample]) -> dict[str, list[Sample]]:
    by: dict[str, list[Sample]] = defaultdict(list)
    for sample in samples:
        by[f"{sample.route}/{sample.task}" if _ok(sample) else "errors"].append(sample)
    return dict(sorted(by.items()))


def quantile(values: list[float], q: float) -> float:
    """Nearest-rank quantile of sorted values."""
    return values[min(len(values) - 1, max(0, math.ceil(q * len(values)) - 1))]


def ms(value: float) -> str:
    """A latency for a label: '7.4', '106', '10674' (never 1.07e+04)."""
    return f"{value:.0f}" if value >= 100 else f"{value:.3g}"


def enough(n: int, q: float) -> bool:
    """Whether n samples say anything about the q-quantile (p99.9 needs 500, p99 needs 50)."""
    return n > 0 and (q == 0.5 or n * (1 - q) >= 0.5)


def run_title(scenario: str, label: str, samples: list[Sample]) -> str:
    """'scenario (edge only)' when no answer came from the central, else names the upstream."""
    routes = {s.route for s in samples if _ok(s)}
    if routes and routes <= EDGE_ROUTES:
        return f"{scenario} (edge only)"
    return f"{scenario} (upstream: {label})"


def error_kinds(errors: dict[str, int] | None) -> str:
    """'429: 3, timeout: 1', or 'none'."""
    if not errors:
        return "none"
    return ", ".join(f"{kind}: {n}" for kind, n in sorted(errors.items(), key=lambda x: -x[1]))


def _log_axis(axis: Any, low: float, high: float) -> None:
    """Decade major ticks, 2..9 minor ticks; label 2 and 5 too when the span is small."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    def plain(value: float, _pos: int) -> str:
        return f"{value:g}"

    axis.set_major_locator(LogLocator(base=10))
    axis.set_major_formatter(FuncFormatter(plain))
    decades = math.log10(max(high, 1e-9) / max(low, 1e-9))
    subs = (2.0, 5.0) if decades <= 2.5 else ()
    axis.set_minor_locator(LogLocator(base=10, subs=tuple(range(2, 10))))
    if subs:
        axis.set_minor_formatter(
            FuncFormatter(
                lambda v, _p: f"{v:g}" if round(v / 10 ** math.floor(math.log10(v))) in subs else ""
            )
        )
    else:
        axis.set_minor_formatter(NullFormatter())


def _cdf(ax: Any, title: str, series: dict[str, list[Sample]]) -> None:
    """Latency CDF per path on a logit y axis (p50/p90/p99/p99.9 evenly spread)."""
    everything = [s.latency_ms for name, xs in series.items() if name != "errors" for s in xs]
    for k, (name, samples) in enumerate(x for x in series.items() if x[0] != "errors"):
        values = sorted(s.latency_ms for s in samples)
        n = len(values)
        fractions = [min((i + 1) / n, 0.9999) for i in range(n)]  # logit: 1.0 is off the axis
        (line,) = ax.step(values, fractions, where="post", label=f"{name} (n={n})")
        for q, mark in MARKS:
            if enough(n, q):
                value = quantile(values, q)
                ax.plot([value], [q], "o", color=line.get_color(), ms=5)
                ax.annotate(
                    f"{mark} {ms(value)}",
                    (value, q),
                    textcoords="offset points",
                    xytext=(6, -10 - 9 * k),  # staggered so series do not overprint
                    fontsize=7,
                    color=line.get_color(),
                )
    ax.set_xscale("log")
    ax.set_yscale("logit")
    ax.set_ylim(0.01, 0.9995)
    ax.set_yticks([0.01, 0.1, 0.5, 0.9, 0.99, 0.999])
    ax.set_yticklabels(["p1", "p10", "p50", "p90", "p99", "p99.9"])
    ax.yaxis.set_minor_locator(_null_locator())
    if everything:
        _log_axis(ax.xaxis, min(everything), max(everything))
    ax.set_xlabel("latency from intended send (ms, log)")
    ax.set_ylabel("percentile")
    ax.set_title(f"{title}: latency CDF")
    ax.grid(True, which="major", alpha=0.4)
    ax.grid(True, which="minor", alpha=0.15)
    ax.legend(fontsize=8, loc="lower right")


def _null_locator() -> Any:
    from matplotlib.ticker import NullLocator

    return NullLocator()


def _timeline(ax: Any, title: str, series: dict[str, list[Sample]]) -> None:
    """Latency of every request over time, with the run's p50/p99/p99.9 as lines."""
    ok = sorted(s.latency_ms for name, xs in series.items() if name != "errors" for s in xs)
    for name, samples in series.items():
        ax.scatter(
            [s.intended_s for s in samples],
            [s.latency_ms for s in samples],
            s=6,
            marker="x" if name == "errors" else "o",
            label=name if name != "errors" else f"errors (n={len(samples)})",
        )
    styles = {"p50": ":", "p99": "--", "p99.9": "-."}
    for q, mark in MARKS:
        if enough(len(ok), q):
            value = quantile(ok, q)
            ax.axhline(value, color="0.3", lw=0.8, ls=styles[mark])
            ax.annotate(
                f"{mark} {ms(value)} ms",
                (1.0, value),
                xycoords=("axes fraction", "data"),
                xytext=(-4, 2),
                textcoords="offset points",
                ha="right",
                fontsize=7,
            )
    every = [s.latency_ms for xs in series.values() for s in xs if s.latency_ms > 0]
    ax.set_yscale("log")
    if every:
        _log_axis(ax.yaxis, min(every), max(every))
    ax.set_xlabel("intended send time (s from start)")
    ax.set_ylabel("latency (ms, log)")
    ax.set_title(f"{title}: latency over time")
    ax.grid(True, which="major", alpha=0.4)
    ax.grid(True, which="minor", alpha=0.15)
    ax.legend(fontsize=8, loc="upper left")


def write_plots(stem: Path, runs: list[tuple[str, RunResult]], document: dict[str, Any]) -> str:
    """Write `<stem>-cdf.png`, `<stem>-timeline.png` and `<stem>.html`; return a note."""
    try:
        import matplotlib
    except ImportError:
        return "plots skipped: matplotlib is not installed (pip install 'hybrid-router[bench]')"
    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    cdf_path, timeline_path = Path(f"{stem}-cdf.png"), Path(f"{stem}-timeline.png")
    fig, axes = plt.subplots(1, len(runs), figsize=(7 * len(runs), 4.8), squeeze=False)
    for ax, (label, run) in zip(axes[0], runs, strict=True):
        samples = run.recorder.samples
        _cdf(ax, run_title(document["scenario"], label, samples), _series(samples))
    fig.tight_layout()
    fig.savefig(cdf_path, dpi=100)
    plt.close(fig)

    fig, axes = plt.subplots(len(runs), 1, figsize=(10, 3.8 * len(runs)), squeeze=False)
    for ax, (label, run) in zip(axes[:, 0], runs, strict=True):
        samples = run.recorder.samples
        _timeline(ax, run_title(document["scenario"], label, samples), _series(samples))
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
        f"<p><code>{esc(' '.join(str(c) for c in document['command']))}</code></p>",
    ]
    for note in document.get("notes", []):
        parts.append(f"<p><em>{esc(note)}</em></p>")
    header = "<tr><th>run</th><th>path</th><th>task</th><th>ok</th><th>errors by kind</th>"
    header += "<th>rps</th><th>p50</th><th>p90</th><th>p99</th><th>p99.9</th><th>max</th></tr>"
    parts.append(f"<table>{header}")
    for run in document["runs"]:
        for g in run["groups"]:
            lat = g["latency_ms"]
            parts.append(
                f"<tr><td>{esc(run['label'])}</td><td>{esc(g['path'])}</td>"
                f"<td>{esc(g['task'])}</td><td>{g['ok']}</td>"
                f"<td>{esc(error_kinds(g.get('errors')))}</td>"
                f"<td>{g['achieved_rps']}</td><td>{lat['p50']}</td><td>{lat['p90']}</td>"
                f"<td>{lat['p99']}</td><td>{lat['p99.9']}</td><td>{lat['max']}</td></tr>"
            )
        overall = run.get("overall", {})
        if overall:
            parts.append(
                f"<tr><td>{esc(run['label'])}</td><td colspan='3'>all requests "
                f"({overall.get('requests', '')})</td>"
                f"<td>{esc(error_kinds(overall.get('errors')))}</td><td colspan='6'></td></tr>"
            )
    parts.append("</table><p>latencies in ms, from each request's intended send time</p>")
    for image in images:
        parts.append(f"<p><img src='{esc(image)}' alt='{esc(image)}'></p>")
    parts.append("</body></html>\n")
    return "\n".join(parts)
