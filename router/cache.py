"""The exact response cache: keys of canonical jobs, what may be cached, single-flight lookups.

`cache_key(job, salt)` is an HMAC-SHA256 (keyed by a per-deployment salt, so keys of redacted
text cannot be brute-forced) over the canonical job: model, task, tenant, inputs (binary
payloads hashed) and every parameter that changes the answer. `cache_policy` says whether a
job may be read from and/or written to the cache. `ResponseCache.get_or_compute` looks up,
and on a miss runs the producer once for all identical concurrent misses, storing successes.
`EdgeCache.run` puts the exact cache and the (opt-in) semantic cache around one producer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from router.cache_backends import MIN_SALT_BYTES, CacheBackend
from router.cache_keys import cache_key, result_from_bytes, result_to_bytes
from router.jobs import Job, Result

if TYPE_CHECKING:
    from router.semantic_cache import SemanticCache

DETERMINISTIC_TASKS = frozenset({"embed", "classify", "classify_image", "detect_speech"})
# Which `generate` answers the exact cache keeps. Temperature 0 alone is no proof: batched and
# single calls of the same prompt gave different text. `proven`: only answers whose every
# output says `"deterministic": true` (the central vouches for it); `temperature_zero`: trust
# greedy decoding (the operator's call); `never`. A caller's explicit `cache: true` always wins.
GenerateMode = Literal["proven", "temperature_zero", "never"]

EventHook = Callable[[str, str], None]
Producer = Callable[[], Awaitable["Result"]]


@dataclass(frozen=True)
class CachePolicy:
    """Whether a request may be answered from the cache, and whether its answer may be kept."""

    read: bool
    write: bool
    proof: bool = False  # write only answers proven deterministic (see `proven`)

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


def is_cacheable(job: Job, generate: GenerateMode = "temperature_zero") -> bool:
    """Deterministic tasks always; `generate` at temperature 0 unless the mode is `never`;
    anything with `cache: true`. Under `proven`, a generate answer is still only written when
    it proves deterministic (see `cache_policy`)."""
    if job.params.cache is not None:
        return job.params.cache
    if job.task in DETERMINISTIC_TASKS:
        return True
    return job.task == "generate" and job.params.temperature == 0 and generate != "never"


def proven(result: Result) -> bool:
    """Whether every output carries the central's `"deterministic": true`."""
    return bool(result.outputs) and all(o.get("deterministic") is True for o in result.outputs)


def header_policy(cache_control: str | None) -> CachePolicy:
    """What Cache-Control allows: no-cache (or max-age=0) → write only; no-store → nothing."""
    directives = cache_directives(cache_control)
    if "no-store" in directives:
        return BYPASS
    fresh = "no-cache" in directives or "max-age=0" in directives
    return CachePolicy(read=not fresh, write=True)


def cache_policy(
    job: Job, cache_control: str | None = None, generate: GenerateMode = "temperature_zero"
) -> CachePolicy:
    """The job's exact-cache policy: cacheable at all, then the request's Cache-Control."""
    if not is_cacheable(job, generate):
        return BYPASS
    policy = header_policy(cache_control)
    needs_proof = job.task == "generate" and generate == "proven" and job.params.cache is None
    return CachePolicy(policy.read, policy.write, proof=True) if needs_proof else policy


def semantic_policy(job: Job, cache_control: str | None = None) -> CachePolicy:
    """Semantic-cache policy: opted in (`semantic_cache`, not `cache: false`), then headers."""
    if not job.params.semantic_cache or job.params.cache is False:
        return BYPASS
    return header_policy(cache_control)


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
    already in flight), `store`, `too_large` (not stored), `unproven` (a generate answer
    not proven deterministic, not stored), `error` (a stored value that could not be read,
    or a result that could not be serialized).
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
                await self._store(key, result, policy)
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
            await self._store(key, result, policy)
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

    async def _store(self, key: str, result: Result, policy: CachePolicy) -> None:
        if policy.proof and not proven(result):
            self._event("unproven")
            return
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


class EdgeCache:
    """The exact cache, then the semantic cache, around a producer: one call for the edge.

    `run` returns the result and where it came from: `exact`, `semantic` or None (computed,
    or shared from an identical request in flight). A semantic hit is also stored under the
    exact key, so a repeat of the same request is an exact hit.
    """

    def __init__(
        self,
        responses: ResponseCache,
        salt: bytes,
        semantic: SemanticCache | None = None,
        generate: GenerateMode = "proven",
    ) -> None:
        if len(salt) < MIN_SALT_BYTES:
            raise ValueError(f"the cache salt must be at least {MIN_SALT_BYTES} bytes")
        self.responses = responses
        self.semantic = semantic
        self.generate = generate
        self._salt = salt

    async def run(
        self, job: Job, cache_control: str | None, produce: Producer
    ) -> tuple[Result, str | None]:
        """Answer `job` from a cache when allowed, else from `produce` (storing what it gives)."""
        exact = cache_policy(job, cache_control, self.generate)
        near = semantic_policy(job, cache_control) if self.semantic is not None else BYPASS
        source: str | None = None

        async def produce_or_recall() -> Result:
            nonlocal source
            if near.read and self.semantic is not None:
                found = await self.semantic.lookup(job)
                if found is not None:
                    source = "semantic"
                    return found
            result = await produce()
            if near.write and self.semantic is not None:
                await self.semantic.store(job, result)
            return result

        if not exact.active:
            return await produce_or_recall(), source
        key = cache_key(job, self._salt)
        result, hit = await self.responses.get_or_compute(key, exact, produce_or_recall)
        return result, "exact" if hit else source
