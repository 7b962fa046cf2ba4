"""The benchmark tools end to end: coordinated omission, a real scenario run, `--compare`."""

import argparse
import asyncio
import json
import time
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from benchmarks.cli import EXIT_NOTHING_TO_COMPARE, EXIT_REGRESSION, add_arguments, bench, main
from benchmarks.loadgen import HttpSender, Request, RunResult, Target, closed_loop, open_loop
from benchmarks.node import Node
from benchmarks.runner import RunOptions, run_entry, run_mix, targets_for
from benchmarks.scenarios import load_scenario
from tests.servers import TEST_KEY_ID, TEST_SECRET, serve

STALL_S = 1.0


def stalling_app() -> web.Application:
    """Answers one request at a time; 1 s after its first request it stalls once for 1 s."""
    lock = asyncio.Lock()
    state = {"first": None, "stalled": False}

    async def handle(request: web.Request) -> web.Response:
        async with lock:
            now = time.monotonic()
            if state["first"] is None:
                state["first"] = now
            if not state["stalled"] and now - state["first"] >= 1.0:
                state["stalled"] = True
                await asyncio.sleep(STALL_S)
            return web.json_response({"ok": True}, headers={"X-Route": "edge"})

    app = web.Application()
    app.router.add_post("/work", handle)
    return app


def ping(index: int) -> Request:
    return Request("POST", "/work", {"i": index}, "ping")


def slow_samples(result: RunResult, threshold_ms: float) -> int:
    return sum(1 for s in result.recorder.samples if s.latency_ms >= threshold_ms)


async def test_open_loop_records_a_stall_that_closed_loop_hides() -> None:
    async with serve(stalling_app()) as url, aiohttp.ClientSession() as session:
        send = HttpSender(session, {"edge": Target(url)})
        opened = await open_loop(send, ping, 50, 3.0)
    async with serve(stalling_app()) as url, aiohttp.ClientSession() as session:
        send = HttpSender(session, {"edge": Target(url)})
        closed = await closed_loop(send, ping, 1, 3.0)

    open_stats = opened.to_dict()["overall"]
    assert open_stats["ok"] == 150
    assert open_stats["latency_ms"]["p99"] >= 500
    # every request intended during the stall is charged for it, not just the one in flight
    assert slow_samples(opened, 200) >= 20
    assert slow_samples(opened, 500) >= 10

    closed_stats = closed.to_dict()["overall"]
    assert closed_stats["latency_ms"]["max"] >= 900
    assert slow_samples(closed, 500) == 1
    assert closed_stats["ok"] > 20


async def test_edge_embed_scenario_writes_results(edge_url: str, tmp_path: Path) -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    argv = ["--scenario", "edge-embed", "--url", edge_url, "--duration", "2", "--rate", "5"]
    argv += ["--out", str(tmp_path), "--no-progress", "--plot"]
    args = parser.parse_args(argv)
    assert await bench(args, ["hybrid-router", "bench", *argv]) == 0

    (path,) = tmp_path.glob("edge-embed-*.json")
    document = json.loads(path.read_text())
    assert document["scenario"] == "edge-embed"
    assert {"platform", "cpu_count", "python"} <= document["machine"].keys()
    assert document["git_commit"]
    assert document["command"] == ["hybrid-router", "bench", *argv]
    assert document["config"]["scenario"]["name"] == "edge-embed"
    (run,) = document["runs"]
    assert run["mode"] == "open" and run["offered_rps"] == 5
    assert run["scheduled"] == 10 and run["error_count"] == 0
    (group,) = run["groups"]
    assert (group["path"], group["task"]) == ("edge", "embed")
    assert group["ok"] == 10 and group["achieved_rps"] > 0
    latency = group["latency_ms"]
    assert 0 < latency["p50"] <= latency["p90"] <= latency["p99"] <= latency["p99.9"]
    assert latency["p99.9"] <= latency["max"]
    (task,) = run["tasks"]
    assert task["offered_rps"] == 5
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return
    assert (tmp_path / f"{path.stem}-cdf.png").stat().st_size > 0
    assert "<img" in (tmp_path / f"{path.stem}.html").read_text()


async def test_overhead_scenario_calls_central_directly_with_a_minted_token(
    edge_url: str, central_url: str
) -> None:
    node = Node(edge_url, central_url, key_id=TEST_KEY_ID, secret=TEST_SECRET)
    notes: list[str] = []
    result = await run_mix(
        load_scenario("overhead"),
        targets_for(node),
        RunOptions(rate=2, duration_s=2, progress=False),
        notes,
    )
    entry = run_entry("central", "central", result)
    paths = {g["path"]: g for g in entry["groups"]}
    assert set(paths) == {"central", "direct"}
    assert all(g["ok"] == g["requests"] for g in paths.values())
    (row,) = entry["overhead"]
    assert row["via"] == "central" and row["p50_ratio"] > 0
    assert notes == []


def write(path: Path, p50: float, p99: float) -> Path:
    group = {
        "path": "edge",
        "task": "embed",
        "ok": 10,
        "latency_ms": {"p50": p50, "p99": p99},
    }
    path.write_text(json.dumps({"runs": [{"label": "central", "groups": [group]}]}))
    return path


def test_compare_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = write(tmp_path / "base.json", 10.0, 20.0)
    same = write(tmp_path / "same.json", 10.5, 21.0)
    slower = write(tmp_path / "slower.json", 10.0, 30.0)
    assert main(["--compare", str(base), "--current", str(same)]) == 0
    assert "1.05" in capsys.readouterr().out
    assert main(["--compare", str(base), "--current", str(slower)]) == EXIT_REGRESSION
    assert "REGRESSED" in capsys.readouterr().out
    assert main(["--compare", str(base), "--current", str(slower), "--threshold", "0.6"]) == 0
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"runs": []}))
    assert main(["--compare", str(base), "--current", str(other)]) == EXIT_NOTHING_TO_COMPARE
