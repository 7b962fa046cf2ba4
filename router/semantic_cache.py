"""The semantic cache: reuse a `generate` answer whose prompt means the same (opt-in).

Only the prompt (the text, or the last user message) is compared, by cosine similarity of
MiniLM embeddings in one numpy matrix. Everything else must match exactly: the scope is the
model, task, tenant, every answer-changing parameter, the modality and the earlier messages.
Entries expire after `ttl_s`; when full, the least recently used entry makes room.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from edge_models.base import EdgeInput
from edge_models.errors import EdgeModelError
from edge_models.text import TextEncoder
from router.cache import canonical_bytes, canonical_scope, result_from_bytes, result_to_bytes
from router.jobs import Job, Result

if TYPE_CHECKING:
    from edge_models.runtime import EdgeRuntime

DEFAULT_THRESHOLD = 0.92  # precision 1.0, recall 0.40 on tests/data/paraphrases.yaml
Embed = Callable[[str], Awaitable[np.ndarray]]
EmbedErrors = (EdgeModelError, RuntimeError, LookupError, ValueError)


def encoder_embed(encoder: TextEncoder) -> Embed:
    """An Embed that runs a TextEncoder in a worker thread (never on the event loop)."""

    async def embed(text: str) -> np.ndarray:
        return (await asyncio.to_thread(encoder.embed, [text]))[0]

    return embed


def runtime_embed(edge: EdgeRuntime, model: str = "all-minilm-l6-v2") -> Embed:
    """An Embed through the edge runtime's micro-batched embedding model."""

    async def embed(text: str) -> np.ndarray:
        output = await edge.run(model, EdgeInput(text=text))
        return np.asarray(output["embedding"], dtype=np.float32)

    return embed


@dataclass(frozen=True)
class SemanticQuery:
    """The prompt compared by meaning and the scope that must match exactly."""

    prompt: str
    scope: str


def semantic_query(job: Job, max_chars: int) -> SemanticQuery | None:
    """The job's query, or None when it is not eligible (not opted in, not one text prompt)."""
    if job.task != "generate" or not job.params.semantic_cache or job.params.cache is False:
        return None
    if len(job.inputs) != 1:
        return None
    item = job.inputs[0]
    if item.image is not None or item.audio is not None or item.image_url is not None:
        return None
    context: list[list[str]] = [list(m) for m in item.messages]
    if item.messages:
        role, prompt = item.messages[-1]
        if role != "user" or item.text is not None:
            return None
        context.pop()
    else:
        prompt = item.text or ""
    if not prompt.strip() or len(prompt) > max_chars:  # longer prompts would be truncated
        return None
    scope = {**canonical_scope(job), "modality": item.modality, "context": context}
    return SemanticQuery(prompt, hashlib.sha256(canonical_bytes(scope)).hexdigest())


def _ignore_event(backend: str, outcome: str) -> None:
    """Default event hook: nothing."""


class SemanticCache:
    """Bounded, TTL'd, in-memory nearest-prompt cache for opted-in `generate` jobs.

    Results are kept serialized, so a caller that edits a returned result (say, to restore
    redacted text) never changes what the next caller gets.

    Events (backend `semantic`): `hit`, `miss`, `store`, `error` (the embedding failed;
    the request goes on uncached).
    """

    def __init__(
        self,
        embed: Embed,
        threshold: float = DEFAULT_THRESHOLD,
        max_entries: int = 2048,
        ttl_s: float = 3600.0,
        clock: Callable[[], float] = time.monotonic,
        on_event: Callable[[str, str], None] = _ignore_event,
        max_chars: int = 1000,
        memo_size: int = 256,
    ) -> None:
        if not 0 < threshold <= 1 or max_entries < 1:
            raise ValueError("threshold must be in (0, 1] and max_entries positive")
        self.threshold = threshold
        self.max_entries = max_entries
        self._embed = embed
        self._ttl_s = ttl_s
        self._clock = clock
        self._on_event = on_event
        self._max_chars = max_chars
        self._vectors: np.ndarray | None = None
        self._scopes: list[str | None] = [None] * max_entries
        self._expires = np.full(max_entries, -np.inf)
        self._used = np.full(max_entries, -np.inf)
        self._results: list[bytes] = [b""] * max_entries  # serialized: callers get copies
        self._memo: OrderedDict[str, np.ndarray] = OrderedDict()
        self._memo_size = memo_size

    def __len__(self) -> int:
        return int((self._expires > self._clock()).sum())

    async def lookup(self, job: Job) -> Result | None:
        """A stored answer to a prompt within the threshold in the same scope, or None."""
        query = semantic_query(job, self._max_chars)
        if query is None:
            return None
        vector = await self._vector(query.prompt)
        if vector is None:
            return None
        slot, similarity = self._nearest(query.scope, vector)
        if slot is None or similarity < self.threshold:
            self._on_event("semantic", "miss")
            return None
        self._used[slot] = self._clock()
        self._on_event("semantic", "hit")
        return result_from_bytes(self._results[slot])

    async def store(self, job: Job, result: Result) -> None:
        """Keep `result` for the job's prompt (replacing a stored copy of the same prompt)."""
        query = semantic_query(job, self._max_chars)
        if query is None:
            return
        try:
            data = result_to_bytes(result)
        except TypeError:
            self._on_event("semantic", "error")
            return
        vector = await self._vector(query.prompt)
        if vector is None:
            return
        if self._vectors is None:
            self._vectors = np.zeros((self.max_entries, vector.shape[0]), dtype=np.float32)
        now = self._clock()
        slot, similarity = self._nearest(query.scope, vector)
        if slot is None or similarity < 0.9999:
            free = np.flatnonzero(self._expires <= now)
            slot = int(free[0]) if free.size else int(np.argmin(self._used))
        self._vectors[slot] = vector
        self._scopes[slot] = query.scope
        self._expires[slot] = now + self._ttl_s
        self._used[slot] = now
        self._results[slot] = data
        self._on_event("semantic", "store")

    def _nearest(self, scope: str, vector: np.ndarray) -> tuple[int | None, float]:
        """The live slot in `scope` most similar to `vector`, and its cosine similarity."""
        if self._vectors is None:
            return None, -1.0
        if vector.shape[0] != self._vectors.shape[1]:
            raise ValueError(
                f"embedding has {vector.shape[0]} dims, cache has {self._vectors.shape[1]}"
            )
        live = self._expires > self._clock()
        in_scope = np.fromiter((s == scope for s in self._scopes), bool, self.max_entries)
        candidates = np.flatnonzero(live & in_scope)
        if candidates.size == 0:
            return None, -1.0
        similarities = self._vectors[candidates] @ vector
        best = int(np.argmax(similarities))
        return int(candidates[best]), float(similarities[best])

    async def _vector(self, prompt: str) -> np.ndarray | None:
        """The prompt's unit embedding (memoised, so lookup then store embeds once)."""
        vector = self._memo.get(prompt)
        if vector is None:
            try:
                raw = np.asarray(await self._embed(prompt), dtype=np.float32).reshape(-1)
            except EmbedErrors:
                self._on_event("semantic", "error")
                return None
            vector = raw / max(float(np.linalg.norm(raw)), 1e-12)
            self._memo[prompt] = vector
            while len(self._memo) > self._memo_size:
                self._memo.popitem(last=False)
        self._memo.move_to_end(prompt)
        return vector
