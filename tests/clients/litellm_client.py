"""litellm as a client of the edge: chat (whole and streamed), embeddings and two errors.

Run with `.venv-litellm/bin/python tests/clients/litellm_client.py EDGE_URL`; prints one JSON
object. It imports nothing from the project (that venv does not hold it).
"""

import json
import os
import sys
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no fetch from GitHub at import
os.environ.setdefault("LITELLM_LOG", "ERROR")

import litellm

MODEL = "openai/auto"  # litellm's OpenAI-compatible provider, the edge's routed model
HELLO = [{"role": "user", "content": "Say hello."}]


def route_of(response: Any) -> str | None:
    """The edge's X-Route header as litellm passes it on (`llm_provider-` prefixed)."""
    headers = (getattr(response, "_hidden_params", None) or {}).get("additional_headers") or {}
    return headers.get("llm_provider-x-route") or headers.get("x-route")


def error_of(exc: Exception) -> dict[str, Any]:
    """What a caller sees of an error: litellm's class, the HTTP status, the message."""
    return {
        "type": type(exc).__name__,
        "status": getattr(exc, "status_code", None),
        "message": str(exc)[:300],
    }


def main(edge_url: str) -> dict[str, Any]:
    """Each call's outcome, keyed by case."""
    common: dict[str, Any] = {"api_base": edge_url + "/v1", "api_key": "unused"}
    out: dict[str, Any] = {}
    whole = litellm.completion(model=MODEL, messages=HELLO, max_tokens=8, **common)
    out["chat"] = {
        "text": whole.choices[0].message.content,
        "finish_reason": whole.choices[0].finish_reason,
        "route": route_of(whole),
    }
    pieces = [
        chunk.choices[0].delta.content or ""
        for chunk in litellm.completion(
            model=MODEL, messages=HELLO, max_tokens=8, stream=True, **common
        )
        if chunk.choices
    ]
    out["stream"] = {"chunks": len(pieces), "text": "".join(pieces)}
    embedded = litellm.embedding(model=MODEL, input=["a cat", "a dog"], **common)
    out["embed"] = {
        "dims": [len(item["embedding"]) for item in embedded.data],
        "route": route_of(embedded),
    }
    try:
        litellm.completion(
            model=MODEL,
            messages=HELLO,
            response_format={"type": "json_object"},  # a v3 central cannot honour it: 400
            **common,
        )
        out["bad_request"] = None
    except litellm.exceptions.BadRequestError as exc:
        out["bad_request"] = error_of(exc)
    try:
        litellm.completion(
            model=MODEL,
            messages=HELLO,
            max_tokens=4,
            extra_body={"latency_budget_ms": 1},  # the deadline passes: 504, not worth a retry
            **common,  # litellm's default retries: the test counts how many 504s the edge sent
        )
        out["deadline"] = None
    except litellm.exceptions.Timeout as exc:  # litellm's class for a 504
        out["deadline"] = error_of(exc)
    return out


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1])))
