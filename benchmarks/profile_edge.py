"""Profile of the edge process under load: py-spy samples aggregated to top frames.

    python -m benchmarks.profile_edge --path chat|embed [--seconds 15] [--rate 200]
                                      [--workers 8] [--top 15] [--sampling-rate 200]
                                      [--edge-env KEY=VALUE ...] [--keep-raw FILE]

`chat`: an edge wired to the fast OpenAI-compatible upstream of `benchmarks.central_overhead`,
driven open loop at `--rate` on `/v1/chat/completions`. `embed`: an embed-only edge driven
closed loop by `--workers` callers on `/v3/.../generate` (no cache). While the load runs,
`py-spy record --format raw` samples the edge's Python threads (idle ones, and waits py-spy
misses, left out: `IDLE`); every frame's self share (leaf of a sample) and cumulative share
(anywhere in it, once per sample) of the busy samples is ranked (cumulative twice: all frames,
then the project's own), printed and written to
`benchmarks/results/profile_edge-<path>-<ts>.{json,md}`, with the busy thread-milliseconds
per answered request (busy samples / sampling rate / requests answered while sampled).
"""

import argparse
import asyncio
import contextlib
import re
import shutil
import sys
import tempfile
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from benchmarks.central_overhead import EDGE_ENV, chat_request
from benchmarks.embed_http import EMBED_ONLY, NO_CACHE, NO_CENTRAL
from benchmarks.embed_http import PATH as EMBED_PATH
from benchmarks.loadgen import HttpSender, Request, RunResult, Target, closed_loop, open_loop
from benchmarks.node import Node, free_port, local_edge, process
from benchmarks.results import DEFAULT_OUT, envelope, timestamp, write_results

PROJECT = ("(router/", "(common/", "(central_client/", "(edge_models/")
# Leaves that are waiting, not working, though py-spy counts them: a pool thread waiting for
# work, the event loop waiting for I/O. Left out, and counted as `idle_samples`.
IDLE = ("_worker (futures/thread.py)", "EpollSelector.select (")
LINE = re.compile(r"^(?P<stack>.*) (?P<count>\d+)$")
LINENO = re.compile(r":\d+\)$")
WARMUP_S = 2.0


@dataclass(frozen=True)
class Frame:
    """One function's share of the samples: as the leaf (self) and anywhere (cumulative)."""

    frame: str
    self_pct: float
    cumulative_pct: float


def frame_name(raw: str) -> str:
    """`fn (path/to/file.py:12)` -> `fn (to/file.py)`: one row per function, not per line."""
    name = LINENO.sub(")", raw.strip())
    head, sep, path = name.partition(" (")
    return f"{head} ({'/'.join(Path(path.rstrip(')')).parts[-2:])})" if sep else name


def aggregate(raw: str) -> tuple[int, int, list[Frame]]:
    """Busy and idle samples, and every frame's self and cumulative share of the busy ones."""
    own: Counter[str] = Counter()
    cumulative: Counter[str] = Counter()
    total = idle = 0
    for line in raw.splitlines():
        match = LINE.match(line.strip())
        if match is None:
            continue
        count = int(match["count"])
        frames = [frame_name(f) for f in match["stack"].split(";") if f]
        if not frames:
            continue
        if frames[-1].startswith(IDLE):
            idle += count
            continue
        total += count
        own[frames[-1]] += count
        for name in set(frames):
            cumulative[name] += count
    if total == 0:
        return 0, idle, []
    rows = [
        Frame(name, round(100 * own[name] / total, 2), round(100 * cumulative[name] / total, 2))
        for name in cumulative
    ]
    return total, idle, rows


def top(rows: list[Frame], n: int, key: str, project_only: bool = False) -> list[Frame]:
    """The `n` frames with the largest `key` share (only the project's own code if asked)."""
    kept = [f for f in rows if not project_only or any(p in f.frame for p in PROJECT)]
    return sorted(kept, key=lambda f: getattr(f, key), reverse=True)[:n]


def py_spy() -> str:
    """The py-spy CLI beside this interpreter, else on PATH."""
    here = Path(sys.executable).parent / "py-spy"
    found = str(here) if here.is_file() else shutil.which("py-spy")
    if found is None:
        raise SystemExit("py-spy is missing: pip install 'hybrid-router[bench]'")
    return found


@contextlib.asynccontextmanager
async def edge_for(path: str, extra_env: dict[str, str]) -> AsyncIterator[Node]:
    """An edge set up for `path` (chat: with the fast upstream beside it)."""
    if path == "embed":
        async with local_edge(NO_CENTRAL, {**EMBED_ONLY, **extra_env}, "edge-embed") as node:
            yield node
        return
    port = free_port()
    upstream = f"http://127.0.0.1:{port}"
    argv = [sys.executable, "-m", "benchmarks.central_overhead", "upstream", "--port", str(port)]
    async with (
        process(argv, {}, upstream + "/healthz", "upstream"),
        local_edge(upstream, {**EDGE_ENV, **extra_env}, "edge-central") as node,
    ):
        yield node


