"""The status page's numbers: histogram quantiles as Prometheus computes them, per path."""

from prometheus_client import CollectorRegistry, Counter, Histogram

from router.access_log import AccessEntry, RecentRequests
from router.status import histogram_quantile, latency_by_path, request_totals


def test_histogram_quantile_interpolates_like_prometheus() -> None:
    buckets = [(0.01, 2.0), (0.1, 6.0), (1.0, 10.0), (float("inf"), 10.0)]
    assert histogram_quantile(buckets, 0.5) == 0.01 + (0.1 - 0.01) * (5 - 2) / (6 - 2)
    assert histogram_quantile(buckets, 0.1) == 0.01 * 1 / 2
    assert histogram_quantile([(0.1, 0.0), (float("inf"), 0.0)], 0.5) is None
    assert histogram_quantile([(0.1, 1.0), (float("inf"), 4.0)], 0.99) == 0.1  # +Inf bucket


def test_latency_and_totals_per_path() -> None:
    registry = CollectorRegistry()
    latency = Histogram("edge_request_latency_seconds", "", ["route", "task"], registry=registry)
    requests = Counter("edge_requests", "", ["route", "task", "status"], registry=registry)
    for seconds in (0.004, 0.006, 0.2):
        latency.labels("edge", "embed").observe(seconds)
        requests.labels("edge", "embed", "200").inc()
    requests.labels("edge", "embed", "429").inc()
    rows = latency_by_path(registry)
    assert [r["path"] for r in rows] == ["edge/embed"] and rows[0]["count"] == 3
    assert 0 < rows[0]["p50_ms"] <= rows[0]["p99_ms"]
    assert request_totals(registry) == {"edge": 4}


def test_recent_requests_are_bounded_and_newest_first() -> None:
    recent = RecentRequests(size=3)
    for i in range(5):
        recent.add(AccessEntry(str(i), "-", "POST", "/p", 200, "edge", "r", 1.0, 0.0))
    assert [e.request_id for e in recent.entries()] == ["4", "3", "2"]
