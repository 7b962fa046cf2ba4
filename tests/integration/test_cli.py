"""The command line against a running edge node."""

import asyncio
import json
import sys
from pathlib import Path


async def run_cli(*args: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "router.cli",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await proc.communicate()
    return proc.returncode or 0, out.decode()


async def test_route_explain(edge_url: str, tmp_path: Path) -> None:
    request = tmp_path / "req.json"
    request.write_text(json.dumps({"inputs": {"image": "aGVsbG8="}}))
    code, out = await run_cli("route", "explain", str(request), "--url", edge_url)
    assert code == 0, out
    assert json.loads(out)["decision"]["target"] == "edge"


async def test_models_list() -> None:
    code, out = await run_cli("models", "list")
    assert code == 0 and "efficientnet-lite0" in out and "classify_image" in out
