"""OpenAI fidelity with the real `openai` SDK and `langchain-openai`: embeddings routed like
`/v3`, `models.retrieve`, no retries where a retry cannot help, and tools/structured output
refused clearly (400) by an edge whose central speaks the v3 protocol, never ignored."""

import asyncio
from collections.abc import AsyncIterator

import openai
import pytest
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI
from pydantic import BaseModel

from tests.servers import requests_with_status

HELLO = [{"role": "user", "content": "Say hello."}]


@pytest.fixture
async def client(edge_url: str) -> AsyncIterator[openai.AsyncOpenAI]:
    """The asyncio SDK client, with the SDK's default retries on."""
    sdk = openai.AsyncOpenAI(base_url=edge_url + "/v1", api_key="unused", max_retries=2)
    yield sdk
    await sdk.close()


@pytest.mark.parametrize("model", ["auto", "multimodal-pro", "all-minilm-l6-v2"])
async def test_embeddings_accept_routed_model_names(client: openai.AsyncOpenAI, model: str) -> None:
    raw = await client.embeddings.with_raw_response.create(model=model, input=["a cat", "a dog"])
    answer = raw.parse()
    assert [len(d.embedding) for d in answer.data] == [384, 384]
    assert raw.headers["X-Route"] in ("edge", "cache") and raw.headers["X-Route-Reason"]


async def test_embeddings_with_a_model_of_another_task_is_a_404(
    client: openai.AsyncOpenAI,
) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        await client.embeddings.create(model="minilm-zero-shot", input="x")
    assert caught.value.response.headers["x-should-retry"] == "false"


async def test_models_retrieve(client: openai.AsyncOpenAI) -> None:
    listed = {m.id for m in (await client.models.list()).data}
    for name in listed:
        assert (await client.models.retrieve(name)).id == name
    alias = await client.models.retrieve("text-embedding-edge")
    assert alias.id == "all-minilm-l6-v2"
    with pytest.raises(openai.NotFoundError):
        await client.models.retrieve("no-such-model")


async def test_deadline_504_is_not_retried(client: openai.AsyncOpenAI, edge_url: str) -> None:
    before = await requests_with_status(edge_url, "504")
    with pytest.raises(openai.APIStatusError) as caught:
        await client.chat.completions.create(
            model="auto", messages=HELLO, max_tokens=4, extra_body={"latency_budget_ms": 1}
        )
    assert caught.value.status_code == 504
    assert caught.value.response.headers["x-should-retry"] == "false"
    assert await requests_with_status(edge_url, "504") - before == 1  # one try, not three


@pytest.mark.parametrize(
    "extra",
    [
        {"tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}]},
        {"tool_choice": "none"},
        {"response_format": {"type": "json_object"}},
    ],
)
async def test_openai_extras_a_v3_central_cannot_honour_are_a_clear_400(
    client: openai.AsyncOpenAI, edge_url: str, extra: dict
) -> None:
    before = await requests_with_status(edge_url, "400")
    with pytest.raises(openai.BadRequestError) as caught:
        await client.chat.completions.create(model="auto", messages=HELLO, **extra)
    body = caught.value.body
    assert isinstance(body, dict) and body["code"] == "unsupported_parameter"
    assert next(iter(extra)).removeprefix("chat_") in body["message"]
    assert await requests_with_status(edge_url, "400") - before == 1


async def test_langchain_bind_tools_and_structured_output_fail_loudly(edge_url: str) -> None:
    @tool
    def weather(city: str) -> str:
        """The weather in a city."""
        return "sunny"

    class Answer(BaseModel):
        """A structured answer."""

        city: str

    llm = ChatOpenAI(
        base_url=edge_url + "/v1", api_key="unused", model="auto", max_retries=0, max_tokens=8
    )
    with pytest.raises(openai.BadRequestError, match="tools"):
        await asyncio.wait_for(llm.bind_tools([weather]).ainvoke("Weather in Paris?"), 60)
    with pytest.raises(openai.BadRequestError, match=r"unsupported|tools|response_format"):
        await asyncio.wait_for(llm.with_structured_output(Answer).ainvoke("Paris"), 60)
    plain = await asyncio.wait_for(llm.ainvoke("Say hi."), 120)
    assert isinstance(plain.content, str) and plain.content
