"""`hybrid-router bench`: run scenarios, write results JSON (+ plots), compare with a baseline.

Wire into the main CLI with `benchmarks.cli.add_subcommand(sub)`; standalone it is
`python -m benchmarks.cli [options]`.
"""

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.loadgen import RunResult
from benchmarks.node import DEFAULT_KEY_ID
from benchmarks.results import (
    DEFAULT_OUT,
    compare,
    envelope,
    format_compare,
    load,
    timestamp,
    write_results,
)
from benchmarks.runner import (
    RunOptions,
    environment,
    format_sweep,
    run_entry,
    run_mix,
    sweep,
)
from benchmarks.scenarios import Scenario, builtin_names, load_scenario

SECRET_ENV = "HYBRID_ROUTER_CENTRAL__SECRET"
EXIT_REGRESSION = 1
EXIT_NOTHING_TO_COMPARE = 2


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The `bench` options."""
    parser.add_argument(
        "--scenario",
        action="append",
        metavar="NAME|FILE",
        help=f"scenario to run, repeatable, or `all` (built-in: {', '.join(builtin_names())})",
    )
    parser.add_argument("--url", help="a running edge node (default: start `up` for the run)")
    parser.add_argument("--central-url", help="with --url: the central for direct calls")
    parser.add_argument("--key-id", default=DEFAULT_KEY_ID, help="key id for direct calls")
    parser.add_argument("--rate", type=float, help="offered requests/s (default per scenario)")
    parser.add_argument("--duration", type=float, help="seconds per run (default per scenario)")
    parser.add_argument("--closed-loop", type=int, metavar="N", help="N workers back to back")
    parser.add_argument("--max-in-flight", type=int, default=512, help="open-loop cap")
    parser.add_argument(
        "--warmup", type=float, default=2.0, help="seconds of unrecorded load before each run"
    )
    parser.add_argument("--timeout", type=float, default=60.0, help="per-request timeout (s)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="results directory")
    parser.add_argument("--compare", type=Path, metavar="BASELINE.json", help="baseline file")
    parser.add_argument("--threshold", type=float, default=0.2, help="regression ratio margin")
    parser.add_argument(
        "--current", type=Path, metavar="RESULTS.json", help="with --compare: compare this file"
    )
    parser.add_argument("--plot", action="store_true", help="PNG plots + an HTML report")
    parser.add_argument("--sweep", action="store_true", help="find the best rate per task")
    parser.add_argument("--p99-target-ms", type=float, default=100.0, help="sweep p99 target")
    parser.add_argument("--no-progress", action="store_true", help="no progress line on stderr")


def add_subcommand(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add `bench` to the main CLI's subparsers."""
    parser = sub.add_parser("bench", help="latency benchmarks of each path")
    add_arguments(parser)
    parser.set_defaults(func=cmd_bench)


def resolve_scenarios(names: list[str] | None) -> list[Scenario]:
    """Scenario names/files (or `all`) to scenarios; the default is all built-ins."""
    wanted = names or ["all"]
    expanded = [n for name in wanted for n in (builtin_names() if name == "all" else [name])]
    return [load_scenario(name) for name in dict.fromkeys(expanded)]


def compare_files(baseline: Path, current: dict[str, Any], threshold: float) -> int:
    """Print the ratio table; 1 on a regression beyond the threshold, 2 if nothing matches."""
    rows = compare(load(baseline), current, threshold)
    if not rows:
        print(f"compare: no path+task in common with {baseline}", file=sys.stderr)
        return EXIT_NOTHING_TO_COMPARE
    print(format_compare(rows, threshold))
    regressed = [r for r in rows if r.regressed]
    if regressed:
        print(f"compare: {len(regressed)} regression(s) beyond {threshold:.0%}", file=sys.stderr)
        return EXIT_REGRESSION
    return 0


