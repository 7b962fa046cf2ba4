"""Load generation: open loop (constant arrival rate) and closed loop (N workers back to back).

Open loop measures each request's latency from its *intended* send time (start + i / rate),
not from when it actually went out, so a stall in the system under test (or in the
generator) is charged to every request that should have been sent during it: coordinated
omission is corrected by construction. Closed loop measures from the actual send and is only
for peak throughput. Both stop by themselves: after `duration_s` of schedule or
`max_requests`, whichever comes first, then drain in-flight requests for at most
`drain_timeout_s`. Clock and sleep are injectable so the schedule is testable without time.
"""

import asyncio
import itertools
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from hdrh.histogram import HdrHistogram

from benchmarks.stats import encode, new_histogram, record_ms, summarize

DEFAULT_MAX_IN_FLIGHT = 512
DEFAULT_DRAIN_TIMEOUT_S = 30.0
DEFAULT_KEEP_SAMPLES = 200_000


@dataclass(frozen=True)
class Request:
    """One request to send: `target` names the base URL ("edge", or "central" for direct)."""

    method: str
    path: str
    body: Any
    task: str
    target: str = "edge"


@dataclass(frozen=True)
class Outcome:
    """What came back: HTTP status (0 when nothing did), the path that served it, any error."""

    status: int
    route: str
    error: str | None = None
    server_ms: float | None = None  # the edge's own time (`Server-Timing: edge;dur=`), if sent

    @property
    def ok(self) -> bool:
        """A 2xx answer."""
        return 200 <= self.status < 300


@dataclass(frozen=True)
class Sample:
    """One finished request; times are seconds from the start of the run."""

    index: int
    intended_s: float
    sent_s: float
    latency_ms: float
    service_ms: float
    task: str
    route: str
    status: int
    error: str | None = None


Send = Callable[[Request], Awaitable[Outcome]]
RequestFactory = Callable[[int], Request]
Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[Any]]


def error_key(sample: Sample) -> str:
    """How an error is counted: its HTTP status, or the transport error's name."""
    return str(sample.status) if sample.status else (sample.error or "no_response")


@dataclass
class GroupStats:
    """Successes (latency histogram) and errors of one path+task group."""

    histogram: HdrHistogram = field(default_factory=new_histogram)
    ok: int = 0
    errors: Counter[str] = field(default_factory=Counter)


class Recorder:
    """Collects samples into HdrHistograms per (path, task), per task, and overall."""

    def __init__(self, keep_samples: int = DEFAULT_KEEP_SAMPLES) -> None:
        self.groups: dict[tuple[str, str], GroupStats] = {}
        self.tasks: dict[str, GroupStats] = {}
        self.overall = GroupStats()
        self.scheduled: Counter[str] = Counter()
        self.samples: list[Sample] = []
        self._keep = keep_samples

    @property
    def completed(self) -> int:
        """Requests that finished (with a result or an error)."""
        return self.overall.ok + sum(self.overall.errors.values())

    @property
    def error_count(self) -> int:
        """Requests that ended in an error."""
        return sum(self.overall.errors.values())

    def schedule(self, task: str) -> None:
        """Count one request offered for `task`."""
        self.scheduled[task] += 1

    def add(self, sample: Sample) -> None:
        """Record one finished request."""
        if len(self.samples) < self._keep:
            self.samples.append(sample)
        targets = (
            self.groups.setdefault((sample.route, sample.task), GroupStats()),
            self.tasks.setdefault(sample.task, GroupStats()),
            self.overall,
        )
        ok = 200 <= sample.status < 300
        for group in targets:
            if ok:
                group.ok += 1
                record_ms(group.histogram, sample.latency_ms)
            else:
                group.errors[error_key(sample)] += 1


