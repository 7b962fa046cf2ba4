"""Jobs: what a validated request asks for, as plain dataclasses the pipeline passes along."""

import base64
import binascii
from dataclasses import dataclass, field
from typing import Any

from central_client.adapters import CentralCall
from common.errors import BadRequest, NotFound
from common.schema import GenerateRequest, InputItem, Parameters, infer_task
from edge_models.audio import wav_duration_s
from edge_models.base import EdgeInput
from edge_models.errors import InputError
from edge_models.image import image_pixels

# An edge model's name in the path pins the request to it (and to its task).
EDGE_MODEL_TASKS = {
    "all-minilm-l6-v2": "embed",
    "minilm-zero-shot": "classify",
    "efficientnet-lite0": "classify_image",
    "silero-vad": "detect_speech",
}


@dataclass(frozen=True)
class JobInput:
    """One input with binary payloads decoded."""

    text: str | None = None
    image: bytes | None = None
    image_url: str | None = None
    audio: bytes | None = None
    modality: str | None = None
    messages: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class JobParams:
    """Parameters that change the answer or the route."""

    max_tokens: int = 128
    temperature: float = 0.7
    top_p: float = 0.95
    labels: tuple[str, ...] = ()
    label_set: str | None = None
    top_k: int = 5
    latency_budget_ms: float | None = None
    route: str = "auto"
    response_format: str = "url"
    cache: bool | None = None
    semantic_cache: bool = False
    stream: bool = False


@dataclass(frozen=True)
class Job:
    """A request the pipeline can route and execute."""

    request_id: str
    model: str
    task: str
    inputs: tuple[JobInput, ...]
    params: JobParams
    tenant: str = "anonymous"
    pinned_edge_model: str | None = None
    deadline: float | None = None
    pii_kinds: frozenset[str] = frozenset()

    def edge_inputs(self) -> list[EdgeInput]:
        """Inputs in the shape edge models take."""
        return [
            EdgeInput(
                text=i.text,
                image=i.image,
                audio=i.audio,
                labels=self.params.labels,
                label_set=self.params.label_set,
                top_k=self.params.top_k,
            )
            for i in self.inputs
        ]

    def text_chars(self) -> int:
        """Total characters of text (and chat messages) across inputs."""
        return sum(len(i.text or "") + sum(len(c) for _, c in i.messages) for i in self.inputs)

    def max_image_pixels(self) -> int:
        """The largest image's pixel count, read from headers (0 without images)."""
        return max((image_pixels(i.image) or 0 for i in self.inputs if i.image), default=0)

    def max_audio_seconds(self) -> float:
        """The longest audio's duration, read from WAV headers (0 without audio)."""
        durations = []
        for item in self.inputs:
            if item.audio:
                try:
                    durations.append(wav_duration_s(item.audio))
                except InputError:
                    durations.append(0.0)
        return max(durations, default=0.0)

    def texts(self) -> list[str]:
        """Every text the job carries (inputs and chat messages)."""
        return [t for i in self.inputs for t in (i.text, *(c for _, c in i.messages)) if t]


@dataclass(frozen=True)
class Result:
    """A job's outputs and how they were produced."""

    outputs: list[dict[str, Any]]
    route: str
    reason: str
    model: str
    usage: dict[str, int] = field(default_factory=dict)


def decode_base64(value: str, what: str, index: int) -> bytes:
    """Strict base64 (a data: URL prefix is allowed); BadRequest otherwise."""
    if value.startswith("data:"):
        _, _, value = value.partition(",")
    try:
        data = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise BadRequest(f"inputs[{index}].{what} is not valid base64", "invalid_base64") from None
    if not data:
        raise BadRequest(f"inputs[{index}].{what} is empty", f"empty_{what}")
    return data


def to_job_input(item: InputItem, index: int) -> JobInput:
    """Decode one input's binary fields."""
    return JobInput(
        text=item.text,
        image=decode_base64(item.image, "image", index) if item.image is not None else None,
        image_url=item.image_url,
        audio=decode_base64(item.audio, "audio", index) if item.audio is not None else None,
        modality=item.modality,
        messages=tuple((m.role, m.content) for m in item.messages or ()),
    )


