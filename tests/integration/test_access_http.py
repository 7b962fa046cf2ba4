"""Access control at the edge: API keys and JWTs (401), IAM policies (403), loopback default."""

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import jwt
import pytest

from router.app import create_app
from router.auth import AccessControl, AccessSettings, check_bind
from router.keys import EDGE
from tests.servers import edge_settings, serve

JWT_SECRET = "local-apps-secret-0123456789-abcdefghijklmnop"
POLICIES = [
    {
        "Version": "2024-01-01",
        "Statement": [
            {
                "Sid": "photos-embed",
                "Effect": "Allow",
                "Principal": "app-photos",
                "Action": ["multimodal:Embed", "multimodal:ClassifyImage"],
                "Resource": "model/*",
            },
            {
                "Sid": "notes-all",
                "Effect": "Allow",
                "Principal": ["app-notes", "jwt-user"],
                "Action": "multimodal:*",
                "Resource": "*",
                "Condition": {"IpAddress": {"aws:SourceIp": ["127.0.0.0/8", "::1/128"]}},
            },
            {
                "Sid": "no-routing-for-notes",
                "Effect": "Deny",
                "Principal": "app-notes",
                "Action": "multimodal:Route",
                "Resource": "*",
            },
        ],
    },
]


@pytest.fixture(scope="module")
async def locked_edge(central_url: str) -> AsyncIterator[str]:
    app = create_app(
        edge_settings(
            central_url,
            models={"tasks": ["embed", "classify"]},
            routing={"warmup_probe": False},
            access={
                "api_keys": {"app-photos": "photos-key-123", "app-notes": "notes-key-456"},
                "jwt": {"secret": JWT_SECRET},
                "policies": POLICIES,
            },
        )
    )
    async with serve(app) as url:
        await asyncio.wait_for(app[EDGE].wait_ready(), 60)
        yield url


async def call(
    http: aiohttp.ClientSession, url: str, path: str, body: dict[str, Any], credential: str | None
) -> tuple[int, dict[str, Any]]:
    headers = {"Authorization": f"Bearer {credential}"} if credential else {}
    async with http.post(url + path, json=body, headers=headers) as response:
        return response.status, await response.json()


EMBED = ("/v3/models/auto/generate", {"inputs": {"text": "hi", "task": "embed"}})
CLASSIFY = (
    "/v3/models/auto/generate",
    {"inputs": {"text": "hi"}, "parameters": {"labels": ["a", "b"], "route": "edge"}},
)
ROUTE = ("/v1/route", {"inputs": {"text": "hi", "task": "embed"}})


@pytest.mark.parametrize(
    ("credential", "status", "code"),
    [
        (None, 401, "missing_credentials"),
        ("wrong-key", 401, "invalid_credentials"),
        ("photos-key-123", 200, None),
    ],
)
async def test_api_keys(
    http: aiohttp.ClientSession,
    locked_edge: str,
    credential: str | None,
    status: int,
    code: str | None,
) -> None:
    got, body = await call(http, locked_edge, *EMBED, credential)
    assert got == status
    if code:
        assert body["error"]["code"] == code


async def test_policy_allows_only_listed_actions(
    http: aiohttp.ClientSession, locked_edge: str
) -> None:
    status, body = await call(http, locked_edge, *CLASSIFY, "photos-key-123")
    assert status == 403 and body["error"]["type"] == "permission_error"
    assert (await call(http, locked_edge, *CLASSIFY, "notes-key-456"))[0] == 200


async def test_explicit_deny_wins(http: aiohttp.ClientSession, locked_edge: str) -> None:
    status, body = await call(http, locked_edge, *ROUTE, "notes-key-456")
    assert status == 403 and "no-routing-for-notes" in body["error"]["message"]


async def test_local_app_jwt(http: aiohttp.ClientSession, locked_edge: str) -> None:
    now = int(time.time())
    good = jwt.encode(
        {"sub": "jwt-user", "aud": "hybrid-router-edge", "iat": now, "exp": now + 60},
        JWT_SECRET,
        algorithm="HS256",
    )
    assert (await call(http, locked_edge, *CLASSIFY, good))[0] == 200
    expired = jwt.encode(
        {"sub": "jwt-user", "aud": "hybrid-router-edge", "iat": now - 300, "exp": now - 100},
        JWT_SECRET,
        algorithm="HS256",
    )
    status, body = await call(http, locked_edge, *CLASSIFY, expired)
    assert status == 401 and body["error"]["code"] == "invalid_token"
    stranger = jwt.encode(
        {"sub": "stranger", "aud": "hybrid-router-edge", "iat": now, "exp": now + 60},
        JWT_SECRET,
        algorithm="HS256",
    )
    assert (await call(http, locked_edge, *CLASSIFY, stranger))[0] == 403  # default deny


async def test_ops_endpoints_need_no_credentials(
    http: aiohttp.ClientSession, locked_edge: str
) -> None:
    async with http.get(locked_edge + "/healthz") as response:
        assert response.status == 200
    async with http.get(locked_edge + "/v1/models") as response:
        assert response.status == 401


def test_open_edge_refuses_non_loopback_binds() -> None:
    open_access = AccessControl.from_settings(AccessSettings())
    with pytest.raises(SystemExit, match="loopback"):
        check_bind(open_access, "0.0.0.0")
    check_bind(open_access, "127.0.0.1")
    check_bind(open_access, "::1")
    locked = AccessControl.from_settings(AccessSettings(api_keys={"a": "k" * 20}))
    check_bind(locked, "0.0.0.0")


def test_invalid_policy_fails_startup_with_the_reason() -> None:
    bad = AccessSettings(
        policies=[
            {
                "Version": "2024-01-01",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": "multimodal:Embed",
                        "Resource": "*",
                        "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.1/8"}},
                    }
                ],
            }
        ]
    )
    with pytest.raises(ValueError, match=r"10\.0\.0\.1/8"):
        AccessControl.from_settings(bad)
