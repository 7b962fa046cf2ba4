"""Where semantic-cache entries live: an in-memory matrix (default) or Redis (shared).

An entry is a prompt, its unit embedding, the serialized answer and an expiry, filed
under a scope (the hash of model, tenant, parameters and context: entries of one tenant
are never candidates for another). `nearest(scope, vector, k)` returns up to k live
entries of the scope, most similar first; the cache then verifies them one by one.
Redis keeps one hash per scope (field = prompt hash), so every edge node sees the same
entries; its trouble (down, slow, garbage) reads as a miss and is reported, never raised.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import time
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol, TypeVar

import numpy as np
import redis.asyncio as aioredis
from redis.exceptions import RedisError

KEY_PREFIX = "hybrid-router:semantic"
T = TypeVar("T")


@dataclass(frozen=True)
class Entry:
    """A stored prompt and answer, with the similarity to the query that found it."""

    key: str
    prompt: str
    data: bytes
    similarity: float


class SemanticStore(Protocol):
    """Entries by scope, searched by cosine similarity."""

    name: str

    async def nearest(self, scope: str, vector: np.ndarray, k: int) -> list[Entry]:
        """Up to `k` live entries of `scope`, most similar first."""

    async def put(self, scope: str, prompt: str, vector: np.ndarray, data: bytes) -> None:
        """Store (or replace) the entry for `prompt` in `scope`."""

    async def touch(self, scope: str, key: str) -> None:
        """Mark an entry as just used (LRU)."""


def prompt_key(prompt: str) -> str:
    """A short stable id for a prompt within its scope."""
    return hashlib.sha256(prompt.encode()).hexdigest()[:24]


class MemoryStore:
    """A bounded matrix of unit vectors with per-entry TTL; the least recently used makes room."""

    name = "memory"

    def __init__(
        self, max_entries: int, ttl_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.max_entries = max_entries
        self._ttl_s = ttl_s
        self._clock = clock
        self._vectors: np.ndarray | None = None
        self._scopes: list[str | None] = [None] * max_entries
        self._keys: list[str] = [""] * max_entries
        self._prompts: list[str] = [""] * max_entries
        self._data: list[bytes] = [b""] * max_entries
        self._expires = np.full(max_entries, -np.inf)
        self._used = np.full(max_entries, -np.inf)

    def __len__(self) -> int:
        return int((self._expires > self._clock()).sum())

    async def nearest(self, scope: str, vector: np.ndarray, k: int) -> list[Entry]:
        """The k most similar live entries of the scope."""
        if self._vectors is None:
            return []
        if vector.shape[0] != self._vectors.shape[1]:
            raise ValueError(
                f"embedding has {vector.shape[0]} dims, cache has {self._vectors.shape[1]}"
            )
        live = self._expires > self._clock()
        in_scope = np.fromiter((s == scope for s in self._scopes), bool, self.max_entries)
        slots = np.flatnonzero(live & in_scope)
        if slots.size == 0:
            return []
        similarities = self._vectors[slots] @ vector
        order = np.argsort(-similarities)[:k]
        return [
            Entry(
                self._keys[int(slots[i])],
                self._prompts[int(slots[i])],
                self._data[int(slots[i])],
                float(similarities[i]),
            )
            for i in order
        ]

    async def put(self, scope: str, prompt: str, vector: np.ndarray, data: bytes) -> None:
        """Replace the same prompt's slot, else a free one, else the least recently used."""
        if self._vectors is None:
            self._vectors = np.zeros((self.max_entries, vector.shape[0]), dtype=np.float32)
        now, key = self._clock(), prompt_key(prompt)
        same = [
            i for i, (s, k) in enumerate(zip(self._scopes, self._keys, strict=True))
            if s == scope and k == key
        ]  # fmt: skip
        if same:
            slot = same[0]
        else:
            free = np.flatnonzero(self._expires <= now)
            slot = int(free[0]) if free.size else int(np.argmin(self._used))
        self._vectors[slot] = vector
        self._scopes[slot], self._keys[slot] = scope, key
        self._prompts[slot], self._data[slot] = prompt, data
        self._expires[slot] = now + self._ttl_s
        self._used[slot] = now

    async def touch(self, scope: str, key: str) -> None:
        """Refresh the entry's LRU position."""
        for i, (s, k) in enumerate(zip(self._scopes, self._keys, strict=True)):
            if s == scope and k == key:
                self._used[i] = self._clock()
                return


