"""Recent latency of one provider: quantiles over a window that forgets (for deadlines, hedging)."""

import bisect
import math
import time
from collections import deque
from collections.abc import Callable


class LatencyWindow:
    """The last `size` successful answer times within `max_age_s`; timeouts are not samples.

    The fresh values are also kept sorted as they come and go, so reading a quantile (done on
    every call, for deadlines and hedging) costs an age check, not a sort.
    """

    def __init__(
        self, size: int = 256, max_age_s: float = 60.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._samples: deque[tuple[float, float]] = deque()
        self._sorted: list[float] = []
        self._size = size
        self._max_age_s = max_age_s
        self._clock = clock

    def _drop_oldest(self) -> None:
        _, seconds = self._samples.popleft()
        del self._sorted[bisect.bisect_left(self._sorted, seconds)]

    def record(self, seconds: float) -> None:
        """Add one answer's latency."""
        if self._size <= 0:
            return
        if len(self._samples) >= self._size:
            self._drop_oldest()
        self._samples.append((self._clock(), seconds))
        bisect.insort(self._sorted, seconds)

    def _fresh(self) -> list[float]:
        cutoff = self._clock() - self._max_age_s
        while self._samples and self._samples[0][0] < cutoff:
            self._drop_oldest()
        return self._sorted

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
