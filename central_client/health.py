"""Recent latency of one provider: quantiles over a window that forgets (for deadlines, hedging)."""

import math
import time
from collections import deque
from collections.abc import Callable


class LatencyWindow:
    """The last `size` successful answer times within `max_age_s`; timeouts are not samples."""

    def __init__(
        self, size: int = 256, max_age_s: float = 60.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._samples: deque[tuple[float, float]] = deque(maxlen=size)
        self._max_age_s = max_age_s
        self._clock = clock

    def record(self, seconds: float) -> None:
        """Add one answer's latency."""
        self._samples.append((self._clock(), seconds))

    def _fresh(self) -> list[float]:
        cutoff = self._clock() - self._max_age_s
        while self._samples and self._samples[0][0] < cutoff:
            self._samples.popleft()
        return sorted(s for _, s in self._samples)

    def count(self) -> int:
        """Fresh samples."""
        return len(self._fresh())

    def quantile(self, q: float) -> float | None:
        """The q-quantile of fresh samples (nearest rank), None without any."""
        values = self._fresh()
        if not values:
            return None
        return values[min(len(values) - 1, max(0, math.ceil(q * len(values)) - 1))]

    def summary_ms(self) -> dict[str, float | None]:
        """p50 and p95 in milliseconds, for `/readyz`."""
        out: dict[str, float | None] = {}
        for name, q in (("p50", 0.5), ("p95", 0.95)):
            value = self.quantile(q)
            out[name] = None if value is None else round(value * 1000, 1)
        return out
