"""Recent scan results by text, so a request's kinds and then its redaction scan each text once.

Bounded in entries, characters and matches, and kept only `ttl_s`. A text dense with PII
(100k chars of IP addresses: 11k matches) is not kept: it is rescanned if redacted, since tens
of thousands of small objects held for the TTL leave the allocator's arenas fragmented (RSS
that never comes back).
"""

import threading
from collections import OrderedDict
from collections.abc import Callable

from router.pii.select import PiiMatch

MEMO_ENTRIES = 512  # one request may carry 64 inputs with several chat messages each
MEMO_MATCHES = 4096  # matches held in all


class ScanMemo:
    """Text → its matches, oldest first; thread-safe (scans run on the loop and in workers)."""

    def __init__(self, max_chars: int, ttl_s: float, clock: Callable[[], float]) -> None:
        self._entries: OrderedDict[str, tuple[float, tuple[PiiMatch, ...]]] = OrderedDict()
        self._chars = 0
        self._matches = 0
        self._max_chars = max_chars
        self._ttl_s = ttl_s
        self._clock = clock
        self._lock = threading.Lock()

    def get(self, text: str) -> tuple[PiiMatch, ...] | None:
        """The fresh result for `text`, if held (stale ones are dropped first)."""
        now = self._clock()
        with self._lock:
            self._expire(now)
            held = self._entries.get(text)
        return None if held is None else held[1]

    def put(self, text: str, found: tuple[PiiMatch, ...]) -> None:
        """Keep a result unless it is over the bounds alone; evict the oldest past them."""
        if len(text) > self._max_chars or len(found) > MEMO_MATCHES:
            return
        now = self._clock()
        with self._lock:
            if text in self._entries:
                return
            self._entries[text] = (now, found)
            self._chars += len(text)
            self._matches += len(found)
            while (
                len(self._entries) > MEMO_ENTRIES
                or self._chars > self._max_chars
                or self._matches > MEMO_MATCHES
            ):
                old, (_, dropped) = self._entries.popitem(last=False)
                self._chars -= len(old)
                self._matches -= len(dropped)

    def _expire(self, now: float) -> None:
        """Drop results older than the TTL (oldest first), releasing their texts."""
        while self._entries:
            text, (stamp, found) = next(iter(self._entries.items()))
            if now - stamp < self._ttl_s:
                return
            del self._entries[text]
            self._chars -= len(text)
            self._matches -= len(found)
