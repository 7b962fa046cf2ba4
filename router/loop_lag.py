"""Event-loop lag: how late a periodic tick wakes up, exported as a Prometheus histogram.

A request that holds the loop (a parse, an encode, a regex on the loop) delays every other
request by as long; the tick sees that delay. Ticks are evenly spaced in time, so the
histogram's p99 reads "99% of the time the loop answers within X".

Work moved off the loop still competes for the GIL: a CPU-bound worker thread keeps it for
the interpreter's switch interval (5 ms by default) each time the loop lets go, so the loop
waits up to that long per hand-over. While the app runs, the interval is `SWITCH_INTERVAL_S`.
"""

import asyncio
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable

from aiohttp import web
from prometheus_client import CollectorRegistry, Histogram

# Fine between 1 and 25 ms, where the 5 ms target lives, so a p99 read from buckets says more
# than "somewhere in 10-25 ms".
LAG_BUCKETS = (
    0.0005, 0.001, 0.002, 0.003, 0.004, 0.005, 0.0075, 0.01, 0.0125, 0.015, 0.02, 0.025,
    0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 30.0,
)  # fmt: skip
TICK_S = 0.01
SWITCH_INTERVAL_S = 0.001


def lag_histogram(registry: CollectorRegistry) -> Histogram:
    """`edge_event_loop_lag_seconds` on the app's registry."""
    return Histogram(
        "edge_event_loop_lag_seconds",
        "How late a 10 ms event-loop tick woke up",
        buckets=LAG_BUCKETS,
        registry=registry,
    )


async def watch_lag(
    observe: Callable[[float], None],
    tick_s: float = TICK_S,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
) -> None:
    """Tick forever; observe each tick's lateness in seconds."""
    while True:
        started = clock()
        await sleep(tick_s)
        observe(max(0.0, clock() - started - tick_s))


def loop_lag_ctx(
    registry: Callable[[web.Application], CollectorRegistry],
) -> Callable[[web.Application], AsyncIterator[None]]:
    """A cleanup_ctx that watches the loop for the app's lifetime."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        histogram = lag_histogram(registry(app))
        task = asyncio.create_task(watch_lag(histogram.observe))
        previous = sys.getswitchinterval()
        sys.setswitchinterval(min(previous, SWITCH_INTERVAL_S))
        yield
        sys.setswitchinterval(previous)
        task.cancel()

    return ctx
