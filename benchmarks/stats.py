"""Latency histograms (HdrHistogram, microsecond resolution) and their summaries in ms."""

from dataclasses import dataclass

from hdrh.histogram import HdrHistogram

LOWEST_US = 1
HIGHEST_US = 3_600_000_000  # one hour
SIGNIFICANT_FIGURES = 3
PERCENTILES: tuple[tuple[str, float], ...] = (
    ("p50", 50.0),
    ("p90", 90.0),
    ("p99", 99.0),
    ("p99.9", 99.9),
)


def new_histogram() -> HdrHistogram:
    """A histogram of latencies in microseconds, 1 µs to 1 h, 3 significant figures."""
    return HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_FIGURES)


def record_ms(histogram: HdrHistogram, latency_ms: float) -> None:
    """Record one latency given in milliseconds (clamped into the trackable range)."""
    micros = round(latency_ms * 1000)
    histogram.record_value(min(max(micros, LOWEST_US), HIGHEST_US))


@dataclass(frozen=True)
class LatencySummary:
    """Percentiles of one histogram, in milliseconds."""

    count: int
    p50: float
    p90: float
    p99: float
    p999: float
    max: float
    mean: float

    def as_dict(self) -> dict[str, float | int]:
        """JSON form; `p99.9` spelled as in the reports."""
        return {
            "count": self.count,
            "p50": self.p50,
            "p90": self.p90,
            "p99": self.p99,
            "p99.9": self.p999,
            "max": self.max,
            "mean": self.mean,
        }


def summarize(histogram: HdrHistogram) -> LatencySummary:
    """p50/p90/p99/p99.9/max/mean in ms (zeros for an empty histogram)."""
    count = int(histogram.get_total_count())
    if count == 0:
        return LatencySummary(0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    values = {name: histogram.get_value_at_percentile(p) / 1000 for name, p in PERCENTILES}
    return LatencySummary(
        count=count,
        p50=round(values["p50"], 3),
        p90=round(values["p90"], 3),
        p99=round(values["p99"], 3),
        p999=round(values["p99.9"], 3),
        max=round(histogram.get_max_value() / 1000, 3),
        mean=round(histogram.get_mean_value() / 1000, 3),
    )


def encode(histogram: HdrHistogram) -> str:
    """The histogram as HdrHistogram's compressed base64 (to re-plot or merge later)."""
    encoded = histogram.encode()
    return encoded.decode() if isinstance(encoded, bytes) else str(encoded)
