"""Adapter for an OpenAI-compatible upstream: image understanding and image generation."""

from dataclasses import dataclass
from typing import Any

import aiohttp

from central_client.media import OPENAI_IMAGE_TYPES, image_data_url
from common.errors import BadUpstream, NotSupported, Unavailable


@dataclass(frozen=True)
class ProviderConfig:
    """Where the upstream lives and which of its models to use."""

    url: str
    api_key: str | None
    chat_model: str
    image_model: str
    timeout_s: float


class OpenAICompatibleProvider:
    """`/v1/chat/completions` with image parts and `/v1/images/generations` on any upstream."""

    def __init__(self, session: aiohttp.ClientSession, config: ProviderConfig | None) -> None:
        self._session = session
        self._config = config

    @property
    def configured(self) -> bool:
        """True when an upstream URL is set."""
        return self._config is not None

    def _require(self) -> ProviderConfig:
        if self._config is None:
            raise NotSupported(
                "image generation and image understanding need an OpenAI-compatible provider; "
                "set central_service.provider.url (HYBRID_ROUTER_CENTRAL_SERVICE__PROVIDER__URL)",
                "provider_not_configured",
            )
        return self._config

    async def _post(self, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        config = self._require()
        headers = {"Authorization": f"Bearer {config.api_key}"} if config.api_key else {}
        try:
            async with self._session.post(
                config.url.rstrip("/") + path,
                json=payload,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=config.timeout_s),
            ) as response:
                if response.status >= 500 or response.status == 429:
                    raise Unavailable(
                        f"provider answered {response.status}", "central_error", retry_after_s=5
                    )
                if response.status >= 400:
                    raise BadUpstream(
                        f"provider rejected the request ({response.status})", "provider_rejected"
                    )
                body = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise Unavailable(
                f"provider unreachable: {exc.__class__.__name__}",
                "central_unreachable",
                retry_after_s=5,
            ) from exc
        except ValueError as exc:
            raise BadUpstream("provider answered invalid JSON", "provider_garbage") from exc
        if not isinstance(body, dict):
            raise BadUpstream("provider answered an unexpected shape", "provider_garbage")
        return body

    async def describe_image(
        self, prompt: str, image_url: str, max_tokens: int, temperature: float
    ) -> tuple[str, dict[str, int]]:
        """Ask the upstream chat model about an image (URL, or data: URL typed by its bytes)."""
        config = self._require()
        if image_url.startswith("data:"):
            image_url, mime = image_data_url(image_url.partition(",")[2])
            if mime not in OPENAI_IMAGE_TYPES:
                raise NotSupported(
                    f"the image provider takes {sorted(OPENAI_IMAGE_TYPES)}, not {mime}",
                    "unsupported_image_type",
                )
        body = await self._post(
            "/v1/chat/completions",
            {
                "model": config.chat_model,
                "messages": [
                    {
                        "role": "user",
                        "content": [
                            {"type": "text", "text": prompt},
                            {"type": "image_url", "image_url": {"url": image_url}},
                        ],
                    }
                ],
                "max_tokens": max_tokens,
                "temperature": temperature,
            },
        )
        try:
            text = body["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError) as exc:
            raise BadUpstream("provider answer has no choices", "provider_garbage") from exc
        usage = body.get("usage") or {}
        return str(text), {k: int(v) for k, v in usage.items() if isinstance(v, int)}

    async def generate_image(self, prompt: str, response_format: str) -> dict[str, str]:
        """Text → image, as `{"image_url"}` or `{"image_base64"}`."""
        config = self._require()
        body = await self._post(
            "/v1/images/generations",
            {
                "model": config.image_model,
                "prompt": prompt,
                "n": 1,
                "response_format": "b64_json" if response_format == "base64" else "url",
            },
        )
        try:
            item = body["data"][0]
        except (KeyError, IndexError, TypeError) as exc:
            raise BadUpstream("provider answer has no data", "provider_garbage") from exc
        if "b64_json" in item:
            return {"image_base64": str(item["b64_json"])}
        if "url" in item:
            return {"image_url": str(item["url"])}
        raise BadUpstream("provider answer has neither url nor b64_json", "provider_garbage")
