"""The event loop a server process runs on: uvloop where installed (the default), else asyncio's.

uvloop (libuv, Cython) does the per-request socket reads, writes and timer bookkeeping that
the pure-Python selector loop spends a large share of a light request's CPU on. `asyncio`
forces the standard loop, e.g. to profile Python frames inside the loop itself.
"""

import asyncio
import importlib.util
from collections.abc import Callable, Coroutine
from typing import Any, Literal, get_args

EventLoopKind = Literal["auto", "uvloop", "asyncio"]
EVENT_LOOP_KINDS: tuple[str, ...] = get_args(EventLoopKind)  # for argparse choices


def loop_factory(kind: EventLoopKind) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """The factory for `asyncio.Runner`; None means asyncio's default loop."""
    if kind == "asyncio":
        return None
    if kind == "auto" and importlib.util.find_spec("uvloop") is None:
        return None
    import uvloop  # `uvloop` asked for by name and missing: ImportError says so

    return uvloop.new_event_loop


def run(main: Coroutine[Any, Any, None], kind: EventLoopKind = "auto") -> None:
    """Run `main` to completion on the chosen loop."""
    factory = loop_factory(kind)
    with asyncio.Runner(loop_factory=factory) as runner:
        runner.run(main)


def loop_name() -> str:
    """`uvloop` or `asyncio`: the package of the running loop."""
    return type(asyncio.get_running_loop()).__module__.split(".")[0]
