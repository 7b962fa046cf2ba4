"""Fuzz request parsing: raw bytes through the server's body parser, `GenerateRequest` and the
job builder.

Only pydantic's ValidationError and the API's ApiError may come out; a built Job's helpers
must not raise at all, and every text in it must encode as UTF-8 (no lone surrogate gets
past parsing). Raw-JSON inputs also check that the pre-parse depth scan agrees with the
parsed depth. Run: `python tests/fuzz/fuzz_request.py -runs=100000` (or -max_total_time=60).
"""

import json
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the checkout importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from pydantic import ValidationError

from common.errors import ApiError, BadRequest
from common.jsonbody import as_utf8, json_nesting_depth, parse_json_body, parsed_json_depth
from common.schema import GenerateRequest
from router.catalogue import Catalogue, edge_model_tasks
from router.central_call import to_central_call
from router.context import CallContext
from router.job_builder import JobBuilder
from tests.fuzz.provider import Draw, run

KEYS = (
    "inputs", "parameters", "text", "image", "image_url", "audio", "modality", "task",
    "messages", "role", "content", "max_tokens", "temperature", "top_p", "labels",
    "label_set", "top_k", "latency_budget_ms", "route", "response_format", "cache",
    "semantic_cache", "stream", "extra",
)  # fmt: skip
STRINGS = (
    "", "hi", "text", "image", "audio", "embed", "classify", "classify_image",
    "detect_speech", "generate", "transcribe", "user", "system", "assistant", "auto", "edge",
    "central", "url", "base64", "iVBORw0KGgo=", "UklGRiQAAABXQVZF", "data:image/png;base64,",
    "====", "http://127.0.0.1/", "\x00", "\ud800", "é" * 3, "[EMAIL_1]", " ",
)  # fmt: skip
NUMBERS = (0, 1, -1, 2, 5, 64, 65, 100, 4096, 4097, 0.5, 2.5, 1e308, -0.0, 2**63, 600_000)
MODELS = ("auto", "multimodal-pro", "nope", *edge_model_tasks())
BUILDER = JobBuilder(Catalogue("multimodal-pro"), max_inputs=64, max_text_chars=100_000)
MAX_DEPTH = 32
PARSE_ERRORS = ("malformed_json", "json_too_deep", "number_too_large", "invalid_unicode")


def value(draw: Draw, depth: int) -> object:
    """A JSON value biased towards the request schema's keys and values."""
    kind = draw.below(9 if depth < 6 else 5)
    if kind == 0:
        return None
    if kind == 1:
        return bool(draw.byte() & 1)
    if kind == 2:
        return draw.pick(NUMBERS)
    if kind == 3:
        return draw.pick(STRINGS)
    if kind == 4:
        return draw.text(24)
    if kind in (5, 6):
        return {draw.pick(KEYS): value(draw, depth + 1) for _ in range(draw.below(6))}
    return [value(draw, depth + 1) for _ in range(draw.below(5))]


def from_raw_json(raw: bytes) -> object:
    """Parse raw bytes like the server does (None if it refuses them); check the depth scan."""
    try:
        data = parse_json_body(raw, MAX_DEPTH)
    except BadRequest as exc:
        assert exc.code in PARSE_ERRORS, exc.code
        return None
    assert json_nesting_depth(as_utf8(raw)) == parsed_json_depth(data), raw[:200]
    assert parsed_json_depth(data) <= MAX_DEPTH
    return data


def TestOneInput(data: bytes) -> str:
    """One request body through parsing, validation and job building; the outcome."""
    draw = Draw(data)
    mode = draw.byte() % 4
    model = draw.pick(MODELS)
    if mode == 0:
        body = from_raw_json(draw.rest())
        if body is None:
            return "malformed"
    else:
        fields = {"inputs": value(draw, 1)}
        if mode == 2:
            fields["parameters"] = value(draw, 1)
        body = fields
    try:
        request = GenerateRequest.model_validate(body)
        job = BUILDER.from_generate(CallContext("fuzz"), model, request)
    except (ValidationError, ApiError):
        return "rejected"
    job.text_chars()
    if mode == 0:  # parsed like the server: every text encodes
        for text in job.texts():
            text.encode("utf-8")
    job.max_image_pixels()
    job.max_audio_seconds()
    job.edge_inputs()
    to_central_call(job)
    return "accepted"


def seed_inputs() -> list[bytes]:
    """Valid and near-valid bodies in raw-JSON mode."""
    bodies = [
        {"inputs": {"text": "hello"}},
        {"inputs": [{"text": "a"}, {"text": "b"}], "parameters": {"labels": ["x", "y"]}},
        {"inputs": {"image": "iVBORw0KGgo="}, "parameters": {"top_k": 3}},
        {"inputs": {"audio": "UklGRiQAAABXQVZF", "task": "detect_speech"}},
        {"inputs": {"messages": [{"role": "user", "content": "hi"}]}},
        {"inputs": {"image_url": "http://example.com/a.png"}, "parameters": {"route": "edge"}},
    ]
    return [b"\x00\x00\x00" + json.dumps(body).encode() for body in bodies]


if __name__ == "__main__":
    run(TestOneInput, seed_inputs())
