"""The exact response cache: keys of canonical jobs, what may be cached, single-flight lookups.

`cache_key(job, salt)` is an HMAC-SHA256 (keyed by a per-deployment salt, so keys of redacted
text cannot be brute-forced) over the canonical job: model, task, tenant, inputs (binary
payloads hashed) and every parameter that changes the answer. `cache_policy` says whether a
job may be read from and/or written to the cache. `ResponseCache.get_or_compute` looks up,
and on a miss runs the producer once for all identical concurrent misses, storing successes.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import BaseModel, Field, SecretStr, model_validator

from router.cache_backends import CacheBackend, MemoryCache, RedisCache
from router.jobs import Job, JobInput

if TYPE_CHECKING:  # router.pipeline may import this module to wire the cache in
    from router.pipeline import Result

KEY_VERSION = 1
MIN_SALT_BYTES = 16
ANSWER_PARAMETERS = (
    "max_tokens",
    "temperature",
    "top_p",
    "labels",
    "label_set",
    "top_k",
    "response_format",
)
DETERMINISTIC_TASKS = frozenset({"embed", "classify", "classify_image", "detect_speech"})

EventHook = Callable[[str, str], None]
Producer = Callable[[], Awaitable["Result"]]


def _digest(data: bytes | None) -> str | None:
    return None if data is None else hashlib.sha256(data).hexdigest()


def canonical_input(item: JobInput) -> dict[str, Any]:
    """One input as JSON-able data, binary payloads replaced by their sha256."""
    return {
        "text": item.text,
        "messages": [list(m) for m in item.messages],
        "image": _digest(item.image),
        "image_url": item.image_url,
        "audio": _digest(item.audio),
        "modality": item.modality,
    }


def canonical_scope(job: Job) -> dict[str, Any]:
    """Everything but the inputs that decides the answer: model, task, tenant, parameters."""
    p = job.params
    return {
        "v": KEY_VERSION,
        "model": job.model,
        "pinned_edge_model": job.pinned_edge_model,
        "task": job.task,
        "tenant": job.tenant,
        "params": {
            "max_tokens": int(p.max_tokens),
            "temperature": float(p.temperature),
            "top_p": float(p.top_p),
            "labels": list(p.labels),
            "label_set": p.label_set,
            "top_k": int(p.top_k),
            "response_format": p.response_format,
        },
    }


def canonical_bytes(data: dict[str, Any]) -> bytes:
    """Deterministic JSON: sorted keys, no whitespace."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def cache_key(job: Job, salt: bytes) -> str:
    """HMAC-SHA256 (hex) of the canonical job under the deployment's salt."""
    if len(salt) < MIN_SALT_BYTES:
        raise ValueError(f"the cache salt must be at least {MIN_SALT_BYTES} bytes")
    data = {**canonical_scope(job), "inputs": [canonical_input(i) for i in job.inputs]}
    return hmac.new(salt, canonical_bytes(data), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class CachePolicy:
    """Whether a request may be answered from the cache, and whether its answer may be kept."""

    read: bool
    write: bool

    @property
    def active(self) -> bool:
        """True when the cache is involved at all."""
        return self.read or self.write


BYPASS = CachePolicy(read=False, write=False)


def cache_directives(header: str | None) -> frozenset[str]:
    """Directive names of a Cache-Control header, lower-cased (`max-age=0` kept whole)."""
    if not header:
        return frozenset()
    return frozenset(d.strip().lower().replace(" ", "") for d in header.split(",") if d.strip())


def is_cacheable(job: Job) -> bool:
    """Deterministic tasks always; `generate` at temperature 0; anything with `cache: true`."""
    if job.params.cache is not None:
        return job.params.cache
    if job.task in DETERMINISTIC_TASKS:
        return True
    return job.task == "generate" and job.params.temperature == 0


def cache_policy(job: Job, cache_control: str | None = None) -> CachePolicy:
    """The job's cache policy after the request's Cache-Control (no-cache, no-store)."""
    if not is_cacheable(job):
        return BYPASS
    directives = cache_directives(cache_control)
    if "no-store" in directives:
        return BYPASS
    fresh = "no-cache" in directives or "max-age=0" in directives
    return CachePolicy(read=not fresh, write=True)


def _json_default(value: object) -> object:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot cache a value of type {type(value).__name__}")


def result_to_bytes(result: Result) -> bytes:
    """A Result as compact JSON; TypeError when its outputs are not JSON-able."""
    data = {
        "outputs": result.outputs,
        "route": result.route,
        "reason": result.reason,
        "model": result.model,
        "usage": result.usage,
    }
    return json.dumps(data, separators=(",", ":"), default=_json_default).encode()


def result_from_bytes(data: bytes) -> Result:
    """The Result stored by `result_to_bytes`; ValueError when the bytes are not one."""
    from router.pipeline import Result  # deferred: router.pipeline may import this module

    try:
        obj = json.loads(data)
        result = Result(
            outputs=list(obj["outputs"]),
            route=str(obj["route"]),
            reason=str(obj["reason"]),
            model=str(obj["model"]),
            usage={str(k): int(v) for k, v in obj["usage"].items()},
        )
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise ValueError(f"not a cached result: {exc}") from None
    if not all(isinstance(o, dict) for o in result.outputs):
        raise ValueError("not a cached result: outputs must be objects")
    return result


def _ignore_event(backend: str, outcome: str) -> None:
    """Default event hook: nothing."""


class _Flight:
    """One producer run shared by every caller that missed on the same key."""

    def __init__(self, task: asyncio.Task[Result]) -> None:
        self.task = task
        self.waiters = 0

    async def join(self) -> Result:
        """Await the shared run; the last caller to give up cancels it."""
        self.waiters += 1
        try:
            return await asyncio.shield(self.task)
        finally:
            self.waiters -= 1
            if self.waiters == 0 and not self.task.done():
                self.task.cancel()


class ResponseCache:
    """Lookup, single-flight on misses, store on success; events go to `on_event`.

    Outcomes: `hit`, `miss` (this caller runs the producer), `coalesced` (joined a run
    already in flight), `store`, `too_large` (not stored), `error` (a stored value that
    could not be read, or a result that could not be serialized).
    """

    def __init__(
        self,
        backend: CacheBackend,
        ttl_s: float = 300.0,
        on_event: EventHook = _ignore_event,
        max_value_bytes: int = 1024 * 1024,
    ) -> None:
        self.backend = backend
        self._ttl_s = ttl_s
        self._on_event = on_event
        self._max_value_bytes = max_value_bytes
        self._flights: dict[str, _Flight] = {}

    async def get_or_compute(
        self, key: str, policy: CachePolicy, produce: Producer
    ) -> tuple[Result, bool]:
        """The cached result (hit=True) or the produced one (hit=False)."""
        if not policy.read:
            result = await produce()
            if policy.write:
                await self._store(key, result)
            return result, False
        flight = self._flights.get(key)
        if flight is None:
            cached = await self._read(key)
            if cached is not None:
                self._event("hit")
                return cached, True
            flight = self._flights.get(key)
        if flight is not None:
            self._event("coalesced")
            return await flight.join(), False
        self._event("miss")
        flight = _Flight(asyncio.create_task(self._produce_and_store(key, policy, produce)))
        flight.task.add_done_callback(lambda task: self._land(key, flight, task))
        self._flights[key] = flight
        return await flight.join(), False

    def in_flight(self) -> int:
        """Keys whose producer is running now."""
        return len(self._flights)

    async def _produce_and_store(self, key: str, policy: CachePolicy, produce: Producer) -> Result:
        result = await produce()
        if policy.write:
            await self._store(key, result)
        return result

    def _land(self, key: str, flight: _Flight, task: asyncio.Task[Result]) -> None:
        """A run ended: forget it (before its waiters wake) and mark its error as seen."""
        if self._flights.get(key) is flight:
            del self._flights[key]
        if not task.cancelled():
            task.exception()

    async def _read(self, key: str) -> Result | None:
        data = await self.backend.get(key)
        if data is None:
            return None
        try:
            return result_from_bytes(data)
        except ValueError:
            self._event("error")
            return None

    async def _store(self, key: str, result: Result) -> None:
        try:
            data = result_to_bytes(result)
        except (TypeError, ValueError):
            self._event("error")
            return
        if len(data) > self._max_value_bytes:
            self._event("too_large")
            return
        await self.backend.set(key, data, self._ttl_s)
        self._event("store")

    def _event(self, outcome: str) -> None:
        self._on_event(self.backend.name, outcome)


class CacheSettings(BaseModel):
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
    salt: SecretStr | None = None
    semantic_threshold: float = Field(0.92, gt=0, le=1)
    semantic_max_entries: int = Field(2048, ge=1)
    semantic_ttl_s: float = Field(3600.0, gt=0)

    @model_validator(mode="after")
    def _shared_needs_salt(self) -> CacheSettings:
        if self.backend == "redis" and self.salt is None:
            raise ValueError("cache.backend=redis needs cache.salt (the same on every edge node)")
        if self.salt is not None and len(self.salt.get_secret_value()) < MIN_SALT_BYTES:
            raise ValueError(f"cache.salt must be at least {MIN_SALT_BYTES} characters")
        return self

    def salt_bytes(self) -> bytes:
        """The configured salt, or a random one for this process (memory backend only)."""
        if self.salt is None:
            return secrets.token_bytes(32)
        return self.salt.get_secret_value().encode()

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
