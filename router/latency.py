"""Live latency estimates per (target, task): a sliding window of recent requests."""

import threading
from collections import deque
from collections.abc import Mapping

import numpy as np


class LatencyEstimator:
    """Keeps the last `window` latencies per key and answers quantiles over them."""

    def __init__(self, window: int = 256) -> None:
        self._window = window
        self._samples: dict[tuple[str, str], deque[float]] = {}
        self._lock = threading.Lock()

    def record(self, target: str, task: str, latency_ms: float) -> None:
        """Add one completed request's latency."""
        with self._lock:
            samples = self._samples.setdefault((target, task), deque(maxlen=self._window))
            samples.append(latency_ms)

    def quantile(self, target: str, task: str, q: float) -> float | None:
        """The q-quantile (0..1) in ms, or None with no samples yet."""
        with self._lock:
            samples = self._samples.get((target, task))
            values = list(samples) if samples else None
        return float(np.quantile(values, q)) if values else None

    def snapshot(self, q: float = 0.95) -> Mapping[tuple[str, str], float]:
        """The q-quantile of every key, for a routing state."""
        with self._lock:
            keys = list(self._samples)
        result = {}
        for target, task in keys:
            value = self.quantile(target, task, q)
            if value is not None:
                result[(target, task)] = value
        return result
