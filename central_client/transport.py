"""The tiny seam between the client's logic and HTTP (httpx style), and aiohttp behind it.

TransportError                  anything below HTTP semantics, translated here in one place
├── ConnectFailed               no connection (refused, DNS, TLS, reset before an answer)
├── ReadTimedOut                the attempt's time ran out
└── BodyError                   the answer broke the rules while being read
    ├── BodyTooLarge            more bytes than the limit
    └── LineTooLong             a streamed line over the line limit

Layers above see `Request` in, `Response` out; tests swap in `MockTransport(handler)`.
"""

import asyncio
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from typing import Protocol

import aiohttp
from multidict import CIMultiDict, CIMultiDictProxy

CHUNK = 64 * 1024


def tls_context(ca_file: str | None) -> ssl.SSLContext:
    """A verifying client context that refuses anything below TLS 1.2."""
    context = ssl.create_default_context(cafile=ca_file)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


class TransportError(Exception):
    """An attempt failed below HTTP semantics."""


class ConnectFailed(TransportError):
    """No usable connection."""


class ReadTimedOut(TransportError):
    """The attempt's time ran out."""


class BodyError(TransportError):
    """The answer's body broke a limit or ended badly."""


class BodyTooLarge(BodyError):
    """More bytes than the limit."""


class LineTooLong(BodyError):
    """A streamed line over the line limit."""


@dataclass(frozen=True)
class Timeouts:
    """Connect, per-read and total limits for one attempt."""

    connect_s: float = 2.0
    read_s: float = 60.0
    total_s: float = 120.0


@dataclass(frozen=True)
class Request:
    """One HTTP request: method, URL, headers, body bytes and its time limits."""

    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    timeouts: Timeouts = Timeouts()


class Response(Protocol):
    """An answer whose body is read with limits, whole or line by line."""

    status: int
    headers: CIMultiDictProxy[str] | CIMultiDict[str]

    async def read(self, limit: int) -> bytes:
        """The whole body; BodyTooLarge past `limit` bytes."""

    def lines(self, max_line: int) -> AsyncIterator[bytes]:
        """Body lines without their endings; LineTooLong past `max_line` bytes."""


class Transport(Protocol):
    """Opens a request; the answer stays open until the context exits."""

    def open(self, request: Request) -> AbstractAsyncContextManager[Response]:
        """Send `request` and yield its response."""


async def split_lines(chunks: AsyncIterator[bytes], max_line: int) -> AsyncIterator[bytes]:
    """Lines from byte chunks, bounded, whatever the chunk boundaries."""
    pending = b""
    async for chunk in chunks:
        pending += chunk
        while (cut := pending.find(b"\n")) != -1:
            line, pending = pending[:cut], pending[cut + 1 :]
            if len(line) > max_line:
                raise LineTooLong(f"a streamed line is over {max_line} bytes")
            yield line.rstrip(b"\r")
        if len(pending) > max_line:
            raise LineTooLong(f"a streamed line is over {max_line} bytes")
    if pending:
        yield pending.rstrip(b"\r")


async def read_limited(chunks: AsyncIterator[bytes], limit: int) -> bytes:
    """All chunks joined; BodyTooLarge as soon as they pass `limit` bytes."""
    parts: list[bytes] = []
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(f"the answer is over {limit} bytes")
        parts.append(chunk)
    return b"".join(parts)


class _AiohttpResponse:
    """An aiohttp response behind the `Response` protocol."""

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response
        self.status = response.status
        self.headers = response.headers

    async def _chunks(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._response.content.iter_chunked(CHUNK):
                yield chunk
        except TimeoutError as exc:
            raise ReadTimedOut("the answer stopped arriving in time") from exc
        except aiohttp.ClientPayloadError as exc:
            raise BodyError(f"the answer broke off: {exc.__class__.__name__}") from exc
        except aiohttp.ClientError as exc:
            raise ConnectFailed(f"the connection failed: {exc.__class__.__name__}") from exc

    async def read(self, limit: int) -> bytes:
        """The whole body, read in a bounded loop (aiohttp's `read(n)` returns what is buffered)."""
        declared = self._response.content_length
        if declared is not None and declared > limit:
            raise BodyTooLarge(f"the answer declares {declared} bytes, over {limit}")
        return await read_limited(self._chunks(), limit)

    def lines(self, max_line: int) -> AsyncIterator[bytes]:
        """Body lines, split here so an overlong line is a typed error, not aiohttp's."""
        return split_lines(self._chunks(), max_line)


class AiohttpTransport:
    """Requests over one pooled aiohttp session."""

    def __init__(self, session: aiohttp.ClientSession) -> None:
        self._session = session

    @asynccontextmanager
    async def open(self, request: Request) -> AsyncIterator[Response]:
        """Send `request`; connection and timeout failures become TransportErrors."""
        timeout = aiohttp.ClientTimeout(
            total=request.timeouts.total_s,
            connect=request.timeouts.connect_s,
            sock_read=request.timeouts.read_s,
        )
        try:
            async with self._session.request(
                request.method,
                request.url,
                data=request.body or None,
                headers=request.headers,
                timeout=timeout,
                allow_redirects=False,
            ) as response:
                yield _AiohttpResponse(response)
        except TimeoutError as exc:
            raise ReadTimedOut("no answer in time") from exc
        except aiohttp.ClientError as exc:
            raise ConnectFailed(f"unreachable: {exc.__class__.__name__}") from exc


Handler = Callable[[Request], Awaitable["MockResponse"]]


@dataclass
class MockResponse:
    """A scripted answer for `MockTransport`: status, headers and body (or body chunks)."""

    status: int = 200
    body: bytes = b""
    headers: CIMultiDict[str] = field(default_factory=CIMultiDict)
    chunks: list[bytes] | None = None

    async def _chunks(self) -> AsyncIterator[bytes]:
        for chunk in self.chunks if self.chunks is not None else [self.body]:
            await asyncio.sleep(0)
            yield chunk

    async def read(self, limit: int) -> bytes:
        """The scripted body, under the same limit rule as aiohttp's."""
        return await read_limited(self._chunks(), limit)

    def lines(self, max_line: int) -> AsyncIterator[bytes]:
        """The scripted body's lines."""
        return split_lines(self._chunks(), max_line)


class MockTransport:
    """A transport that answers from a handler function, for tests (httpx's MockTransport)."""

    def __init__(self, handler: Handler) -> None:
        self._handler = handler
        self.requests: list[Request] = []

    @asynccontextmanager
    async def open(self, request: Request) -> AsyncIterator[Response]:
        """Record the request and yield the handler's answer."""
        self.requests.append(request)
        yield await self._handler(request)