def to_job_params(params: Parameters) -> JobParams:
    """The pydantic parameters as a frozen dataclass."""
    return JobParams(
        max_tokens=params.max_tokens,
        temperature=params.temperature,
        top_p=params.top_p,
        labels=tuple(params.labels or ()),
        label_set=params.label_set,
        top_k=params.top_k,
        latency_budget_ms=params.latency_budget_ms,
        route=params.route,
        response_format=params.response_format,
        cache=params.cache,
        semantic_cache=params.semantic_cache,
        stream=params.stream,
    )


def build_job(
    request_id: str,
    model: str,
    body: GenerateRequest,
    *,
    pinned_task: str | None,
    pinned_edge_model: str | None,
    max_inputs: int,
    max_text_chars: int,
    tenant: str,
    deadline: float | None,
) -> Job:
    """Turn a validated request into a Job: one task for all inputs, payloads decoded."""
    items = body.input_list()
    if not items:
        raise BadRequest("`inputs` must not be empty", "empty_inputs")
    if len(items) > max_inputs:
        raise BadRequest(f"at most {max_inputs} inputs per request", "too_many_inputs")
    tasks = {pinned_task or infer_task(item, body.parameters) for item in items}
    if len(tasks) > 1:
        raise BadRequest(
            f"all inputs of one request must share a task; got {sorted(tasks)}", "mixed_tasks"
        )
    for index, item in enumerate(items):
        chars = len(item.text or "") + sum(len(m.content) for m in item.messages or ())
        if chars > max_text_chars:
            raise BadRequest(
                f"inputs[{index}].text is over {max_text_chars} characters", "text_too_long"
            )
    return Job(
        request_id=request_id,
        model=model,
        task=tasks.pop(),
        inputs=tuple(to_job_input(item, i) for i, item in enumerate(items)),
        params=to_job_params(body.parameters),
        tenant=tenant,
        pinned_edge_model=pinned_edge_model,
        deadline=deadline,
    )


def job_for_model(
    request_id: str,
    model: str,
    body: GenerateRequest,
    *,
    central_model: str,
    max_inputs: int,
    max_text_chars: int,
    tenant: str,
    deadline: float | None,
) -> Job:
    """The job for a request to `model`: an edge model pins, `auto`/the central goes by policy."""
    pinned_task = EDGE_MODEL_TASKS.get(model)
    if pinned_task is None and model not in ("auto", central_model):
        known = ["auto", central_model, *EDGE_MODEL_TASKS]
        raise NotFound(f"unknown model {model!r}; available: {known}", "unknown_model")
    return build_job(
        request_id,
        model,
        body,
        pinned_task=pinned_task,
        pinned_edge_model=model if pinned_task else None,
        max_inputs=max_inputs,
        max_text_chars=max_text_chars,
        tenant=tenant,
        deadline=deadline,
    )


CENTRAL_PARAMETERS = ("max_tokens", "temperature", "top_p", "labels", "top_k", "response_format")


def to_central_input(item: JobInput) -> dict[str, Any]:
    """One input in `/v3` JSON, binary payloads base64-encoded again."""
    data: dict[str, Any] = {}
    if item.text is not None:
        data["text"] = item.text
    if item.messages:
        data["messages"] = [{"role": role, "content": content} for role, content in item.messages]
    if item.image is not None:
        data["image"] = base64.b64encode(item.image).decode()
    if item.image_url is not None:
        data["image_url"] = item.image_url
    if item.audio is not None:
        data["audio"] = base64.b64encode(item.audio).decode()
    if item.modality is not None:
        data["modality"] = item.modality
    return data


def to_central_call(job: Job) -> CentralCall:
    """The job as a central call: the task on every input, answer-changing parameters only."""
    params = {name: getattr(job.params, name) for name in CENTRAL_PARAMETERS}
    params["labels"] = list(job.params.labels) or None
    parameters = tuple(sorted((k, v) for k, v in params.items() if v is not None))
    return CentralCall(
        task=job.task,
        inputs=tuple({**to_central_input(i), "task": job.task} for i in job.inputs),
        parameters=parameters,
        request_id=job.request_id,
        deadline=job.deadline,
    )
