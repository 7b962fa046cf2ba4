"""The servers' event loop: uvloop by default where installed, asyncio's when asked or missing."""

import asyncio
import importlib.util

import pytest
import uvloop

from common import event_loop


def test_auto_and_uvloop_pick_uvloop_when_installed() -> None:
    assert event_loop.loop_factory("auto") is uvloop.new_event_loop
    assert event_loop.loop_factory("uvloop") is uvloop.new_event_loop


def test_asyncio_picks_the_standard_loop() -> None:
    assert event_loop.loop_factory("asyncio") is None


def test_auto_falls_back_to_asyncio_without_uvloop(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name: None if name == "uvloop" else real(name)
    )
    assert event_loop.loop_factory("auto") is None


@pytest.mark.parametrize(("kind", "name"), [("uvloop", "uvloop"), ("asyncio", "asyncio")])
def test_run_runs_the_coroutine_on_the_chosen_loop(
    kind: event_loop.EventLoopKind, name: str
) -> None:
    seen: list[str] = []

    async def main() -> None:
        await asyncio.sleep(0)
        seen.append(event_loop.loop_name())

    event_loop.run(main(), kind)
    assert seen == [name]
