"""The edge's `/openapi.json` as served (schemathesis runs it in test_schemathesis_all_checks)."""

import aiohttp
import pytest

pytestmark = pytest.mark.slow


async def test_openapi_document_lists_every_edge_path(edge_url: str) -> None:
    async with aiohttp.ClientSession() as http, http.get(edge_url + "/openapi.json") as response:
        assert response.status == 200
        spec = await response.json()
    assert spec["openapi"].startswith("3.1")
    assert {
        "/v3/models/{model}/generate",
        "/v1/chat/completions",
        "/v1/embeddings",
        "/v1/models",
        "/v1/route",
        "/healthz",
        "/readyz",
        "/metrics",
    } <= set(spec["paths"])
    generate = spec["paths"]["/v3/models/{model}/generate"]["post"]
    assert {"200", "400", "404", "413", "415", "429", "502", "503", "504"} <= set(
        generate["responses"]
    )
    assert generate["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/GenerateRequest"
    }
    assert "InputItem" in spec["components"]["schemas"]
    assert "ChatCompletionRequest" in spec["components"]["schemas"]
