"""Live latency estimates per (target, task): decaying log-bucket histograms, O(1) to record.

Each key keeps two histograms over log-spaced buckets (about 3% wide, 0.05 ms to 10 min):
- observed: completed requests. A sample's weight decays with time (`half_life_s`) and with
  the samples recorded after it (about `window` of them keep 95% of the weight), so a busy
  path follows a change within a window, an idle one within a few half-lives.
- censored: timeouts. A timeout only says "longer than this", so it counts at its elapsed
  time (a lower bound, not a guess like twice that), and it decays fast
  (`censored_half_life_s`): when an upstream recovers, its hang stops shutting out
  deadline-bound work within seconds, even though no traffic reaches it meanwhile.
Weights use forward decay (a sample's weight grows with its time, reads scale back), so a
record is one addition; a read is a cumulative sum over the buckets, and `snapshot` (read on
every routing decision) reuses its answer for `refresh_s`.
"""

import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

MIN_MS = 0.05
MAX_MS = 600_000.0
RATIO = 1.06
BUCKETS = int(math.log(MAX_MS / MIN_MS) / math.log(RATIO)) + 2
_LOG_RATIO = math.log(RATIO)
_EDGES = MIN_MS * RATIO ** np.arange(BUCKETS)  # each bucket's lower edge
_RENORM_AT = 40.0  # rescale before exp() of the growing exponent gets large


def bucket_of(ms: float) -> int:
    """The bucket a latency falls in (clamped to the range)."""
    if not ms > MIN_MS:  # also NaN
        return 0
    return min(BUCKETS - 1, int(math.log(ms / MIN_MS) / _LOG_RATIO))


@dataclass
class _Decaying:
    """One forward-decayed histogram: weights are stored as exp(exponent - base)."""

    half_life_s: float
    weights: np.ndarray = field(default_factory=lambda: np.zeros(BUCKETS))
    base: float = 0.0

    def exponent(self, now: float, count: int, per_sample: float) -> float:
        """The decay exponent at `now` after `count` records."""
        return now * math.log(2) / self.half_life_s + count * per_sample

    def add(self, bucket: int, exponent: float) -> None:
        """Add one sample of weight 1 (as of `exponent`)."""
        if exponent - self.base > _RENORM_AT:
            self.weights *= math.exp(self.base - exponent)
            self.base = exponent
        self.weights[bucket] += math.exp(exponent - self.base)

    def at(self, exponent: float) -> np.ndarray:
        """The weights as of `exponent` (each at most 1 per sample)."""
        return self.weights * math.exp(min(0.0, self.base - exponent))


@dataclass
class _Key:
    """Both histograms of one (target, task), and how many samples it has seen."""

    observed: _Decaying
    censored: _Decaying
    count: int = 0


class LatencyEstimator:
    """Decaying latency quantiles per (target, task); timeouts are censored samples."""

    def __init__(
        self,
        window: int = 256,
        half_life_s: float = 30.0,
        censored_half_life_s: float = 2.0,
        min_weight: float = 0.5,
        refresh_s: float = 0.05,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._per_sample = 3.0 / max(1, window)  # a window's worth of records: weight x e^-3
        self._half_life_s = half_life_s
        self._censored_half_life_s = censored_half_life_s
        self._min_weight = min_weight
        self._refresh_s = refresh_s
        self._clock = clock
        self._keys: dict[tuple[str, str], _Key] = {}
        self._lock = threading.Lock()
        self._cache: dict[tuple[float, ...], tuple[float, list[dict[tuple[str, str], float]]]] = {}

    def _key(self, target: str, task: str) -> _Key:
        key = self._keys.get((target, task))
        if key is None:
            key = self._keys[(target, task)] = _Key(
                _Decaying(self._half_life_s), _Decaying(self._censored_half_life_s)
            )
        return key

    def _add(self, target: str, task: str, latency_ms: float, censored: bool) -> None:
        now = self._clock()
        with self._lock:
            key = self._key(target, task)
            key.count += 1
            histogram = key.censored if censored else key.observed
            histogram.add(
                bucket_of(latency_ms), histogram.exponent(now, key.count, self._per_sample)
            )

    def record(self, target: str, task: str, latency_ms: float) -> None:
        """Add one completed request's latency."""
        self._add(target, task, latency_ms, censored=False)

    def record_timeout(self, target: str, task: str, elapsed_ms: float) -> None:
        """Add a request that gave up after `elapsed_ms`: its latency is at least that."""
        self._add(target, task, elapsed_ms, censored=True)

    def _weights(self, key: _Key, now: float) -> np.ndarray:
        per = self._per_sample
        return key.observed.at(key.observed.exponent(now, key.count, per)) + key.censored.at(
            key.censored.exponent(now, key.count, per)
        )

    def _quantiles(self, key: _Key, now: float, qs: tuple[float, ...]) -> list[float] | None:
        weights = self._weights(key, now)
        cumulative = np.cumsum(weights)
        total = float(cumulative[-1])
        if total < self._min_weight:
            return None
        targets = np.asarray(qs) * total
        at = np.minimum(np.searchsorted(cumulative, targets, side="left"), BUCKETS - 1)
        before = cumulative[at] - weights[at]
        inside = np.clip((targets - before) / np.maximum(weights[at], 1e-300), 0.0, 1.0)
        return [float(v) for v in _EDGES[at] * RATIO**inside]  # log-linear within the bucket

    def quantile(self, target: str, task: str, q: float) -> float | None:
        """The q-quantile (0..1) in ms, or None when the key has no weight left."""
        now = self._clock()
        with self._lock:
            key = self._keys.get((target, task))
            found = self._quantiles(key, now, (q,)) if key is not None else None
        return found[0] if found else None

    def weight(self, target: str, task: str) -> float:
        """How many samples' worth of evidence the key holds now (decayed)."""
        now = self._clock()
        with self._lock:
            key = self._keys.get((target, task))
            return float(self._weights(key, now).sum()) if key is not None else 0.0

    def snapshot(
        self, quantiles: tuple[float, ...] = (0.5, 0.95)
    ) -> list[Mapping[tuple[str, str], float]]:
        """For each quantile, its value per key with weight left (at most `refresh_s` old)."""
        now = self._clock()
        cached = self._cache.get(quantiles)
        if cached is not None and now - cached[0] < self._refresh_s:
            return list(cached[1])
        result: list[dict[tuple[str, str], float]] = [{} for _ in quantiles]
        with self._lock:
            for name, key in self._keys.items():
                values = self._quantiles(key, now, quantiles)
                for mapping, value in zip(result, values or (), strict=False):
                    mapping[name] = value
        self._cache[quantiles] = (now, result)
        return list(result)
