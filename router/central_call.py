"""A job as the central sees it: `/v3` inputs with payloads re-encoded, answer-changing params."""

import base64
from typing import Any

from central_client.adapters import CentralCall
from router.jobs import Job, JobInput

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
    params.update(job.params.passthrough())
    parameters = tuple(sorted((k, v) for k, v in params.items() if v is not None))
    return CentralCall(
        task=job.task,
        inputs=tuple({**to_central_input(i), "task": job.task} for i in job.inputs),
        parameters=parameters,
        request_id=job.request_id,
        deadline=job.deadline,
    )