async def drive(send: HttpSender, args: argparse.Namespace, seconds: float) -> RunResult:
    """The path's load for `seconds`."""
    if args.path == "chat":
        return await open_loop(send, chat_request("edge"), args.rate, seconds)
    embed = Request("POST", EMBED_PATH, NO_CACHE, "embed")
    return await closed_loop(send, lambda i: embed, args.workers, seconds)


async def profile(args: argparse.Namespace, raw_file: Path) -> dict[str, Any]:
    """Warm the edge, then sample it with py-spy while the load runs."""
    extra_env = dict(item.split("=", 1) for item in args.edge_env)
    async with edge_for(args.path, extra_env) as node:
        assert node.pid is not None
        connector = aiohttp.TCPConnector(limit=512)
        async with aiohttp.ClientSession(connector=connector) as session:
            send = HttpSender(session, {"edge": Target(node.url, route_label="edge")}, 30)
            await drive(send, args, WARMUP_S)
            spy = await asyncio.create_subprocess_exec(
                py_spy(), "record", "-p", str(node.pid), "-d", str(int(args.seconds)),
                "-r", str(args.sampling_rate), "--format", "raw", "-o", str(raw_file),
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
            )  # fmt: skip
            load = await drive(send, args, args.seconds + 1.0)
            _, err = await spy.communicate()
            if spy.returncode != 0:
                raise RuntimeError(f"py-spy failed ({spy.returncode}): {err.decode()[-2000:]}")
    overall = load.recorder.overall
    return {"ok": overall.ok, "errors": dict(overall.errors), "elapsed_s": load.elapsed_s}


def markdown(document: dict[str, Any]) -> str:
    """The two top-N tables as Markdown."""
    lines = [
        f"# Edge profile: {document['path']} ({document['samples']} busy samples, "
        f"{document['idle_samples']} idle left out, "
        f"{document['busy_ms_per_request']} busy ms per request, "
        f"{document['load']['ok']} requests in {document['load']['elapsed_s']:.1f} s)",
        "",
    ]
    tables = (
        ("top_self", "self"),
        ("top_cumulative", "cumulative"),
        ("top_cumulative_project", "cumulative, the project's own frames"),
    )
    for key, title in tables:
        lines += [f"## Top by {title}", "", "| frame | self % | cum % |", "|---|---|---|"]
        lines += [
            f"| `{row['frame']}` | {row['self_pct']} | {row['cumulative_pct']} |"
            for row in document[key]
        ]
        lines.append("")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m benchmarks.profile_edge`."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profile_edge")
    parser.add_argument("--path", choices=["chat", "embed"], required=True)
    parser.add_argument("--seconds", type=float, default=15.0, help="seconds sampled")
    parser.add_argument("--rate", type=float, default=200.0, help="chat: open-loop req/s")
    parser.add_argument("--workers", type=int, default=8, help="embed: closed-loop callers")
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument("--sampling-rate", type=int, default=200, help="py-spy samples/s")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument(
        "--edge-env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra environment of the edge (e.g. PYTHONPATH=DIR: profile another checkout)",
    )
    parser.add_argument("--keep-raw", type=Path, help="also keep py-spy's collapsed stacks here")
    args = parser.parse_args(argv)
    document = envelope(
        "profile_edge", ["python", "-m", "benchmarks.profile_edge", *argv], vars(args)
    )
    with tempfile.TemporaryDirectory() as tmp:
        raw_file = Path(tmp) / "edge.txt"
        load = asyncio.run(profile(args, raw_file))
        samples, idle, rows = aggregate(raw_file.read_text())
        if args.keep_raw is not None:
            shutil.copyfile(raw_file, args.keep_raw)
    sampled = max(1.0, load["ok"] * args.seconds / load["elapsed_s"])  # answered while sampled
    document.update(
        path=args.path,
        load=load,
        samples=samples,
        idle_samples=idle,
        busy_ms_per_request=round(1000 * samples / args.sampling_rate / sampled, 3),
        top_self=[vars(f) for f in top(rows, args.top, "self_pct")],
        top_cumulative=[vars(f) for f in top(rows, args.top, "cumulative_pct")],
        top_cumulative_project=[
            vars(f) for f in top(rows, args.top, "cumulative_pct", project_only=True)
        ],
    )
    stem = f"profile_edge-{args.path}-{timestamp()}"
    path = write_results(args.out, stem, document)
    text = markdown(document)
    (args.out / f"{stem}.md").write_text(text + "\n")
    print(text)
    print(f"results: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
