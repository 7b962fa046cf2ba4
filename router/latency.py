"""Live latency estimates per (target, task): a sliding window of recent requests.

Samples older than `max_age_s` are dropped, so an estimate made bad by a slow spell recovers
once the spell is over instead of keeping a target avoided forever.
"""

import threading
import time
from collections import deque
from collections.abc import Callable, Mapping

import numpy as np


class LatencyEstimator:
    """Keeps the last `window` latencies (at most `max_age_s` old) per key; answers quantiles."""

    def __init__(
        self,
        window: int = 256,
        max_age_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._window = window
        self._max_age_s = max_age_s
        self._clock = clock
        self._samples: dict[tuple[str, str], deque[tuple[float, float]]] = {}
        self._lock = threading.Lock()

    def record(self, target: str, task: str, latency_ms: float) -> None:
        """Add one completed (or timed-out: a lower bound) request's latency."""
        with self._lock:
            samples = self._samples.setdefault((target, task), deque(maxlen=self._window))
            samples.append((self._clock(), latency_ms))

    def _fresh(self, key: tuple[str, str]) -> list[float]:
        oldest = self._clock() - self._max_age_s
        samples = self._samples.get(key)
        if not samples:
            return []
        while samples and samples[0][0] < oldest:
            samples.popleft()
        return [value for _, value in samples]

    def quantile(self, target: str, task: str, q: float) -> float | None:
        """The q-quantile (0..1) in ms, or None with no fresh samples."""
        with self._lock:
            values = self._fresh((target, task))
        return float(np.quantile(values, q)) if values else None

    def snapshot(
        self, quantiles: tuple[float, ...] = (0.5, 0.95)
    ) -> list[Mapping[tuple[str, str], float]]:
        """For each quantile, its value per key with fresh samples (one pass over the data)."""
        result: list[dict[tuple[str, str], float]] = [{} for _ in quantiles]
        with self._lock:
            fresh = {key: self._fresh(key) for key in list(self._samples)}
        for key, values in fresh.items():
            if values:
                for mapping, value in zip(result, np.quantile(values, quantiles), strict=True):
                    mapping[key] = float(value)
        return result
