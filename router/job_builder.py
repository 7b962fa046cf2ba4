"""The one job builder: every codec's parsed request becomes a `Job` here (decoded, checked)."""

import base64
import binascii
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from common.errors import BadRequest, NotFound
from common.schema import GenerateRequest, InputItem, Parameters, infer_task
from router.catalogue import Catalogue
from router.context import CallContext
from router.jobs import Job, JobInput, JobParams
from router.limits import InputLimits, check_input_sizes


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


# `parameters.preset` → temperature (configurable as `routing.presets`); explicit temperature wins.
DEFAULT_PRESETS: Mapping[str, float] = {"factual": 0.3, "creative": 0.9}


def preset_temperature(params: Parameters, presets: Mapping[str, float]) -> float:
    """The request's temperature: explicit, else its preset's, else the default (400 if unknown)."""
    if params.preset is None or "temperature" in params.model_fields_set:
        return params.temperature
    if params.preset not in presets:
        raise BadRequest(
            f"unknown preset {params.preset!r}; valid: {sorted(presets)}", "unknown_preset"
        )
    return presets[params.preset]


def to_job_params(params: Parameters, presets: Mapping[str, float] = DEFAULT_PRESETS) -> JobParams:
    """The pydantic parameters as a frozen dataclass (a preset resolved to its temperature)."""
    return JobParams(
        max_tokens=params.max_tokens,
        temperature=preset_temperature(params, presets),
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


def check_inputs(
    count: int,
    chars: Sequence[int],
    max_inputs: int,
    max_text_chars: int,
    labels: Sequence[str] = (),
    media_bytes: Sequence[int] = (),
) -> None:
    """400/413 for no inputs, too many, too much text, labels or media (`router.limits`)."""
    limits = InputLimits(max_inputs=max_inputs, max_text_chars=max_text_chars)
    check_input_sizes(limits, [*chars][:count] if count else [], labels, media_bytes)


@dataclass(frozen=True)
class JobBuilder:
    """The one way every codec turns a parsed request into a Job."""

    catalogue: Catalogue
    max_inputs: int
    max_text_chars: int
    presets: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_PRESETS))

    def build(
        self,
        ctx: CallContext,
        model: str,
        task: str | set[str],
        inputs: Sequence[JobInput],
        params: JobParams,
    ) -> Job:
        """A job for `model`: an edge model's name pins (and fixes the task), else policy."""
        resolved = self.catalogue.resolve(model)
        tasks = {task} if isinstance(task, str) else set(task)
        if resolved.pinned_task is not None:
            tasks = {resolved.pinned_task}
        if len(tasks) > 1:
            raise BadRequest(
                f"all inputs of one request must share a task; got {sorted(tasks)}", "mixed_tasks"
            )
        chars = [len(i.text or "") + sum(len(c) for _, c in i.messages) for i in inputs]
        media = [len(m) for i in inputs for m in (i.image, i.audio) if m is not None]
        check_inputs(len(inputs), chars, self.max_inputs, self.max_text_chars, params.labels, media)
        job = Job(
            request_id=ctx.request_id,
            model=resolved.model,
            task=tasks.pop(),
            inputs=tuple(inputs),
            params=params,
            tenant=ctx.principal,
            pinned_edge_model=resolved.pinned_edge_model,
            deadline=ctx.caller_deadline,  # routing weighs the caller's budget only
        )
        ctx.trace.task, ctx.trace.model = job.task, job.model
        return job

    def for_task(
        self, ctx: CallContext, model: str, task: str, inputs: Sequence[JobInput], params: JobParams
    ) -> Job:
        """A job that must be `task` (e.g. `/v1/embeddings`): 404 for a model of another task."""
        entry = self.catalogue.edge_entry(model)
        if entry is not None and entry.task != task:
            names = [
                n
                for n in self.catalogue.names()
                if (e := self.catalogue.edge_entry(n)) is None or e.task == task
            ]
            raise NotFound(
                f"model {model!r} does not serve {task}; available: {names}", "unknown_model"
            )
        return self.build(ctx, model, task, inputs, params)

    def from_generate(self, ctx: CallContext, model: str, body: GenerateRequest) -> Job:
        """The job for a `/v3`-shaped body (HTTP and gRPC): tasks inferred, payloads decoded."""
        items = body.input_list()
        resolved = self.catalogue.resolve(model)
        ctx.trace.model = resolved.model
        tasks = {resolved.pinned_task or infer_task(item, body.parameters) for item in items}
        if len(tasks) == 1:
            ctx.trace.task = next(iter(tasks))
        chars = [len(i.text or "") + sum(len(m.content) for m in i.messages or ()) for i in items]
        check_inputs(len(items), chars, self.max_inputs, self.max_text_chars)
        inputs = [to_job_input(item, i) for i, item in enumerate(items)]
        params = to_job_params(body.parameters, self.presets)
        return self.build(ctx, model, tasks, inputs, params)
