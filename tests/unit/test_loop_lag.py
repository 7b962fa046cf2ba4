"""The loop-lag watcher measures how late each tick wakes (injected clock and sleep)."""

import asyncio

import pytest

from router.loop_lag import watch_lag


async def test_each_tick_reports_its_lateness() -> None:
    now = [0.0]
    late_by = iter([0.0, 0.004, 0.250])
    observed: list[float] = []

    async def sleep(seconds: float) -> None:
        try:
            now[0] += seconds + next(late_by)
        except StopIteration:
            raise asyncio.CancelledError from None

    with pytest.raises(asyncio.CancelledError):
        await watch_lag(observed.append, tick_s=0.01, clock=lambda: now[0], sleep=sleep)
    assert observed == pytest.approx([0.0, 0.004, 0.250])
