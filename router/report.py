"""`hybrid-router report`: cost and latency from the call log, and which queries to cache.

Groups by route, task and caller (count, errors, p50/p99 latency, total cost), then lists the
queries (by `query_hash`) seen at least twice, most expensive and slowest first: the candidates
to cache or to move to the edge.
"""

from __future__ import annotations

import argparse
import json
import math
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from router.calllog import log_files

GROUPS = ("route", "task", "caller")


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of an ascending sequence (0 when empty)."""
    if not sorted_values:
        return 0.0
    rank = max(1, math.ceil(q * len(sorted_values)))
    return float(sorted_values[rank - 1])


@dataclass(frozen=True)
class Summary:
    """Count, errors, latency percentiles and cost of a group of calls."""

    key: str
    count: int
    errors: int
    p50_ms: float
    p99_ms: float
    total_cost: float


@dataclass(frozen=True)
class RepeatedQuery:
    """One query hash seen several times."""

    query_hash: str
    count: int
    task: str
    routes: tuple[str, ...]
    p50_ms: float
    total_cost: float


@dataclass(frozen=True)
class Report:
    """Everything `hybrid-router report` prints."""

    files: tuple[str, ...]
    records: int
    skipped_lines: int
    total_cost: float
    by: dict[str, list[Summary]]
    most_expensive: list[RepeatedQuery]
    slowest: list[RepeatedQuery]

    def to_json(self) -> dict[str, Any]:
        """Plain JSON-ready data."""
        return asdict(self)


def read_records(files: Iterable[Path]) -> tuple[list[dict[str, Any]], int]:
    """Every record of the files in order, and how many lines were not valid records."""
    records: list[dict[str, Any]] = []
    skipped = 0
    for path in files:
        with path.open(encoding="utf-8") as lines:
            for line in lines:
                try:
                    record = json.loads(line)
                except ValueError:
                    skipped += 1
                    continue
                if isinstance(record, dict) and "latency_ms" in record:
                    records.append(record)
                else:
                    skipped += 1
    return records, skipped


def summarise(key: str, records: Sequence[dict[str, Any]]) -> Summary:
    """One group's numbers."""
    latencies = sorted(float(r["latency_ms"]) for r in records)
    return Summary(
        key=key,
        count=len(records),
        errors=sum(1 for r in records if int(r.get("status", 0)) >= 400),
        p50_ms=percentile(latencies, 0.50),
        p99_ms=percentile(latencies, 0.99),
        total_cost=round(sum(float(r.get("cost", 0.0)) for r in records), 8),
    )


def _grouped(records: Iterable[dict[str, Any]], field: str) -> Iterator[tuple[str, list]]:
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for record in records:
        groups[str(record.get(field, ""))].append(record)
    return iter(groups.items())


def repeated_queries(records: Iterable[dict[str, Any]]) -> list[RepeatedQuery]:
    """Queries seen at least twice (successful calls only)."""
    found = []
    ok = (r for r in records if r.get("query_hash") and 200 <= int(r.get("status", 0)) < 300)
    for digest, group in _grouped(ok, "query_hash"):
        if len(group) < 2:
            continue
        found.append(
            RepeatedQuery(
                query_hash=digest,
                count=len(group),
                task=str(group[0].get("task", "")),
                routes=tuple(sorted({str(r.get("route", "")) for r in group})),
                p50_ms=percentile(sorted(float(r["latency_ms"]) for r in group), 0.5),
                total_cost=round(sum(float(r.get("cost", 0.0)) for r in group), 8),
            )
        )
    return found


def build_report(files: Sequence[Path], top: int = 10) -> Report:
    """The report over the given log files."""
    records, skipped = read_records(files)
    by = {
        field: sorted(
            (summarise(key, group) for key, group in _grouped(records, field)),
            key=lambda s: (-s.total_cost, -s.count, s.key),
        )
        for field in GROUPS
    }
    repeated = repeated_queries(records)
    return Report(
        files=tuple(str(f) for f in files),
        records=len(records),
        skipped_lines=skipped,
        total_cost=round(sum(float(r.get("cost", 0.0)) for r in records), 8),
        by=by,
        most_expensive=sorted(repeated, key=lambda q: (-q.total_cost, -q.count))[:top],
        slowest=sorted(repeated, key=lambda q: (-q.p50_ms, -q.count))[:top],
    )


def render_text(report: Report) -> str:
    """A human-readable report."""
    out = [
        f"{report.records} calls from {len(report.files)} file(s), "
        f"total cost {report.total_cost:.6f}"
        + (f", {report.skipped_lines} unreadable lines skipped" if report.skipped_lines else "")
    ]
    for field, summaries in report.by.items():
        out.append("")
        out.append(f"by {field}:")
        out.append(f"  {'':24} {'count':>7} {'errors':>7} {'p50 ms':>9} {'p99 ms':>9} {'cost':>12}")
        for s in summaries:
            out.append(
                f"  {s.key[:24]:24} {s.count:7d} {s.errors:7d} {s.p50_ms:9.1f} {s.p99_ms:9.1f} "
                f"{s.total_cost:12.6f}"
            )
    for title, queries in (
        ("most expensive repeated queries (cache or move to the edge)", report.most_expensive),
        ("slowest repeated queries", report.slowest),
    ):
        out.append("")
        out.append(f"{title}:")
        if not queries:
            out.append("  (none seen twice)")
        for q in queries:
            out.append(
                f"  {q.query_hash[:16]}  x{q.count:<5d} {q.task:14} {','.join(q.routes):14} "
                f"p50 {q.p50_ms:9.1f} ms  cost {q.total_cost:.6f}"
            )
    return "\n".join(out)


def cmd_report(args: argparse.Namespace) -> int:
    """Print the report of the call log (the configured one unless `--log` is given)."""
    if args.log:
        files = [f for path in args.log for f in log_files(path)]
    else:
        from router.settings import load_settings

        configured = load_settings(args.config).call_log.path
        files = log_files(configured)
    if not files:
        print("no call log files found", flush=True)
        return 1
    report = build_report(files, top=args.top)
    print(json.dumps(report.to_json(), indent=2) if args.json else render_text(report))
    return 0


def add_subcommand(sub: argparse._SubParsersAction) -> None:
    """Add `report` to the CLI's subcommands."""
    parser = sub.add_parser("report", help="cost and latency from the call log")
    parser.add_argument(
        "--log",
        type=Path,
        action="append",
        help="call log file (its rotated backups are read too); repeatable",
    )
    parser.add_argument("--config", type=Path, help="YAML config file (for call_log.path)")
    parser.add_argument("--top", type=int, default=10, help="repeated queries to list")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.set_defaults(func=cmd_report)
