"""Byte stores behind the response cache: an in-memory LRU and a shared Redis.

Both answer the same two calls: `get(key) -> bytes | None` and `set(key, value, ttl_s)`.
A backend never raises for its own trouble: Redis down, slow or answering garbage makes
`get` a miss and `set` a no-op, reported through `on_bypass(reason)`.
"""

import asyncio
import secrets
import time
import zlib
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol, TypeVar

import redis.asyncio as aioredis
from pydantic import Field, SecretStr, model_validator
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from redis.retry import Retry

from common.secrets import read_secret
from common.settings_base import StrictModel
from router.semantic_store import MemoryStore, RedisStore

KEY_PREFIX = "hybrid-router:cache"
DEFAULT_TIMEOUT_S = 0.05
DEFAULT_RETRY_AFTER_S = 1.0
MIN_SALT_BYTES = 16

T = TypeVar("T")


class CacheBackend(Protocol):
    """Where cached bytes live."""

    name: str

    async def get(self, key: str) -> bytes | None:
        """The stored value, or None when absent, expired or unreachable."""

    async def set(self, key: str, value: bytes, ttl_s: float) -> None:
        """Store `value` for `ttl_s` seconds (best effort)."""


def _ignore_bypass(reason: str) -> None:
    """Default bypass hook: nothing."""


@dataclass(frozen=True)
class _Entry:
    value: bytes
    expires_at: float


