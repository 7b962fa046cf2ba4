"""Who is calling, by which transport, until when: the context every pipeline call carries.

`CallContext` is frozen; its `trace` is the one mutable part, filled in by the pipeline (job,
route, usage) and read once by the `Recorder` when the transport has answered.
"""

from dataclasses import dataclass, field
from typing import Any, Literal

from common.errors import BadRequest

Transport = Literal["v3", "openai", "sse", "grpc"]
ANONYMOUS = "anonymous"
DEADLINE_HEADER = "X-Request-Deadline-Ms"
MAX_BUDGET_MS = 600_000.0


@dataclass
class CallTrace:
    """What became of a call so far: set by codecs and stages, read by the recorder."""

    task: str | None = None
    model: str | None = None
    job: Any = None  # the job as it may leave the edge (PII redacted): for the query hash
    route: str = "none"
    reason: str = ""
    usage: dict[str, int] = field(default_factory=dict)
    error_code: str = ""


@dataclass(frozen=True)
class CallContext:
    """The caller, its deadline, its cache directives and the transport it came by."""

    request_id: str
    principal: str = ANONYMOUS
    source_ip: str = ""
    transport: Transport = "v3"
    deadline: float | None = None  # when the answer is due: the caller's, else the default
    caller_deadline: float | None = None  # the caller's own budget, which routing weighs
    cache_control: str | None = None
    trace: CallTrace = field(default_factory=CallTrace, compare=False)


def parse_budget_header(value: str | None) -> float | None:
    """`X-Request-Deadline-Ms` as milliseconds (None when absent); 400 when malformed."""
    if value is None:
        return None
    try:
        budget = float(value)
    except ValueError:
        raise BadRequest(f"{DEADLINE_HEADER} must be a number", "invalid_deadline") from None
    if not 0 < budget <= MAX_BUDGET_MS:
        raise BadRequest(f"{DEADLINE_HEADER} must be in (0, 600000]", "invalid_deadline")
    return budget


def deadline_of(now: float, default_s: float | None, *budgets_s: float | None) -> float | None:
    """The monotonic deadline: the tightest of the caller's budgets, else the server default."""
    given = [b for b in budgets_s if b is not None]
    if given:
        return now + min(given)
    return None if default_s is None else now + default_s
