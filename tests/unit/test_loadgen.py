"""The load generator's maths and schedule: percentiles, open-loop timing, scenarios."""

import asyncio
from collections import Counter

import pytest

from benchmarks.loadgen import (
    Outcome,
    Recorder,
    Request,
    Sample,
    closed_loop,
    open_loop,
    server_ms,
)
from benchmarks.results import compare, overhead
from benchmarks.scenarios import builtin_names, load_scenario, materials, request_factory
from benchmarks.stats import new_histogram, record_ms, summarize
from common.schema import GenerateRequest


class FakeClock:
    """Time that only moves when slept; `overshoot` makes chosen sleeps end late (a stall)."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps = 0
        self.overshoot: dict[int, float] = {}

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(0)  # let requests already due run at the current time
        self.now += seconds + self.overshoot.get(self.sleeps, 0.0)
        self.sleeps += 1


def request(index: int) -> Request:
    return Request("POST", "/x", {"i": index}, "embed")


def test_percentiles_of_uniform_1_to_1000_ms() -> None:
    histogram = new_histogram()
    for ms in range(1, 1001):
        record_ms(histogram, float(ms))
    summary = summarize(histogram)
    assert summary.count == 1000
    assert summary.p50 == pytest.approx(500, rel=1e-3)
    assert summary.p90 == pytest.approx(900, rel=1e-3)
    assert summary.p99 == pytest.approx(990, rel=1e-3)
    assert summary.p999 == pytest.approx(999, rel=1e-3)
    assert summary.max == pytest.approx(1000, rel=1e-3)
    assert summary.mean == pytest.approx(500.5, rel=1e-3)


def test_percentiles_of_a_bimodal_distribution() -> None:
    histogram = new_histogram()
    for _ in range(980):
        record_ms(histogram, 2.0)
    for _ in range(20):
        record_ms(histogram, 1500.0)
    summary = summarize(histogram)
    assert summary.p50 == pytest.approx(2.0, rel=1e-3)
    assert summary.p90 == pytest.approx(2.0, rel=1e-3)
    assert summary.p99 == pytest.approx(1500, rel=1e-3)


def test_empty_histogram_summarizes_to_zero() -> None:
    assert summarize(new_histogram()).count == 0


async def test_open_loop_sends_at_intended_times() -> None:
    clock = FakeClock()
    sent: list[float] = []

    async def send(req: Request) -> Outcome:
        sent.append(clock())
        return Outcome(200, "edge")

    result = await open_loop(send, request, 10, 1.0, clock=clock, sleep=clock.sleep)
    assert sent == pytest.approx([i / 10 for i in range(10)])
    assert [s.latency_ms for s in result.recorder.samples] == pytest.approx([0.0] * 10)
    stats = result.to_dict()
    assert stats["scheduled"] == 10
    assert stats["offered_rps"] == 10
    assert stats["tasks"][0]["offered_rps"] == pytest.approx(10)


async def test_open_loop_charges_a_stall_to_every_request_it_delayed() -> None:
    clock = FakeClock()
    clock.overshoot = {4: 0.3}  # the sleep before request 5 ends 300 ms late
    sent: list[float] = []

    async def send(req: Request) -> Outcome:
        sent.append(clock())
        return Outcome(200, "edge")

    result = await open_loop(send, request, 10, 1.0, clock=clock, sleep=clock.sleep)
    by_index = sorted(result.recorder.samples, key=lambda s: s.index)
    assert [s.latency_ms for s in by_index] == pytest.approx(
        [0, 0, 0, 0, 0, 300, 200, 100, 0, 0], abs=1e-6
    )
    assert [s.service_ms for s in by_index] == pytest.approx([0.0] * 10, abs=1e-6)
    # requests 5..8 go out back to back at 0.8 s to catch up with the schedule
    assert sent[5:9] == pytest.approx([0.8] * 4)


async def test_open_loop_stops_at_max_requests() -> None:
    clock = FakeClock()

    async def send(req: Request) -> Outcome:
        return Outcome(200, "edge")

    result = await open_loop(
        send, request, 100, 60.0, max_requests=7, clock=clock, sleep=clock.sleep
    )
    assert result.recorder.completed == 7
    assert clock.now < 0.1


async def test_closed_loop_sends_back_to_back() -> None:
    clock = FakeClock()

    async def send(req: Request) -> Outcome:
        await clock.sleep(0.125)
        return Outcome(200, "central")

    result = await closed_loop(send, request, 1, 1.0, clock=clock)
    latencies = [s.latency_ms for s in result.recorder.samples]
    assert latencies == pytest.approx([125.0] * 8)
    assert result.to_dict()["achieved_rps"] == pytest.approx(8)


def sample(route: str, task: str, status: int, ms: float, error: str | None = None) -> Sample:
    return Sample(0, 0.0, 0.0, ms, ms, task, route, status, error)


def test_recorder_groups_by_path_and_task_and_counts_errors() -> None:
    recorder = Recorder()
    recorder.add(sample("edge", "embed", 200, 5))
    recorder.add(sample("edge", "embed", 200, 7))
    recorder.add(sample("cache", "embed", 200, 1))
    recorder.add(sample("none", "embed", 503, 2))
    recorder.add(sample("none", "embed", 0, 2, "timeout"))
    groups = set(recorder.groups)
    assert groups == {("edge", "embed"), ("cache", "embed"), ("none", "embed")}
    assert recorder.groups[("edge", "embed")].ok == 2
    assert recorder.overall.errors == Counter({"503": 1, "timeout": 1})
    assert recorder.completed == 5
    assert summarize(recorder.groups[("edge", "embed")].histogram).max == pytest.approx(7, 1e-3)


@pytest.mark.parametrize("name", builtin_names())
def test_builtin_scenarios_make_valid_v3_bodies(name: str) -> None:
    scenario = load_scenario(name)
    notes: list[str] = []
    make = request_factory(scenario, materials(scenario, notes))
    requests = [make(i) for i in range(50)]
    for req in requests:
        GenerateRequest.model_validate(req.body)
        assert req.path.startswith("/v3/models/")
    assert {r.task for r in requests} == set(scenario.tasks())


def test_required_builtin_scenarios_exist() -> None:
    assert set(builtin_names()) >= {
        "edge-embed",
        "edge-image",
        "central-generate",
        "cache-hit",
        "routed-mix",
        "overhead",
    }


def test_mix_follows_weights_and_is_seeded() -> None:
    scenario = load_scenario("routed-mix")
    mats = materials(scenario, [])
    first = request_factory(scenario, mats)
    second = request_factory(scenario, mats)
    a = [first(i) for i in range(2000)]
    assert a == [second(i) for i in range(2000)]
    counts = Counter(r.task for r in a)
    assert counts["embed"] / 2000 == pytest.approx(0.5, abs=0.05)
    assert counts["classify"] / 2000 == pytest.approx(0.4, abs=0.05)
    assert counts["generate"] / 2000 == pytest.approx(0.1, abs=0.03)


def test_edge_image_scenario_sends_a_real_jpeg() -> None:
    scenario = load_scenario("edge-image")
    notes: list[str] = []
    body = request_factory(scenario, materials(scenario, notes))(0).body
    assert notes == []  # scikit-image is a test dependency
    assert body["inputs"]["image"].startswith("/9j/")  # base64 of the JPEG SOI marker


def _doc(p50: float, p99: float) -> dict:
    group = {"path": "edge", "task": "embed", "ok": 10, "latency_ms": {"p50": p50, "p99": p99}}
    return {"runs": [{"label": "central", "groups": [group]}]}


def test_compare_flags_only_ratios_beyond_the_threshold() -> None:
    (row,) = compare(_doc(10, 20), _doc(11, 23), threshold=0.2)
    assert row.ratios == {"p50": 1.1, "p99": 1.15}
    assert not row.regressed
    (row,) = compare(_doc(10, 20), _doc(10, 30), threshold=0.2)
    assert row.regressed


def test_overhead_is_the_ratio_to_the_direct_call() -> None:
    groups = [
        {"path": "central", "task": "g", "ok": 5, "latency_ms": {"p50": 12.0, "p99": 30.0}},
        {"path": "direct", "task": "g", "ok": 5, "latency_ms": {"p50": 10.0, "p99": 20.0}},
    ]
    (row,) = overhead(groups)
    assert row["via"] == "central"
    assert row["p50_ratio"] == 1.2 and row["p50_delta_ms"] == 2.0
    assert row["p99_ratio"] == 1.5


def test_fallback_bench_edge_puts_a_down_provider_before_the_upstream(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from benchmarks.runner import fallback_env
    from router.settings import Settings

    for key, value in fallback_env("http://127.0.0.1:9", "s" * 48).items():
        monkeypatch.setenv(key, value)
    providers = Settings().central.providers
    assert [p.name for p in providers] == ["down", "tiny"]
    assert providers[1].url == "http://127.0.0.1:9"
    assert providers[0].url != providers[1].url
    assert "fallback" in builtin_names()


def test_server_timing_gives_the_edge_metric_duration() -> None:
    assert server_ms("edge;dur=12.34") == 12.34
    assert server_ms('cache;desc="hit", edge;dur=3') == 3.0
    assert server_ms("db;dur=5") is None
    assert server_ms("edge;dur=abc") is None
    assert server_ms("") is None