class MemoryCache:
    """An LRU of bytes with a per-entry TTL, bounded in entries and in value bytes."""

    name = "memory"

    def __init__(
        self,
        max_entries: int = 10_000,
        max_bytes: int = 64 * 1024 * 1024,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_entries < 1 or max_bytes < 1:
            raise ValueError("max_entries and max_bytes must be positive")
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._clock = clock
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._bytes = 0

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def size_bytes(self) -> int:
        """Bytes held by values and keys."""
        return self._bytes

    async def get(self, key: str) -> bytes | None:
        """The value if present and fresh; refreshes its LRU position."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry.expires_at <= self._clock():
            self._remove(key)
            return None
        self._entries.move_to_end(key)
        return entry.value

    async def set(self, key: str, value: bytes, ttl_s: float) -> None:
        """Store, evicting least recently used entries to stay within both bounds."""
        if key in self._entries:
            self._remove(key)
        size = len(key) + len(value)
        if ttl_s <= 0 or size > self.max_bytes:
            return
        self._entries[key] = _Entry(value, self._clock() + ttl_s)
        self._bytes += size
        while len(self._entries) > self.max_entries or self._bytes > self.max_bytes:
            self._remove(next(iter(self._entries)))

    def _remove(self, key: str) -> None:
        entry = self._entries.pop(key)
        self._bytes -= len(key) + len(entry.value)


class RedisCache:
    """A shared cache in Redis: namespaced keys, zlib values, every call bounded by a timeout.

    After a failure Redis is skipped for `retry_after_s` (a bypass with reason `backoff`),
    then tried again: the cache recovers on its own when Redis comes back.
    """

    name = "redis"

    def __init__(
        self,
        client: aioredis.Redis,
        namespace: str,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        retry_after_s: float = DEFAULT_RETRY_AFTER_S,
        on_bypass: Callable[[str], None] = _ignore_bypass,
        compress_level: int = 6,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not namespace or ":" in namespace:
            raise ValueError("namespace must be non-empty and contain no ':'")
        self._client = client
        self.namespace = namespace
        self._timeout_s = timeout_s
        self._retry_after_s = retry_after_s
        self._on_bypass = on_bypass
        self._level = compress_level
        self._clock = clock
        self._skip_until = float("-inf")

    @classmethod
    def from_url(
        cls,
        url: str,
        namespace: str,
        *,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        retry_after_s: float = DEFAULT_RETRY_AFTER_S,
        on_bypass: Callable[[str], None] = _ignore_bypass,
        clock: Callable[[], float] = time.monotonic,
    ) -> "RedisCache":
        """A cache on its own client for `url`; redis-py does not retry (we bound each call)."""
        client = aioredis.Redis.from_url(
            url,
            socket_timeout=max(timeout_s * 4, 0.05),
            socket_connect_timeout=max(timeout_s * 4, 0.05),
            retry=Retry(NoBackoff(), 0),
        )
        return cls(
            client,
            namespace,
            timeout_s=timeout_s,
            retry_after_s=retry_after_s,
            on_bypass=on_bypass,
            clock=clock,
        )

    def full_key(self, key: str) -> str:
        """The Redis key for a cache key."""
        return f"{KEY_PREFIX}:{self.namespace}:{key}"

    async def get(self, key: str) -> bytes | None:
        """The decompressed value, or None on a miss or any Redis trouble."""
        raw = await self._call(lambda: self._client.get(self.full_key(key)))
        if raw is None:
            return None
        try:
            return zlib.decompress(raw)
        except zlib.error:
            self._on_bypass("corrupt_value")
            return None

    async def set(self, key: str, value: bytes, ttl_s: float) -> None:
        """SET with PX; dropped on any Redis trouble."""
        ttl_ms = int(ttl_s * 1000)
        if ttl_ms <= 0:
            return
        data = zlib.compress(value, self._level)
        await self._call(lambda: self._client.set(self.full_key(key), data, px=ttl_ms))

    async def close(self) -> None:
        """Close the client's connections."""
        await self._client.aclose()

    async def _call(self, command: Callable[[], Awaitable[T]]) -> T | None:
        """Run one command within the timeout; None (and a bypass) on any failure."""
        if self._clock() < self._skip_until:
            self._on_bypass("backoff")
            return None
        try:
            return await asyncio.wait_for(command(), self._timeout_s)
        except TimeoutError:
            reason = "timeout"
        except (RedisError, OSError) as exc:
            reason = type(exc).__name__
        self._skip_until = self._clock() + self._retry_after_s
        self._on_bypass(reason)
        return None


class CacheSettings(StrictModel):
    """The edge's response cache: backend, bounds, TTL, salt and the semantic cache."""

    enabled: bool = True
    backend: Literal["memory", "redis"] = "memory"
    redis_url: str = "redis://127.0.0.1:6379/0"
    namespace: str = Field("default", min_length=1, pattern=r"^[^:]+$")
    ttl_s: float = Field(300.0, gt=0)
    max_entries: int = Field(10_000, ge=1)
    max_bytes: int = Field(64 * 1024 * 1024, ge=1024)
    max_value_bytes: int = Field(1024 * 1024, ge=1024)
    redis_timeout_ms: float = Field(50.0, gt=0)
    redis_retry_after_s: float = Field(1.0, ge=0)
    salt: SecretStr | None = None  # from env (HYBRID_ROUTER_CACHE__SALT) or salt_file
    salt_file: Path | None = None
    semantic_threshold: float = Field(0.85, gt=0, le=1)  # with verification (semantic_guard)
    semantic_max_entries: int = Field(2048, ge=1)
    semantic_ttl_s: float = Field(3600.0, gt=0)
    semantic_backend: Literal["memory", "redis"] = "memory"  # redis: shared by edge nodes
    semantic_max_per_scope: int = Field(256, ge=1)  # redis: entries per tenant/scope
    semantic_verify: bool = True  # check a near prompt for a change of meaning before reuse
    # Which generate answers the exact cache keeps: `proven` (the central marks outputs
    # `"deterministic": true`), `temperature_zero` (trust greedy decoding) or `never`.
    generate: Literal["proven", "temperature_zero", "never"] = "proven"

    @model_validator(mode="after")
    def _shared_needs_salt(self) -> "CacheSettings":
        if self.backend == "redis" and self.salt is None and self.salt_file is None:
            raise ValueError(
                "cache.backend=redis needs cache.salt or cache.salt_file (the same on every node)"
            )
        if self.salt is not None and len(self.salt.get_secret_value()) < MIN_SALT_BYTES:
            raise ValueError(f"cache.salt must be at least {MIN_SALT_BYTES} characters")
        return self

    def salt_bytes(self) -> bytes:
        """The configured salt (env or file), or a random one for this process."""
        secret = read_secret(self.salt, self.salt_file)
        if secret is None:
            return secrets.token_bytes(32)
        if len(secret.encode()) < MIN_SALT_BYTES:
            raise ValueError(f"cache.salt_file must hold at least {MIN_SALT_BYTES} bytes")
        return secret.encode()

    def build_semantic_store(self, on_trouble: Callable[[str], None]) -> "MemoryStore | RedisStore":
        """The semantic entries' store: in memory, or in Redis when configured."""
        if self.semantic_backend == "redis":
            client = aioredis.Redis.from_url(
                self.redis_url,
                socket_timeout=max(self.redis_timeout_ms / 250, 0.05),
                socket_connect_timeout=max(self.redis_timeout_ms / 250, 0.05),
                retry=Retry(NoBackoff(), 0),
            )
            return RedisStore(
                client,
                self.namespace,
                self.semantic_ttl_s,
                self.semantic_max_per_scope,
                timeout_s=self.redis_timeout_ms / 1000,
                on_trouble=on_trouble,
            )
        return MemoryStore(self.semantic_max_entries, self.semantic_ttl_s)

    def build_backend(self, on_bypass: Callable[[str], None]) -> MemoryCache | RedisCache:
        """The configured backend (a Redis client is created, not connected)."""
        if self.backend == "redis":
            return RedisCache.from_url(
                self.redis_url,
                self.namespace,
                timeout_s=self.redis_timeout_ms / 1000,
                retry_after_s=self.redis_retry_after_s,
                on_bypass=on_bypass,
            )
        return MemoryCache(self.max_entries, self.max_bytes)
