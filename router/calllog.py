"""The call log: one JSON line per request (route, tokens, latency, cost, query hash), rotated.

Records are queued by the request and written by one background thread, so the event loop
never waits on the disk. The text of a request is never written, only `query_hash`: the
sha256 of its canonical (redacted) inputs, so repeated queries can be counted and costed.

Wiring: the `Recorder` builds one record per answered call (HTTP or gRPC) and hands it to
`CallLog.record`, which prices it from the one price list (`routing.costs`);
`register(app, settings.call_log)` opens the log at startup (a `cleanup_ctx`) and flushes
and closes it after the last request.
"""

from __future__ import annotations

import hashlib
import json
import logging
import queue
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from pydantic import Field

from common.settings_base import StrictModel
from router.costs import Price, call_cost
from router.jobs import Job

log = logging.getLogger(__name__)


class CallLogSettings(StrictModel):
    """The call log (`call_log.*`): where, and how big before rotating; prices: `routing.costs`."""

    enabled: bool = False
    path: Path = Path("logs/calls.jsonl")
    max_bytes: int = Field(50 * 1024 * 1024, ge=1024)
    backups: int = Field(5, ge=0)
    max_pending: int = Field(10_000, ge=1)


@dataclass(frozen=True)
class CallRecord:
    """One request as the call log keeps it (no text, only its hash)."""

    ts: str
    request_id: str
    method: str
    path: str
    route: str
    reason: str
    task: str
    model: str
    caller: str
    prompt_tokens: int
    completion_tokens: int
    latency_ms: float
    status: int
    query_hash: str | None = None


def query_hash(job: Job) -> str:
    """sha256 of a job's task and inputs (text, messages, digests of binary payloads)."""
    inputs = []
    for item in job.inputs:
        inputs.append(
            {
                "text": item.text,
                "messages": [list(m) for m in item.messages],
                "image": _digest(item.image),
                "image_url": item.image_url,
                "audio": _digest(item.audio),
            }
        )
    canonical = json.dumps({"task": job.task, "inputs": inputs}, sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _digest(data: bytes | None) -> str | None:
    return hashlib.sha256(data).hexdigest() if data is not None else None


def iso_now(wall: Callable[[], float] = time.time) -> str:
    """Wall-clock time as ISO 8601 UTC with milliseconds."""
    return iso_at(wall())


def iso_at(seconds: float) -> str:
    """Wall-clock `seconds` (epoch) as ISO 8601 UTC with milliseconds."""
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds")


def log_files(path: Path, backups: int | None = None) -> list[Path]:
    """The log's files oldest first: `path.N` … `path.1`, then `path` (those that exist)."""
    numbered = []
    for candidate in path.parent.glob(path.name + ".*"):
        suffix = candidate.name[len(path.name) + 1 :]
        if suffix.isdigit() and (backups is None or int(suffix) <= backups):
            numbered.append((int(suffix), candidate))
    files = [p for _, p in sorted(numbered, reverse=True)]
    return [*files, path] if path.exists() else files


class _RotatingWriter:
    """Appends text to `path`, rotating to `path.1` … `path.N` past `max_bytes`."""

    def __init__(self, path: Path, max_bytes: int, backups: int) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.backups = backups
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file: TextIO = path.open("a", encoding="utf-8")

    def write_lines(self, lines: list[str]) -> None:
        """Append lines, rotating first whenever the next line would pass `max_bytes`."""
        size = self._file.tell()
        chunk: list[str] = []
        for line in lines:
            length = len(line.encode()) + 1
            if size > 0 and size + length > self.max_bytes:
                self._file.write("".join(chunk))
                chunk = []
                self._rotate()
                size = 0
            chunk.append(f"{line}\n")
            size += length
        self._file.write("".join(chunk))
        self._file.flush()

    def _rotate(self) -> None:
        self._file.close()
        if self.backups == 0:
            self.path.unlink(missing_ok=True)
        else:
            for index in range(self.backups - 1, 0, -1):
                older = self.path.with_name(f"{self.path.name}.{index}")
                if older.exists():
                    older.replace(self.path.with_name(f"{self.path.name}.{index + 1}"))
            self.path.replace(self.path.with_name(f"{self.path.name}.1"))
        self._file = self.path.open("a", encoding="utf-8")

    def close(self) -> None:
        self._file.close()


_STOP = object()


class CallLog:
    """A JSONL call log written by a background thread; `record` never blocks on disk."""

    def __init__(
        self,
        path: Path,
        max_bytes: int,
        backups: int,
        prices: Mapping[str, Price],
        max_pending: int = 10_000,
    ) -> None:
        self.prices = prices
        self.dropped = 0
        self.write_errors = 0
        self._queue: queue.Queue[object] = queue.Queue(max_pending)
        self._writer = _RotatingWriter(path, max_bytes, backups)
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="calllog-writer", daemon=True)
        self._thread.start()

    def record(self, entry: CallRecord) -> None:
        """Queue one record (with its cost); dropped and counted if the writer is far behind."""
        ok = 200 <= entry.status < 300  # failed calls cost nothing
        tokens = (entry.prompt_tokens, entry.completion_tokens)
        cost = call_cost(self.prices, entry.route, *tokens) if ok else 0.0
        line = json.dumps({**asdict(entry), "cost": round(cost, 8)}, separators=(",", ":"))
        try:
            self._queue.put_nowait(line)
        except queue.Full:
            self.dropped += 1

    def flush(self) -> None:
        """Wait until every queued record is written (blocks: call it off the loop)."""
        self._queue.join()

    def close(self) -> None:
        """Write what is queued, stop the writer, close the file (blocks: call it off the loop)."""
        if self._closed:
            return
        self._closed = True
        self._queue.put(_STOP)
        self._thread.join()
        self._writer.close()

    def _run(self) -> None:
        while True:
            lines: list[str] = []
            item = self._queue.get()
            while item is not _STOP:
                lines.append(item)  # type: ignore[arg-type]
                if len(lines) >= 512:
                    break
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
            if lines:
                try:
                    self._writer.write_lines(lines)
                except OSError as exc:
                    self.write_errors += len(lines)
                    log.warning("call log write failed (%d records lost): %s", len(lines), exc)
            for _ in range(len(lines) + (item is _STOP)):
                self._queue.task_done()
            if item is _STOP:
                return
