"""ImageFetcher: hostile URLs never reach a socket; size, time and redirects are capped.

A canary TCP listener on 127.0.0.1 (and ::1 where available) counts connections, and a
trace hook counts every request the session starts; refused URLs must leave both at zero.
The allowed test image server runs on 127.0.0.2, exempted by `allow_networks` alone.
"""

import asyncio
import contextlib
import io
import ipaddress
import shutil
import socket
import ssl
import subprocess
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from PIL import Image

from common.errors import BadRequest
from edge_models.image import open_image
from router.fetch import ImageFetcher, fetch_session
from router.url_guard import address_allowed

IMAGE_HOST = "127.0.0.2"
ALLOW_IMAGE_HOST = (ipaddress.ip_network(f"{IMAGE_HOST}/32"),)


def free_port_on(host: str) -> int:
    """A port nothing listens on at `host`."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@dataclass
class Canary:
    """Loopback listeners that count every TCP connection they accept."""

    port: int
    connections: int = 0
    servers: list[asyncio.Server] = field(default_factory=list)

    def accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Count and hang up."""
        self.connections += 1
        writer.close()


@pytest.fixture(scope="module")
async def canary() -> AsyncIterator[Canary]:
    port = free_port_on("127.0.0.1")
    found = Canary(port)
    found.servers.append(await asyncio.start_server(found.accept, "127.0.0.1", port))
    with contextlib.suppress(OSError):  # without IPv6 loopback the request counter still covers v6
        found.servers.append(await asyncio.start_server(found.accept, "::1", port))
    yield found
    for server in found.servers:
        server.close()
        await server.wait_closed()


def png_bytes() -> bytes:
    """A small real PNG."""
    buffer = io.BytesIO()
    Image.new("RGB", (32, 24), (200, 40, 40)).save(buffer, format="PNG")
    return buffer.getvalue()


@dataclass
class ImageServer:
    """The allowed test server on 127.0.0.2 and what it saw."""

    port: int
    hosts: list[str] = field(default_factory=list)

    def url(self, path: str, host: str = "images.test") -> str:
        return f"http://{host}:{self.port}{path}"


