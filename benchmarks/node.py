"""Processes a benchmark starts for itself: `hybrid-router up`/`edge`, and the tiny upstream."""

import asyncio
import contextlib
import os
import secrets
import shutil
import signal
import socket
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import aiohttp

DEFAULT_KEY_ID = "edge-dev"
DEFAULT_AUDIENCE = "hybrid-router-central"
READY_TIMEOUT_S = 300.0
STOP_TIMEOUT_S = 20.0


@dataclass(frozen=True)
class Node:
    """A running edge node and (when known) the central it uses and the key to call it."""

    url: str
    central_url: str | None
    key_id: str = DEFAULT_KEY_ID
    secret: str | None = None
    audience: str = DEFAULT_AUDIENCE
    pid: int | None = None


def free_port() -> int:
    """A loopback port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def router_command() -> list[str]:
    """`hybrid-router` beside this interpreter, else `python -m router.cli`."""
    script = Path(sys.executable).parent / "hybrid-router"
    if script.is_file():
        return [str(script)]
    found = shutil.which("hybrid-router")
    return [found] if found else [sys.executable, "-m", "router.cli"]


async def wait_ready(url: str, proc: asyncio.subprocess.Process, timeout_s: float) -> None:
    """Poll `url` until it answers 200; fail if the process exits or time runs out."""
    deadline = time.monotonic() + timeout_s
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            if proc.returncode is not None:
                raise RuntimeError(f"process exited with {proc.returncode} before ready")
            try:
                async with session.get(url, timeout=aiohttp.ClientTimeout(total=2)) as response:
                    if response.status == 200:
                        return
            except (aiohttp.ClientError, TimeoutError):
                pass  # not listening yet
            await asyncio.sleep(0.5)
    raise RuntimeError(f"{url} not ready after {timeout_s:.0f} s")


async def stop(proc: asyncio.subprocess.Process) -> None:
    """SIGTERM, then SIGKILL after a grace period."""
    if proc.returncode is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        await asyncio.wait_for(proc.wait(), STOP_TIMEOUT_S)
    except TimeoutError:
        proc.kill()
        await proc.wait()


@contextlib.asynccontextmanager
async def process(
    argv: Sequence[str],
    env: Mapping[str, str],
    ready_url: str,
    name: str,
    cwd: Path | None = None,
) -> AsyncIterator[asyncio.subprocess.Process]:
    """Run `argv` (output to a temp log, in `cwd`), wait for `ready_url`, stop it on exit."""
    with tempfile.NamedTemporaryFile(prefix=f"bench-{name}-", suffix=".log", delete=False) as log:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            env={**os.environ, **env},
            stdout=log,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
            cwd=cwd,
        )
    try:
        try:
            await wait_ready(ready_url, proc, READY_TIMEOUT_S)
        except RuntimeError as exc:
            tail = Path(log.name).read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{name}: {exc}; log {log.name}:\n{tail}") from None
        yield proc
    finally:
        await stop(proc)
    Path(log.name).unlink(missing_ok=True)


@contextlib.asynccontextmanager
async def local_up(env: Mapping[str, str] | None = None) -> AsyncIterator[Node]:
    """`hybrid-router up` on free ports with a generated secret (so direct tokens can be minted)."""
    port, central_port = free_port(), free_port()
    secret = secrets.token_urlsafe(48)
    argv = [
        *router_command(),
        "up",
        "--port",
        str(port),
        "--central-port",
        str(central_port),
        "--grpc-port",
        "0",
    ]
    full_env = {"HYBRID_ROUTER_CENTRAL__SECRET": secret, **(env or {})}
    url = f"http://127.0.0.1:{port}"
    async with process(argv, full_env, f"{url}/readyz", "up") as proc:
        yield Node(url, f"http://127.0.0.1:{central_port}", secret=secret, pid=proc.pid)


def pinned(argv: Sequence[str], cpus: Sequence[int] | None) -> list[str]:
    """`argv` run on `cpus` only (`taskset`), or as is when `cpus` is None."""
    if cpus is None:
        return list(argv)
    return ["taskset", "--cpu-list", ",".join(str(cpu) for cpu in cpus), *argv]


@contextlib.asynccontextmanager
async def local_edge(
    central_url: str,
    env: Mapping[str, str] | None = None,
    name: str = "edge",
    cpus: Sequence[int] | None = None,
) -> AsyncIterator[Node]:
    """`hybrid-router edge` on a free port, wired to `central_url` (on `cpus` when given)."""
    port = free_port()
    secret = secrets.token_urlsafe(48)
    argv = pinned([*router_command(), "edge", "--port", str(port), "--grpc-port", "0"], cpus)
    full_env = {
        "HYBRID_ROUTER_CENTRAL__SECRET": secret,
        "HYBRID_ROUTER_CENTRAL__URL": central_url,
        **(env or {}),
    }
    url = f"http://127.0.0.1:{port}"
    async with process(argv, full_env, f"{url}/readyz", name) as proc:
        yield Node(url, central_url, secret=secret, pid=proc.pid)


@contextlib.asynccontextmanager
async def tiny_upstream() -> AsyncIterator[str]:
    """The tiny `/v3` upstream in its own process; yields its URL."""
    port = free_port()
    argv = [sys.executable, "-m", "benchmarks.tiny_upstream", "--port", str(port)]
    url = f"http://127.0.0.1:{port}"
    async with process(argv, {}, f"{url}/healthz", "tiny-upstream"):
        yield url
