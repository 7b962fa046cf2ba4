"""A plain-text progress line on stderr for long runs (no extra dependency)."""

import asyncio
import sys
import time
from typing import TextIO

from benchmarks.loadgen import Recorder

BAR_WIDTH = 24


def progress_line(name: str, elapsed_s: float, total_s: float, recorder: Recorder) -> str:
    """`[name] [#####-----] 5.0/15 s  sent 100  done 98  errors 0`."""
    fraction = min(1.0, elapsed_s / total_s) if total_s > 0 else 1.0
    filled = int(BAR_WIDTH * fraction)
    bar = "#" * filled + "-" * (BAR_WIDTH - filled)
    return (
        f"[{name}] [{bar}] {elapsed_s:5.1f}/{total_s:.0f} s  "
        f"sent {sum(recorder.scheduled.values())}  done {recorder.completed}  "
        f"errors {recorder.error_count}"
    )


async def show_progress(
    name: str, recorder: Recorder, total_s: float, stream: TextIO = sys.stderr
) -> None:
    """Redraw the line every second on a terminal, every 5 s otherwise; cancel to stop."""
    tty = stream.isatty()
    start = time.monotonic()
    try:
        while True:
            await asyncio.sleep(1.0 if tty else 5.0)
            line = progress_line(name, time.monotonic() - start, total_s, recorder)
            stream.write(f"\r{line}" if tty else f"{line}\n")
            stream.flush()
    finally:
        if tty:
            stream.write("\n")
            stream.flush()
