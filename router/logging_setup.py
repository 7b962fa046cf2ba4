"""Process logging: text or JSON lines, each carrying the id of the request being served."""

import json
import logging
import sys
import time
from datetime import UTC, datetime
from typing import Literal, TextIO

from common.access_log import REQUEST_ID

LogFormat = Literal["text", "json"]

# Attributes every LogRecord has; anything else was passed as `extra=` and goes into JSON.
_STANDARD = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "request_id"}
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s"


class RequestIdFilter(logging.Filter):
    """Stamps `record.request_id` from the context of the task that logged it."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Always keep the record; only add the id."""
        if not hasattr(record, "request_id"):
            record.request_id = REQUEST_ID.get()
        return True


class TextFormatter(logging.Formatter):
    """`TEXT_FORMAT` lines; the date and time part of `asctime` is formatted once a second."""

    _cache: tuple[int, str] = (-1, "")

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        """As `logging.Formatter.formatTime`, reusing this second's `strftime`."""
        if datefmt is not None:
            return super().formatTime(record, datefmt)
        second = int(record.created)
        cached_second, stamp = self._cache
        if second != cached_second:
            stamp = time.strftime(self.default_time_format, self.converter(record.created))
            self._cache = (second, stamp)  # one tuple: a racing thread sees a consistent pair
        return self.default_msec_format % (stamp, record.msecs)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, message, request_id, and any extras."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as a JSON line."""
        entry: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", REQUEST_ID.get()),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


def configure(
    level: int = logging.INFO, fmt: LogFormat = "text", stream: TextIO | None = None
) -> logging.Handler:
    """Replace the root handlers with one that writes `fmt` lines to `stream` (stderr)."""
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter(TEXT_FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    return handler
