"""The semantic cache: reuse a `generate` answer whose prompt means the same (opt-in).

Only the prompt (the text, or the last user message) is compared, by cosine similarity of
MiniLM embeddings. Everything else must match exactly: the scope is the model, task,
tenant, every answer-changing parameter, the modality and the earlier messages, so one
tenant's entries are never candidates for another's. Prompts with PII are not cached.
A hit must then pass verification (`router.semantic_guard`): the nearest prompts above the
threshold are checked for a change of meaning (negation, antonym, swapped names or
direction, numbers, units, dates, language) and the first that passes is served.
Entries live in a `SemanticStore`: in memory (default) or in Redis, shared across nodes.
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
from router.cache_keys import (
    canonical_bytes,
    canonical_scope,
    result_from_bytes,
    result_to_bytes,
)
from router.jobs import Job, Result
from router.semantic_guard import meaning_changed
from router.semantic_store import MemoryStore, SemanticStore

if TYPE_CHECKING:
    from edge_models.runtime import EdgeRuntime

# With verification, 0.85 gave precision 1.0 and recall 0.68 on tests/data/paraphrases.yaml
# (0.36 at 0.92 without it) and 0 wrong hits on the stress set (benchmarks.quality_privacy).
DEFAULT_THRESHOLD = 0.85
CANDIDATES = 4  # nearest entries above the threshold that verification may try
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
    if job.pii_kinds:  # placeholders of another request's values must never be served
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
    """Nearest-prompt cache for opted-in `generate` jobs, with a verification step.

    Results are kept serialized, so a caller that edits a returned result (say, to restore
    redacted text) never changes what the next caller gets.

    Events (backend `semantic`): `hit`, `miss`, `rejected` (a near prompt failed
    verification: its meaning differs), `store`, `error` (embedding or store trouble; the
    request goes on uncached). `last_rejection` holds the reason of the latest rejection.
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
        store: SemanticStore | None = None,
        verify: Callable[[str, str], str | None] | None = meaning_changed,
    ) -> None:
        if not 0 < threshold <= 1 or max_entries < 1:
            raise ValueError("threshold must be in (0, 1] and max_entries positive")
        self.threshold = threshold
        self.max_entries = max_entries
        self.entries: SemanticStore = store or MemoryStore(max_entries, ttl_s, clock)
        self.last_rejection: str | None = None
        self._embed = embed
        self._verify = verify
        self._on_event = on_event
        self._max_chars = max_chars
        self._memo: OrderedDict[str, np.ndarray] = OrderedDict()
        self._memo_size = memo_size

    def __len__(self) -> int:
        """Live entries held in memory (a shared Redis store is not counted here)."""
        return len(self.entries) if isinstance(self.entries, MemoryStore) else 0

    async def lookup(self, job: Job) -> Result | None:
        """A stored answer to a prompt that is near and verified to mean the same, or None."""
        query = semantic_query(job, self._max_chars)
        if query is None:
            return None
        vector = await self._vector(query.prompt)
        if vector is None:
            return None
        try:
            near = await self.entries.nearest(query.scope, vector, CANDIDATES)
        except ValueError:
            self._on_event("semantic", "error")
            return None
        for entry in near:
            if entry.similarity < self.threshold:
                break
            reason = self._verify(entry.prompt, query.prompt) if self._verify else None
            if reason is not None:
                self.last_rejection = reason
                self._on_event("semantic", "rejected")
                continue
            try:
                result = result_from_bytes(entry.data)
            except ValueError:
                self._on_event("semantic", "error")
                continue
            await self.entries.touch(query.scope, entry.key)
            self._on_event("semantic", "hit")
            return result
        self._on_event("semantic", "miss")
        return None

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
        await self.entries.put(query.scope, query.prompt, vector, data)
        self._on_event("semantic", "store")

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
