"""Fetching `image_url` inputs: vet every hop, pin the vetted IP, cap size and time.

Each URL (the first and each redirect hop) passes `router.url_guard` before any connection.
The request then goes to the vetted IP itself (Host header + TLS server_hostname keep
virtual hosting and certificate checks), so DNS rebinding cannot swap the address.

Errors are `BadRequest` with code `url_not_allowed`, `fetch_failed` or `image_too_large`.
"""

import asyncio
import contextlib
import ipaddress
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass

import aiohttp
from yarl import URL

from common.errors import BadRequest
from router.url_guard import IPAddress, IPNetwork, address_allowed, refuse, vet_url

MiB = 1024 * 1024
DEFAULT_MAX_BYTES = 10 * MiB
DEFAULT_TIMEOUT_S = 5.0
DEFAULT_MAX_REDIRECTS = 3
CHUNK_BYTES = 64 * 1024
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})

Resolver = Callable[[str, int], Awaitable[Sequence[str]]]


def _failed(message: str) -> BadRequest:
    """A fetch_failed error."""
    return BadRequest(f"image_url fetch failed: {message}", "fetch_failed")


async def getaddrinfo_resolver(host: str, port: int) -> list[str]:
    """Every address the system resolver gives for host (the default resolver)."""
    infos = await asyncio.get_running_loop().getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
    )
    return [str(info[4][0]) for info in infos]


@dataclass(frozen=True)
class Hop:
    """One vetted request: the URL as given, the IP to connect to, and how to reach it."""

    url: URL
    ip: IPAddress

    def target(self) -> URL:
        """The URL with its host replaced by the pinned IP."""
        return self.url.with_host(str(self.ip)).with_fragment(None)

    def host_header(self) -> str:
        """The Host header the server expects."""
        host = self.url.raw_host or ""
        host = f"[{host}]" if ":" in host else host
        return host if self.url.is_default_port() else f"{host}:{self.url.port}"


class ImageFetcher:
    """Fetches image bytes from public http(s) URLs, refusing anything that could reach inside."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        max_bytes: int = DEFAULT_MAX_BYTES,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        max_redirects: int = DEFAULT_MAX_REDIRECTS,
        allow_hosts: frozenset[str] = frozenset(),
        allow_networks: tuple[IPNetwork, ...] = (),
        resolver: Resolver = getaddrinfo_resolver,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if session.trust_env:
            raise ValueError("the fetch session must not read proxies from env (trust_env=False)")
        self._session = session
        self._max_bytes = max_bytes
        self._timeout_s = timeout_s
        self._max_redirects = max_redirects
        self._allow_hosts = frozenset(h.lower().rstrip(".") for h in allow_hosts)
        self._allow_networks = allow_networks
        self._resolve = resolver
        self._clock = clock

    async def fetch(self, url: str) -> bytes:
        """The body at `url` after at most `max_redirects` vetted redirects."""
        try:
            current = URL(url)
        except (ValueError, TypeError):
            raise refuse("malformed URL") from None
        deadline = self._clock() + self._timeout_s
        try:
            async with asyncio.timeout(self._timeout_s):
                for _ in range(self._max_redirects + 1):
                    hop = await self.vet(current)
                    body, location = await self._request(hop, deadline)
                    if location is None:
                        return body
                    try:
                        current = current.join(URL(location))
                    except (ValueError, TypeError):
                        raise refuse("malformed redirect Location") from None
        except TimeoutError:
            raise _failed(f"no complete answer within {self._timeout_s:g} s") from None
        except (aiohttp.ClientError, OSError, ValueError) as exc:
            raise _failed(type(exc).__name__) from exc
        raise _failed(f"more than {self._max_redirects} redirects")

    async def vet(self, url: URL) -> Hop:
        """Check a URL and resolve its host; the hop to connect to (first allowed address)."""
        host = vet_url(url, self._allow_hosts)
        if isinstance(host, str):
            try:
                found = await self._resolve(host, url.port or 0)
            except (OSError, UnicodeError) as exc:
                raise _failed(f"cannot resolve {host}") from exc
            if not found:
                raise _failed(f"cannot resolve {host}")
            try:
                addresses = [ipaddress.ip_address(a) for a in found]
            except ValueError:
                raise refuse(f"{host} resolved to a malformed address") from None
        else:
            addresses = [host]
        for ip in addresses:
            if not address_allowed(ip, self._allow_networks):
                raise refuse(f"{url.raw_host} is, or resolves to, a non-public address")
        return Hop(url, addresses[0])

    async def _request(self, hop: Hop, deadline: float) -> tuple[bytes, str | None]:
        """One request to the pinned IP: (body, None) or (b"", Location) for a redirect."""
        timeout = aiohttp.ClientTimeout(total=max(0.001, deadline - self._clock()))
        async with self._session.get(
            hop.target(),
            headers={"Host": hop.host_header(), "Accept": "image/*", "Accept-Encoding": "identity"},
            allow_redirects=False,
            server_hostname=hop.url.raw_host if hop.url.scheme == "https" else None,
            auto_decompress=False,
            timeout=timeout,
        ) as response:
            if response.status in REDIRECT_STATUSES:
                location = response.headers.get("Location")
                if not location:
                    raise _failed(f"HTTP {response.status} without a Location")
                return b"", location
            if response.status != 200:
                raise _failed(f"HTTP {response.status}")
            encoding = response.headers.get("Content-Encoding", "identity").strip().lower()
            if encoding not in ("", "identity"):
                raise _failed(f"unsupported Content-Encoding {encoding!r}")
            return await self._read_capped(response), None

    async def _read_capped(self, response: aiohttp.ClientResponse) -> bytes:
        """The body, refusing it past max_bytes (declared length first, then bytes counted)."""
        too_large = BadRequest(
            f"image at image_url is over {self._max_bytes} bytes", "image_too_large"
        )
        if response.content_length is not None and response.content_length > self._max_bytes:
            raise too_large
        chunks: list[bytes] = []
        total = 0
        async for chunk in response.content.iter_chunked(CHUNK_BYTES):
            total += len(chunk)
            if total > self._max_bytes:
                raise too_large
            chunks.append(chunk)
        if total == 0:
            raise _failed("empty body")
        return b"".join(chunks)


def fetch_session(connections: int = 16) -> aiohttp.ClientSession:
    """A session fit for ImageFetcher: no env proxies, no cookies, no DNS cache."""
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=connections, use_dns_cache=False),
        cookie_jar=aiohttp.DummyCookieJar(),
        trust_env=False,
        auto_decompress=False,
    )


@contextlib.asynccontextmanager
async def open_image_fetcher(
    max_bytes: int = DEFAULT_MAX_BYTES,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    max_redirects: int = DEFAULT_MAX_REDIRECTS,
    allow_hosts: frozenset[str] = frozenset(),
) -> AsyncIterator[ImageFetcher]:
    """An ImageFetcher over its own session, closed on exit (for an app's cleanup_ctx)."""
    async with fetch_session() as session:
        yield ImageFetcher(session, max_bytes, timeout_s, max_redirects, allow_hosts)
