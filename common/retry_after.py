"""`Retry-After` parsed once for every client here (central client, SDK): delta-seconds or an
HTTP date, capped; None when absent or unusable."""

import email.utils
import math
import re
import time
from collections.abc import Callable
from datetime import UTC

MAX_RETRY_AFTER_S = 300.0
_DELTA_SECONDS = re.compile(r"^\d+(?:\.\d+)?$")


def parse_retry_after(
    value: str | None,
    now: Callable[[], float] = time.time,
    cap_s: float = MAX_RETRY_AFTER_S,
) -> float | None:
    """Parse Retry-After (delta-seconds or HTTP-date) into seconds, capped; None if unusable."""
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    if _DELTA_SECONDS.match(text):
        seconds = float(text)
    else:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = max(0.0, when.timestamp() - now())
    if not math.isfinite(seconds):
        return None
    return min(seconds, cap_s)
