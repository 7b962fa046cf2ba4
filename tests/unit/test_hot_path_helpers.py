"""The hot path's shortcuts answer exactly as the plain versions they replaced."""

import logging
import math
import random

import orjson
import pytest

from central_client.health import LatencyWindow
from router.logging_setup import TEXT_FORMAT, TextFormatter
from router.responses import (
    AssistantMessage,
    ChatChoice,
    ChatCompletion,
    ChatUsage,
    GenerateResponse,
    Output,
    dump,
    shape,
)


class Clock:
    """A settable monotonic clock."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def nearest_rank(values: list[float], q: float) -> float | None:
    """The reference: sort the fresh samples, take the nearest rank."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def test_latency_window_matches_a_sort_of_the_fresh_samples() -> None:
    clock = Clock()
    window = LatencyWindow(size=16, max_age_s=5.0, clock=clock)
    kept: list[tuple[float, float]] = []
    rng = random.Random(7)
    for _ in range(500):
        clock.now += rng.choice([0.0, 0.1, 0.7, 3.0])
        value = rng.choice([0.01, 0.02, 0.05, rng.random()])  # duplicates included
        window.record(value)
        kept = [*kept, (clock.now, value)][-16:]
        fresh = [v for t, v in kept if t >= clock.now - 5.0]
        for q in (0.0, 0.5, 0.95, 1.0):
            assert window.quantile(q) == nearest_rank(fresh, q)
        assert window.count() == len(fresh)


def test_latency_window_of_size_zero_keeps_nothing() -> None:
    window = LatencyWindow(size=0)
    window.record(0.5)
    assert window.count() == 0
    assert window.quantile(0.5) is None


def test_text_formatter_writes_what_logging_formatter_writes() -> None:
    ours, theirs = TextFormatter(TEXT_FORMAT), logging.Formatter(TEXT_FORMAT)
    for created in (1_700_000_000.0, 1_700_000_000.999, 1_700_000_001.25, 1_700_000_000.5):
        record = logging.LogRecord("x", logging.INFO, __file__, 1, "hello %s", ("a",), None)
        record.created, record.msecs = created, (created - int(created)) * 1000
        record.request_id = "r1"
        assert ours.format(record) == theirs.format(record)


def test_shape_is_dump_of_model_construct() -> None:
    usage = {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}
    built = dump(
        ChatCompletion.model_construct(
            id="c1",
            created=5,
            model="m",
            choices=[
                ChatChoice.model_construct(
                    index=0,
                    message=AssistantMessage.model_construct(content="ok", tool_calls=None),
                    finish_reason="stop",
                )
            ],
            usage=ChatUsage.model_construct(**usage),
        )
    )
    shaped = shape(
        ChatCompletion,
        id="c1",
        created=5,
        model="m",
        choices=[
            shape(
                ChatChoice,
                index=0,
                message=shape(AssistantMessage, content="ok", tool_calls=None),
                finish_reason="stop",
            )
        ],
        usage=shape(ChatUsage, **usage),
    )
    assert orjson.dumps(shaped) == orjson.dumps(built)  # same keys, same order, same values
    outputs = [{"embedding": [0.5, 0.25]}]
    generate = {"id": "g", "model": "m", "route": "edge", "route_reason": "r", "usage": {}}
    assert shape(GenerateResponse, outputs=outputs, **generate) == dump(
        GenerateResponse.model_construct(outputs=outputs, **generate)
    )


def test_shape_refuses_a_missing_required_field_and_an_open_model() -> None:
    with pytest.raises(TypeError, match="content"):
        shape(AssistantMessage, tool_calls=None)
    with pytest.raises(TypeError, match="closed"):
        shape(Output, text="x")