def image_app(seen: ImageServer, canary_port: int) -> web.Application:
    """Routes for the happy path and each misbehaviour."""
    image = png_bytes()

    async def cat(request: web.Request) -> web.Response:
        seen.hosts.append(request.headers.get("Host", ""))
        return web.Response(body=image, content_type="image/png")

    async def redirect(request: web.Request) -> web.Response:
        to = request.query["to"].replace("CANARY", str(canary_port))
        raise web.HTTPFound(to)

    async def loop(request: web.Request) -> web.Response:
        raise web.HTTPFound("/loop")

    async def declared_huge(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Length": str(1 << 30)})
        await response.prepare(request)
        await response.write(b"\x89PNG")
        await asyncio.sleep(30)
        return response

    async def chunked_big(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "image/png"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        for _ in range(64):
            await response.write(b"x" * 1024)
        await response.write_eof()
        return response

    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(30)
        return web.Response(body=image)

    async def trickle(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Length": str(len(image))})
        await response.prepare(request)
        for byte in image:
            await response.write(bytes([byte]))
            await asyncio.sleep(0.2)
        return response

    async def missing(request: web.Request) -> web.Response:
        return web.Response(status=404, text="nope")

    async def gzipped(request: web.Request) -> web.Response:
        return web.Response(body=b"\x1f\x8b...", headers={"Content-Encoding": "gzip"})

    app = web.Application()
    app.router.add_get("/cat.png", cat)
    app.router.add_get("/redirect", redirect)
    app.router.add_get("/loop", loop)
    app.router.add_get("/declared-huge", declared_huge)
    app.router.add_get("/chunked-big", chunked_big)
    app.router.add_get("/slow", slow)
    app.router.add_get("/trickle", trickle)
    app.router.add_get("/missing", missing)
    app.router.add_get("/gzip", gzipped)
    return app


@pytest.fixture(scope="module")
async def image_server(canary: Canary) -> AsyncIterator[ImageServer]:
    seen = ImageServer(free_port_on(IMAGE_HOST))
    runner = web.AppRunner(image_app(seen, canary.port), access_log=None, shutdown_timeout=0.1)
    await runner.setup()
    await web.TCPSite(runner, IMAGE_HOST, seen.port).start()
    yield seen
    await runner.cleanup()


FAKE_DNS: dict[str, list[str]] = {
    "images.test": [IMAGE_HOST],
    "canary.test": ["127.0.0.1"],
    "v6canary.test": ["::1"],
    "mixed.test": [IMAGE_HOST, "127.0.0.1"],
    "metadata.test": ["169.254.169.254"],
    "private.test": ["10.1.2.3"],
    "mapped.test": ["::ffff:127.0.0.1"],
}


@dataclass
class FakeDns:
    """A scripted resolver (the one thing faked: names under .test) that counts lookups."""

    table: dict[str, list[str]]
    lookups: list[str] = field(default_factory=list)

    async def __call__(self, host: str, port: int) -> Sequence[str]:
        self.lookups.append(host)
        if host not in self.table:
            raise socket.gaierror(socket.EAI_NONAME, "unknown name")
        return self.table[host]


@dataclass
class Spy:
    """Counts requests the fetch session starts."""

    requests: list[str] = field(default_factory=list)

    def trace(self) -> aiohttp.TraceConfig:
        config = aiohttp.TraceConfig()

        async def on_start(
            session: aiohttp.ClientSession, ctx: object, params: aiohttp.TraceRequestStartParams
        ) -> None:
            self.requests.append(str(params.url))

        config.on_request_start.append(on_start)
        return config


@pytest.fixture
async def spy() -> AsyncIterator[tuple[Spy, aiohttp.ClientSession]]:
    found = Spy()
    async with aiohttp.ClientSession(trace_configs=[found.trace()], trust_env=False) as session:
        yield found, session


def fetcher_for(session: aiohttp.ClientSession, dns: FakeDns, **kwargs: object) -> ImageFetcher:
    return ImageFetcher(session, allow_networks=ALLOW_IMAGE_HOST, resolver=dns, **kwargs)


HOSTILE = [
    "file:///etc/passwd",
    "gopher://127.0.0.1:CANARY/_GET",
    "ftp://127.0.0.1:CANARY/x.png",
    "dict://127.0.0.1:CANARY/",
    "ws://127.0.0.1:CANARY/",
    "data:image/png;base64,iVBORw0KGgo=",
    "javascript:alert(1)",
    "http://user:pw@images.test:IMAGES/cat.png",
    "http://user@images.test:IMAGES/cat.png",
    "http://127.0.0.1:CANARY/",
    "http://127.0.0.1.:CANARY/",
    "http://127.255.255.254:CANARY/",
    "http://[::1]:CANARY/",
    "http://0.0.0.0:CANARY/",
    "http://[::]:CANARY/",
    "http://169.254.169.254/latest/meta-data/",
    "http://[fe80::1]:CANARY/",
    "http://[fe80::1%25lo]:CANARY/",
    "http://10.0.0.1/",
    "http://172.16.0.1/",
    "http://172.31.255.255/",
    "http://192.168.1.1/",
    "http://[fc00::1]/",
    "http://[fd12:3456::1]/",
    "http://224.0.0.1/",
    "http://[ff02::1]/",
    "http://240.0.0.1/",
    "http://255.255.255.255/",
    "http://100.64.0.1/",
    "http://198.18.0.1/",
    "http://[::ffff:127.0.0.1]:CANARY/",
    "http://[::ffff:7f00:1]:CANARY/",
    "http://[::127.0.0.1]:CANARY/",
    "http://[64:ff9b::7f00:1]:CANARY/",
    "http://[64:ff9b::a9fe:a9fe]/",
    "http://[2002:7f00:1::]:CANARY/",
    "http://2130706433:CANARY/",
    "http://0x7f000001:CANARY/",
    "http://0x7f.0.0.1:CANARY/",
    "http://0177.0.0.1:CANARY/",
    "http://017700000001:CANARY/",
    "http://127.1:CANARY/",
    "http://127.0.1:CANARY/",
    "http://%31%32%37.0.0.1:CANARY/",
    "http://①②⑦.0.0.1:CANARY/",
    "http://canary.test:CANARY/",
    "http://v6canary.test:CANARY/",
    "http://mixed.test:CANARY/",
    "http://metadata.test/latest/meta-data/",
    "http://private.test/",
    "http://mapped.test:CANARY/",
    "http://images.test:IMAGES/redirect?to=http://127.0.0.1:CANARY/",
    "http://images.test:IMAGES/redirect?to=http://169.254.169.254/latest/meta-data/",
    "http://images.test:IMAGES/redirect?to=http://canary.test:CANARY/",
    "http://images.test:IMAGES/redirect?to=http://[::ffff:7f00:1]:CANARY/",
    "http://images.test:IMAGES/redirect?to=file:///etc/passwd",
    "http://images.test:IMAGES/redirect?to=//0x7f000001:CANARY/",
]


def fill(url: str, canary: Canary, images: ImageServer) -> str:
    return url.replace("CANARY", str(canary.port)).replace("IMAGES", str(images.port))


@pytest.mark.parametrize("url", HOSTILE)
async def test_hostile_url_is_refused_before_any_connection(
    url: str, canary: Canary, image_server: ImageServer, spy: tuple[Spy, aiohttp.ClientSession]
) -> None:
    counter, session = spy
    before = canary.connections
    fetcher = fetcher_for(session, FakeDns(FAKE_DNS))
    with pytest.raises(BadRequest) as caught:
        await fetcher.fetch(fill(url, canary, image_server))
    assert caught.value.code == "url_not_allowed", caught.value.message
    assert canary.connections == before
    assert all(IMAGE_HOST in request for request in counter.requests), counter.requests
    if "redirect" in url:
        assert len(counter.requests) == 1  # the allowed first hop only
    else:
        assert counter.requests == []


async def test_localhost_via_the_real_resolver_is_refused(
    canary: Canary, spy: tuple[Spy, aiohttp.ClientSession]
) -> None:
    counter, session = spy
    fetcher = ImageFetcher(session)
    with pytest.raises(BadRequest) as caught:
        await fetcher.fetch(f"http://localhost:{canary.port}/")
    assert caught.value.code == "url_not_allowed"
    assert counter.requests == []
    assert canary.connections == 0


async def test_happy_path_pins_the_vetted_ip_and_sends_the_host_header(
    image_server: ImageServer, spy: tuple[Spy, aiohttp.ClientSession]
) -> None:
    counter, session = spy
    dns = FakeDns(FAKE_DNS)
    body = await fetcher_for(session, dns).fetch(image_server.url("/cat.png"))
    assert body == png_bytes()
    assert open_image(body, 10_000).size == (32, 24)
    assert dns.lookups == ["images.test"]
    assert counter.requests == [f"http://{IMAGE_HOST}:{image_server.port}/cat.png"]
    assert image_server.hosts[-1] == f"images.test:{image_server.port}"


async def test_rebinding_resolver_is_asked_once_per_hop(
    image_server: ImageServer, canary: Canary, spy: tuple[Spy, aiohttp.ClientSession]
) -> None:
    counter, session = spy
    answers = iter([[IMAGE_HOST], ["127.0.0.1"], ["127.0.0.1"]])

    async def rebinding(host: str, port: int) -> Sequence[str]:
        return next(answers)

    fetcher = ImageFetcher(session, allow_networks=ALLOW_IMAGE_HOST, resolver=rebinding)
    before = canary.connections
    assert await fetcher.fetch(image_server.url("/cat.png", "rebind.test")) == png_bytes()
    assert canary.connections == before
    assert [IMAGE_HOST in r for r in counter.requests] == [True]


async def test_allowed_relative_redirect_is_followed(
    image_server: ImageServer, spy: tuple[Spy, aiohttp.ClientSession]
) -> None:
    counter, session = spy
    url = image_server.url("/redirect?to=/cat.png")
    assert await fetcher_for(session, FakeDns(FAKE_DNS)).fetch(url) == png_bytes()
    assert len(counter.requests) == 2


async def test_redirect_loop_stops_at_max_redirects(
    image_server: ImageServer, spy: tuple[Spy, aiohttp.ClientSession]
) -> None:
    counter, session = spy
    fetcher = fetcher_for(session, FakeDns(FAKE_DNS), max_redirects=2)
    with pytest.raises(BadRequest) as caught:
        await fetcher.fetch(image_server.url("/loop"))
    assert caught.value.code == "fetch_failed"
    assert len(counter.requests) == 3


@pytest.mark.parametrize("path", ["/declared-huge", "/chunked-big"])
async def test_oversized_body_is_refused(
    path: str, image_server: ImageServer, spy: tuple[Spy, aiohttp.ClientSession]
) -> None:
    _, session = spy
    fetcher = fetcher_for(session, FakeDns(FAKE_DNS), max_bytes=16 * 1024, timeout_s=10)
    with pytest.raises(BadRequest) as caught:
        await fetcher.fetch(image_server.url(path))
    assert caught.value.code == "image_too_large"


@pytest.mark.parametrize("path", ["/slow", "/trickle"])
async def test_slow_server_fails_within_the_timeout(
    path: str, image_server: ImageServer, spy: tuple[Spy, aiohttp.ClientSession]
) -> None:
    _, session = spy
    fetcher = fetcher_for(session, FakeDns(FAKE_DNS), timeout_s=0.5)
    with pytest.raises(BadRequest) as caught:
        await fetcher.fetch(image_server.url(path))
    assert caught.value.code == "fetch_failed"
    assert "0.5 s" in caught.value.message


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("/missing", "fetch_failed"),
        ("/gzip", "fetch_failed"),
    ],
)
async def test_bad_answers_fail(
    url: str, code: str, image_server: ImageServer, spy: tuple[Spy, aiohttp.ClientSession]
) -> None:
    _, session = spy
    with pytest.raises(BadRequest) as caught:
        await fetcher_for(session, FakeDns(FAKE_DNS)).fetch(image_server.url(url))
    assert caught.value.code == code


async def test_unknown_name_and_closed_port_fail(
    image_server: ImageServer, spy: tuple[Spy, aiohttp.ClientSession]
) -> None:
    _, session = spy
    fetcher = fetcher_for(session, FakeDns(FAKE_DNS))
    for url in ("http://nowhere.test/x.png", f"http://{IMAGE_HOST}:{free_port_on(IMAGE_HOST)}/"):
        with pytest.raises(BadRequest) as caught:
            await fetcher.fetch(url)
        assert caught.value.code == "fetch_failed", url


async def test_allow_hosts_limits_names(
    image_server: ImageServer, spy: tuple[Spy, aiohttp.ClientSession]
) -> None:
    _, session = spy
    dns = FakeDns({**FAKE_DNS, "other.test": [IMAGE_HOST]})
    fetcher = fetcher_for(session, dns, allow_hosts=frozenset({"images.test"}))
    assert await fetcher.fetch(image_server.url("/cat.png")) == png_bytes()
    with pytest.raises(BadRequest) as caught:
        await fetcher.fetch(image_server.url("/cat.png", "other.test"))
    assert caught.value.code == "url_not_allowed"
    with pytest.raises(BadRequest) as caught:
        other = image_server.url("/cat.png", "other.test")
        await fetcher.fetch(image_server.url(f"/redirect?to={other}"))
    assert caught.value.code == "url_not_allowed"


@pytest.mark.parametrize(
    ("address", "allowed"),
    [
        ("8.8.8.8", True),
        ("2606:4700:4700::1111", True),
        ("64:ff9b::808:808", True),  # NAT64 of a public address (DNS64 networks)
        ("2002:808:808::1", True),  # 6to4 of a public address
        ("64:ff9b::a00:1", False),
        ("2002:a00:1::", False),
        ("::ffff:8.8.8.8", False),
        ("2001:db8::1", False),
        ("fec0::1", False),
        ("192.0.2.1", False),
    ],
)
def test_address_allowed(address: str, allowed: bool) -> None:
    assert address_allowed(ipaddress.ip_address(address)) is allowed


def test_exemption_is_narrow() -> None:
    assert address_allowed(ipaddress.ip_address(IMAGE_HOST), ALLOW_IMAGE_HOST)
    assert not address_allowed(ipaddress.ip_address("127.0.0.1"), ALLOW_IMAGE_HOST)
    assert not address_allowed(ipaddress.ip_address("::ffff:127.0.0.2"), ALLOW_IMAGE_HOST)


async def test_sessions_that_read_env_proxies_are_refused() -> None:
    async with aiohttp.ClientSession(trust_env=True) as session:
        with pytest.raises(ValueError, match="trust_env"):
            ImageFetcher(session)
    async with fetch_session() as session:
        assert ImageFetcher(session) is not None


def self_signed(directory: Path, name: str) -> tuple[Path, Path]:
    """A certificate and key for DNS name `name` (openssl CLI)."""
    cert, key = directory / f"{name}.pem", directory / f"{name}.key"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-keyout", str(key), "-out", str(cert), "-subj", f"/CN={name}"),
            *("-addext", f"subjectAltName=DNS:{name}"),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl CLI")
async def test_https_to_the_pinned_ip_verifies_the_certificate_for_the_name(
    tmp_path: Path, canary: Canary
) -> None:
    cert, key = self_signed(tmp_path, "images.test")
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    seen = ImageServer(free_port_on(IMAGE_HOST))
    runner = web.AppRunner(image_app(seen, canary.port), access_log=None, shutdown_timeout=0.1)
    await runner.setup()
    await web.TCPSite(runner, IMAGE_HOST, seen.port, ssl_context=server_tls).start()
    client_tls = ssl.create_default_context(cafile=str(cert))
    dns = FakeDns({**FAKE_DNS, "other.test": [IMAGE_HOST]})
    try:
        async with aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(ssl=client_tls), trust_env=False
        ) as session:
            fetcher = fetcher_for(session, dns)
            url = f"https://images.test:{seen.port}/cat.png"
            assert await fetcher.fetch(url) == png_bytes()
            assert seen.hosts[-1] == f"images.test:{seen.port}"
            with pytest.raises(BadRequest) as caught:  # same IP, but the cert is not for it
                await fetcher.fetch(f"https://other.test:{seen.port}/cat.png")
            assert caught.value.code == "fetch_failed"
    finally:
        await runner.cleanup()
