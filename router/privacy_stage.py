"""The privacy stage: find a job's PII once, redact what leaves the edge, restore the answer.

Detection runs once per job (the job then carries `pii_kinds`, so nothing rescans); texts
over `OFFLOAD_CHARS` are scanned and redacted in a worker thread, so a large prompt never
stalls the loop.
"""

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from typing import Any, Literal

from router.jobs import Job
from router.privacy import RedactionMap, Redactor

OFFLOAD_CHARS = 4096
MAX_PLACEHOLDER_CHARS = 40
PrivacyMode = Literal["pin", "redact", "off"]


class PrivacyStage:
    """PII detection, redaction and restoration around the rest of the pipeline."""

    def __init__(self, redactor: Redactor, mode: PrivacyMode) -> None:
        self.redactor = redactor
        self.mode = mode

    def kinds(self, job: Job) -> frozenset[str]:
        """The PII kinds in a job's texts (blocking)."""
        return frozenset(k for text in job.texts() for k in self.redactor.kinds(text))

    async def detect(self, job: Job) -> Job:
        """The job with `pii_kinds` set (once; off the loop for big texts)."""
        if self.mode == "off" or job.pii_kinds:
            return job
        if job.text_chars() > OFFLOAD_CHARS:
            kinds = await asyncio.get_running_loop().run_in_executor(None, self.kinds, job)
        else:
            kinds = self.kinds(job)
        return dataclasses.replace(job, pii_kinds=kinds) if kinds else job

    def redact(self, job: Job, mapping: RedactionMap) -> Job:
        """The job with PII in its texts replaced by placeholders recorded in `mapping`."""
        if not job.pii_kinds or self.mode != "redact":
            return job
        redact = self.redactor.redact
        inputs = tuple(
            dataclasses.replace(
                item,
                text=redact(item.text, mapping) if item.text else item.text,
                messages=tuple((r, redact(c, mapping)) for r, c in item.messages),
            )
            for item in job.inputs
        )
        return dataclasses.replace(job, inputs=inputs)

    async def redact_off_loop(self, job: Job, mapping: RedactionMap) -> Job:
        """`redact`, in a worker thread for big texts so the loop keeps serving."""
        if not job.pii_kinds or self.mode != "redact":
            return job
        if job.text_chars() > OFFLOAD_CHARS:
            return await asyncio.get_running_loop().run_in_executor(None, self.redact, job, mapping)
        return self.redact(job, mapping)

    def restore(self, outputs: list[dict[str, Any]], mapping: RedactionMap) -> list[dict[str, Any]]:
        """Outputs with the caller's values put back."""
        if not len(mapping):
            return outputs
        return self.redactor.restore_json(outputs, mapping)  # type: ignore[return-value]

    async def restore_stream(
        self, events: AsyncIterator[dict[str, Any]], mapping: RedactionMap
    ) -> AsyncIterator[dict[str, Any]]:
        """Events with placeholders in `text` restored, even when split across events."""
        pending = ""
        try:
            async for event in events:
                if "text" in event:
                    pending += str(event["text"])
                    cut = safe_cut(pending) if not event.get("finish_reason") else len(pending)
                    ready, pending = pending[:cut], pending[cut:]
                    event = {**event, "text": self.redactor.restore(ready, mapping)}
                yield event
            if pending:
                yield {"text": self.redactor.restore(pending, mapping)}
        finally:
            await events.aclose()  # type: ignore[attr-defined]


def safe_cut(text: str) -> int:
    """Where streamed text may be cut without splitting a `[KIND_n]` placeholder."""
    start = text.rfind("[")
    if start == -1 or "]" in text[start:] or len(text) - start > MAX_PLACEHOLDER_CHARS:
        return len(text)
    return start
