"""Cold start of the edge node: median of N fresh processes to `/readyz` 200, and where it goes.

    python -m benchmarks.cold_start [--runs 5] [--out benchmarks/results]

Each run starts `hybrid-router edge` in a new process and polls `/readyz` every 10 ms. The
phases come from the same process: `listening` is when it prints its address (imports, config,
app setup done), `ready` is when `/readyz` answers 200 (models loaded and warmed). Separately,
in fresh interpreters, it times `import router.serve` (what `edge` imports) and loading each
model group with its warm-up, so the total can be read as imports + model loading + warm-up.
"""

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from benchmarks.results import DEFAULT_OUT, envelope, timestamp, write_results

PROBE = r"""
import dataclasses, json, time
t0, c0 = time.monotonic(), time.process_time()
import router.serve  # everything `hybrid-router edge` imports
t1, c1 = time.monotonic(), time.process_time()
from edge_models.registry import load_models
from router.settings import Settings
models = Settings().models
phases = {"import_s": t1 - t0, "import_cpu_s": c1 - c0}
for name, tasks in (("text", ["embed", "classify"]), ("image", ["classify_image"]),
                    ("speech", ["detect_speech"])):
    config = dataclasses.replace(models, tasks=frozenset(tasks))
    start = time.monotonic()
    registry = load_models(config)
    loaded = time.monotonic()
    for model in registry.models():
        model.warm_up()  # a second warm-up: the cost of one warm-up call, measured alone
    phases[f"load_{name}_s"] = loaded - start
    phases[f"warmup_call_{name}_s"] = time.monotonic() - loaded
print(json.dumps(phases))
"""


def free_port() -> int:
    """A loopback port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def ready(url: str) -> bool:
    """Whether `/readyz` answers 200."""
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return response.status == 200
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


def one_start(env: dict[str, str], timeout_s: float = 60.0) -> dict[str, float]:
    """Start one edge process; seconds to its 'listening' line and to `/readyz` 200."""
    port = free_port()
    command = [sys.executable, "-m", "router.cli", "edge", "--port", str(port), "--grpc-port", "0"]
    started = time.monotonic()
    proc = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # "listening on http://…"
        listening = time.monotonic() - started
        if "listening" not in line:
            raise RuntimeError(f"edge did not start: {line!r}")
        url = f"http://127.0.0.1:{port}/readyz"
        while not ready(url):
            if time.monotonic() - started > timeout_s or proc.poll() is not None:
                raise RuntimeError("edge never became ready")
            time.sleep(0.01)
        ready_s = time.monotonic() - started
        return {"listening_s": listening, "ready_s": ready_s, "cpu_s": cpu_seconds(proc.pid)}
    finally:
        proc.terminate()
        proc.wait(30)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def phases(env: dict[str, str]) -> dict[str, float]:
    """Import and per-model load + warm-up times, in a fresh interpreter."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def median_of(rows: list[dict[str, float]]) -> dict[str, float]:
    """The median of each key."""
    return {k: round(statistics.median(r[k] for r in rows), 3) for k in rows[0]}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the benchmark and write its JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    env = {k: v for k, v in os.environ.items() if not k.startswith("HYBRID_ROUTER_")}
    env |= {
        # a configured central that is not there: the edge's own start, as on a device
        "HYBRID_ROUTER_CENTRAL__URL": f"http://127.0.0.1:{free_port()}",
        "HYBRID_ROUTER_CENTRAL__SECRET": "cold-start-benchmark-secret-0123456789abcdef",
    }
    load_before = os.getloadavg()
    starts = [one_start(env) for _ in range(args.runs)]
    probes = [phases(env) for _ in range(max(1, args.runs // 2))]
    document = envelope(
        "cold-start",
        [sys.executable, "-m", "benchmarks.cold_start", *(argv or sys.argv[1:])],
        {"runs": args.runs, "edge_command": "hybrid-router edge --grpc-port 0"},
    )
    document |= {
        "median": median_of(starts),
        "runs": [{k: round(v, 3) for k, v in r.items()} for r in starts],
        "phases_median": median_of(probes),
        # other work on the machine inflates every phase; this says how busy it was
        "load_average_1m": {"before": load_before[0], "after": os.getloadavg()[0]},
    }
    path = write_results(args.out, f"cold-start-{timestamp()}", document)
    print(json.dumps({"median": document["median"], "phases": document["phases_median"]}))
    print(f"wrote {path}")
    return document


if __name__ == "__main__":
    main()
