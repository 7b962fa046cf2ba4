"""`image_url` on the edge: fetched through the SSRF guard; internal addresses never contacted."""

import asyncio

import aiohttp
import pytest

from tests.servers import free_port


class Canary:
    """A TCP listener that counts every connection made to it."""

    def __init__(self) -> None:
        self.connections = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        writer.close()


@pytest.mark.parametrize(
    "template",
    [
        "http://127.0.0.1:{port}/cat.png",
        "http://localhost:{port}/cat.png",
        "http://2130706433:{port}/cat.png",
        "http://[::ffff:127.0.0.1]:{port}/cat.png",
        "file:///etc/passwd",
        "http://169.254.169.254/latest/meta-data/",
    ],
)
async def test_internal_urls_are_refused_before_connecting(
    http: aiohttp.ClientSession, edge_url: str, template: str
) -> None:
    canary = Canary()
    port = free_port()
    server = await asyncio.start_server(canary.handle, "127.0.0.1", port)
    try:
        async with http.post(
            edge_url + "/v3/models/auto/generate",
            json={
                "inputs": {"image_url": template.format(port=port)},
            },
        ) as response:
            body = await response.json()
        assert response.status == 400
        assert body["error"]["code"] == "url_not_allowed"
    finally:
        server.close()
        await server.wait_closed()
    assert canary.connections == 0