@dataclass(frozen=True)
class RunResult:
    """A finished run: its mode, timing, and the recorder with every histogram."""

    mode: str
    offered_rps: float | None
    workers: int | None
    schedule_s: float
    elapsed_s: float
    recorder: Recorder

    def _group(self, stats: GroupStats, offered: int | None) -> dict[str, Any]:
        total = stats.ok + sum(stats.errors.values())
        out: dict[str, Any] = {
            "requests": total,
            "ok": stats.ok,
            "errors": dict(sorted(stats.errors.items())),
            "achieved_rps": round(stats.ok / self.elapsed_s, 3) if self.elapsed_s else 0.0,
            "latency_ms": summarize(stats.histogram).as_dict(),
            "hdr": encode(stats.histogram),
        }
        if offered is not None and self.mode == "open" and self.schedule_s > 0:
            out["offered_rps"] = round(offered / self.schedule_s, 3)
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON form: totals, per path+task groups, per task, overall."""
        rec = self.recorder
        return {
            "mode": self.mode,
            "offered_rps": self.offered_rps,
            "workers": self.workers,
            "schedule_s": round(self.schedule_s, 3),
            "elapsed_s": round(self.elapsed_s, 3),
            "scheduled": sum(rec.scheduled.values()),
            "completed": rec.completed,
            "error_count": rec.error_count,
            "achieved_rps": round(rec.overall.ok / self.elapsed_s, 3) if self.elapsed_s else 0.0,
            "groups": [
                {"path": route, "task": task, **self._group(stats, None)}
                for (route, task), stats in sorted(rec.groups.items())
            ],
            "tasks": [
                {"task": task, **self._group(stats, rec.scheduled.get(task, 0))}
                for task, stats in sorted(rec.tasks.items())
            ],
            "overall": self._group(rec.overall, sum(rec.scheduled.values())),
        }


async def _drain(tasks: set[asyncio.Task[None]], timeout_s: float) -> None:
    """Wait for in-flight requests; cancel what is left at the timeout."""
    if not tasks:
        return
    _, pending = await asyncio.wait(tasks, timeout=timeout_s)
    for task in pending:
        task.cancel()
    if pending:
        await asyncio.gather(*pending, return_exceptions=True)


def sample(
    index: int,
    request: Request,
    outcome: Outcome,
    start: float,
    intended: float,
    sent: float,
    done: float,
) -> Sample:
    """One finished request; latency counts from the intended send time."""
    return Sample(
        index=index,
        intended_s=intended - start,
        sent_s=sent - start,
        latency_ms=(done - intended) * 1000,
        service_ms=(done - sent) * 1000,
        task=request.task,
        route=outcome.route,
        status=outcome.status,
        error=outcome.error,
    )


async def open_loop(
    send: Send,
    factory: RequestFactory,
    rate: float,
    duration_s: float,
    *,
    max_requests: int | None = None,
    max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
    drain_timeout_s: float = DEFAULT_DRAIN_TIMEOUT_S,
    recorder: Recorder | None = None,
    clock: Clock = time.monotonic,
    sleep: Sleep = asyncio.sleep,
) -> RunResult:
    """Send at `rate` per second for `duration_s`; latency counts from each intended time."""
    if rate <= 0 or duration_s <= 0:
        raise ValueError("rate and duration_s must be positive")
    total = max(1, int(duration_s * rate))
    if max_requests is not None:
        total = min(total, max_requests)
    rec = recorder or Recorder()
    slots = asyncio.Semaphore(max_in_flight)
    in_flight: set[asyncio.Task[None]] = set()
    start = clock()

    async def one(index: int, intended: float, request: Request) -> None:
        sent = intended
        try:
            async with slots:
                sent = clock()
                outcome = await send(request)
        except asyncio.CancelledError:
            outcome = Outcome(0, "none", "drain_timeout")
        except Exception as exc:  # a broken sender is counted as an error, not lost
            outcome = Outcome(0, "none", type(exc).__name__)
        rec.add(sample(index, request, outcome, start, intended, sent, clock()))

    for index in range(total):
        intended = start + index / rate
        delay = intended - clock()
        if delay > 0:
            await sleep(delay)
        request = factory(index)
        rec.schedule(request.task)
        task = asyncio.create_task(one(index, intended, request))
        in_flight.add(task)
        task.add_done_callback(in_flight.discard)
    await _drain(in_flight, drain_timeout_s)
    return RunResult("open", rate, None, total / rate, clock() - start, rec)


async def closed_loop(
    send: Send,
    factory: RequestFactory,
    workers: int,
    duration_s: float,
    *,
    max_requests: int | None = None,
    recorder: Recorder | None = None,
    clock: Clock = time.monotonic,
) -> RunResult:
    """`workers` loops, each sending its next request when the last one answers."""
    if workers < 1 or duration_s <= 0:
        raise ValueError("workers must be >= 1 and duration_s positive")
    rec = recorder or Recorder()
    counter = itertools.count()
    start = clock()
    end = start + duration_s

    async def worker() -> None:
        while clock() < end:
            index = next(counter)
            if max_requests is not None and index >= max_requests:
                return
            request = factory(index)
            rec.schedule(request.task)
            sent = clock()
            try:
                outcome = await send(request)
            except Exception as exc:  # a broken sender is counted as an error, not lost
                outcome = Outcome(0, "none", type(exc).__name__)
            rec.add(sample(index, request, outcome, start, sent, sent, clock()))

    await asyncio.gather(*(worker() for _ in range(workers)))
    return RunResult("closed", None, workers, duration_s, clock() - start, rec)


@dataclass(frozen=True)
class Target:
    """A base URL, headers made fresh per request (a JWT), and a fixed path label if any."""

    base_url: str
    headers: Callable[[], Mapping[str, str]] = dict
    route_label: str | None = None


def server_ms(header: str) -> float | None:
    """`dur` of the `edge` metric in a `Server-Timing` header (None when absent)."""
    for metric in header.split(","):
        name, _, params = metric.strip().partition(";")
        if name == "edge":
            for param in params.split(";"):
                key, _, value = param.strip().partition("=")
                if key == "dur":
                    try:
                        return float(value)
                    except ValueError:
                        return None
    return None


class HttpSender:
    """Sends requests with aiohttp; the path is the `X-Route` header (or the target's label)."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        targets: Mapping[str, Target],
        timeout_s: float = 60.0,
    ) -> None:
        self._session = session
        self._targets = dict(targets)
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)

    async def __call__(self, request: Request) -> Outcome:
        """Send one request and read the whole body."""
        target = self._targets.get(request.target)
        if target is None:
            return Outcome(0, "none", f"no_target_{request.target}")
        try:
            async with self._session.request(
                request.method,
                target.base_url.rstrip("/") + request.path,
                json=request.body,
                headers=dict(target.headers()),
                timeout=self._timeout,
            ) as response:
                await response.read()
                route = target.route_label or response.headers.get("X-Route", "none")
                timing = server_ms(response.headers.get("Server-Timing", ""))
                return Outcome(response.status, route, server_ms=timing)
        except TimeoutError:
            return Outcome(0, "none", "timeout")
        except aiohttp.ClientError as exc:
            return Outcome(0, "none", type(exc).__name__)