def _ignore(outcome: str) -> None:
    """Default trouble hook: nothing."""


class RedisStore:
    """Entries in one Redis hash per scope, shared by every edge node of a namespace.

    Expiry is wall-clock (`clock`, default `time.time`) because nodes compare it; the hash
    itself expires `ttl_s` after its last write. A scope keeps at most `max_per_scope`
    entries (the oldest go first).
    """

    name = "redis"

    def __init__(
        self,
        client: aioredis.Redis,
        namespace: str,
        ttl_s: float,
        max_per_scope: int = 256,
        timeout_s: float = 0.05,
        on_trouble: Callable[[str], None] = _ignore,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._client = client
        self.namespace = namespace
        self._ttl_s = ttl_s
        self._max = max_per_scope
        self._timeout_s = timeout_s
        self._on_trouble = on_trouble
        self._clock = clock

    def full_key(self, scope: str) -> str:
        """The Redis hash of a scope."""
        return f"{KEY_PREFIX}:{self.namespace}:{scope}"

    async def nearest(self, scope: str, vector: np.ndarray, k: int) -> list[Entry]:
        """Read the scope's entries, drop expired or unreadable ones, rank by similarity."""
        raw = await self._call(lambda: self._client.hgetall(self.full_key(scope)))
        if not raw:
            return []
        now = self._clock()
        entries: list[tuple[str, str, bytes, np.ndarray]] = []
        for field, value in raw.items():
            decoded = self._decode(value)
            if decoded is None or decoded[3] <= now or decoded[1].shape != vector.shape:
                continue
            entries.append((field.decode(), decoded[0], decoded[2], decoded[1]))
        if not entries:
            return []
        similarities = np.stack([e[3] for e in entries]) @ vector
        order = np.argsort(-similarities)[:k]
        return [
            Entry(entries[i][0], entries[i][1], entries[i][2], float(similarities[i]))
            for i in order
        ]

    async def put(self, scope: str, prompt: str, vector: np.ndarray, data: bytes) -> None:
        """HSET the entry, refresh the hash's TTL, trim the oldest past `max_per_scope`."""
        key = self.full_key(scope)
        value = json.dumps(
            {
                "p": prompt,
                "v": base64.b64encode(vector.astype(np.float32).tobytes()).decode(),
                "e": self._clock() + self._ttl_s,
                "r": base64.b64encode(data).decode(),
            }
        ).encode()
        packed = zlib.compress(value)

        async def write() -> int:
            pipe = self._client.pipeline(transaction=False)
            pipe.hset(key, prompt_key(prompt), packed)
            pipe.pexpire(key, int(self._ttl_s * 1000))
            pipe.hlen(key)
            return int((await pipe.execute())[2])

        size = await self._call(write)
        if size is not None and size > self._max:
            await self._trim(key)

    async def touch(self, scope: str, key: str) -> None:
        """Redis entries age by write time only; nothing to do."""

    async def _trim(self, key: str) -> None:
        """Drop the entries that expire first until the scope is within bounds."""
        raw = await self._call(lambda: self._client.hgetall(key))
        if not raw:
            return
        expiry = {f: (d[3] if (d := self._decode(v)) else -1.0) for f, v in raw.items()}
        doomed = sorted(expiry, key=expiry.__getitem__)[: len(raw) - self._max]
        if doomed:
            await self._call(lambda: self._client.hdel(key, *doomed))

    def _decode(self, value: bytes) -> tuple[str, np.ndarray, bytes, float] | None:
        """(prompt, vector, data, expires) of a stored value, or None if unreadable."""
        try:
            obj = json.loads(zlib.decompress(value))
            vector = np.frombuffer(base64.b64decode(obj["v"]), dtype=np.float32)
            return str(obj["p"]), vector, base64.b64decode(obj["r"]), float(obj["e"])
        except (zlib.error, ValueError, KeyError, TypeError):
            self._on_trouble("corrupt_value")
            return None

    async def _call(self, command: Callable[[], Awaitable[T]]) -> T | None:
        """One bounded Redis round trip; None (and a report) on any trouble."""
        try:
            return await asyncio.wait_for(command(), self._timeout_s)
        except TimeoutError:
            self._on_trouble("timeout")
        except (RedisError, OSError) as exc:
            self._on_trouble(type(exc).__name__)
        return None

    async def close(self) -> None:
        """Close the client's connections."""
        await self._client.aclose()