def format_run(entry: dict[str, Any]) -> str:
    """A run's groups as a text table."""
    lines = [
        f"  [upstream: {entry['label']}] {entry['mode']} loop: offered {entry['offered_rps']} rps, "
        f"achieved {entry['achieved_rps']} rps, {entry['completed']} done, "
        f"{entry['error_count']} errors in {entry['elapsed_s']} s",
        f"  {'path':8} {'task':16} {'ok':>6} {'rps':>7} {'p50':>8} {'p90':>8} {'p99':>8} "
        f"{'p99.9':>8} {'max':>8}  errors",
    ]
    for g in entry["groups"]:
        lat = g["latency_ms"]
        lines.append(
            f"  {g['path']:8} {g['task']:16} {g['ok']:>6} {g['achieved_rps']:>7.2f} "
            f"{lat['p50']:>8.2f} {lat['p90']:>8.2f} {lat['p99']:>8.2f} {lat['p99.9']:>8.2f} "
            f"{lat['max']:>8.2f}  {g['errors'] or ''}"
        )
    for row in entry.get("overhead", []):
        lines.append(
            f"  overhead {row['task']} via {row['via']} vs direct: p50 x{row['p50_ratio']} "
            f"(+{row['p50_delta_ms']} ms), p99 x{row['p99_ratio']} (+{row['p99_delta_ms']} ms)"
        )
    return "\n".join(lines)


async def bench(args: argparse.Namespace, command: list[str]) -> int:
    """Run every scenario asked for; write one results file each; compare if asked."""
    scenarios = resolve_scenarios(args.scenario)
    opts = RunOptions(
        rate=args.rate,
        duration_s=args.duration,
        closed_loop=args.closed_loop,
        max_in_flight=args.max_in_flight,
        timeout_s=args.timeout,
        progress=not args.no_progress,
        warmup_s=args.warmup,
    )
    status = 0
    secret = os.environ.get(SECRET_ENV)
    async with environment(args.url, args.central_url, args.key_id, secret) as env:
        for scenario in scenarios:
            notes: list[str] = []
            runs: list[tuple[str, RunResult]] = []
            sweeps: list[dict[str, Any]] = []
            print(f"== {scenario.name}: {scenario.description.strip()}", flush=True)
            for upstream in scenario.upstreams:
                env.notes.clear()
                targets = await env.targets(upstream)
                notes.extend(env.notes)
                if targets is None:
                    continue
                mix = scenario.for_upstream(upstream)
                if args.sweep:
                    rows = await sweep(mix, targets, opts, args.p99_target_ms, notes)
                    sweeps.extend({"upstream": upstream, **row} for row in rows)
                    print(format_sweep(rows), flush=True)
                else:
                    runs.append((upstream, await run_mix(mix, targets, opts, notes)))
            config = {
                "scenario": scenario.model_dump(),
                "options": {k: v for k, v in vars(args).items() if k != "func"},
                "target": args.url or "own `hybrid-router up` (free ports)",
            }
            document = envelope(scenario.name, command, config)
            document["notes"] = list(dict.fromkeys(notes))
            document["runs"] = [run_entry(label, label, result) for label, result in runs]
            if sweeps:
                document["sweep"] = sweeps
            stem = f"{scenario.name}{'-sweep' if args.sweep else ''}-{timestamp()}"
            path = write_results(args.out, stem, document)
            for entry in document["runs"]:
                print(format_run(entry), flush=True)
            for note in document["notes"]:
                print(f"  note: {note}", flush=True)
            if args.plot and runs:
                from benchmarks.plots import write_plots

                print(f"  {write_plots(args.out / stem, runs, document)}", flush=True)
            print(f"  results: {path}", flush=True)
            if args.compare is not None:
                status = max(status, compare_files(args.compare, document, args.threshold))
    return status


def cmd_bench(args: argparse.Namespace) -> int:
    """Entry point of `hybrid-router bench`."""
    if args.current is not None:
        if args.compare is None:
            print("--current needs --compare BASELINE.json", file=sys.stderr)
            return EXIT_NOTHING_TO_COMPARE
        return compare_files(args.compare, load(args.current), args.threshold)
    command = getattr(args, "argv", None) or list(sys.argv)
    return asyncio.run(bench(args, command))


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m benchmarks.cli`: the same options as `hybrid-router bench`."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.cli", description=__doc__)
    add_arguments(parser)
    args = parser.parse_args(argv)
    args.argv = ["python", "-m", "benchmarks.cli", *(sys.argv[1:] if argv is None else argv)]
    return cmd_bench(args)


if __name__ == "__main__":
    sys.exit(main())
