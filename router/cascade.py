"""The cascade stage: low-confidence edge classifications re-answered by the central."""

import dataclasses
import logging
from collections.abc import Awaitable, Callable

from central_client.adapters import CentralAnswer, CentralCall
from common.errors import ApiError
from router.central_call import to_central_call
from router.jobs import Job, Result

log = logging.getLogger(__name__)

CallCentral = Callable[[CentralCall], Awaitable[CentralAnswer]]


async def escalate(job: Job, edge: Result, threshold: float, call: CallCentral | None) -> Result:
    """The edge answer, with items scored under `threshold` re-answered by the central.

    `job` is the redacted form (what may leave the edge). A failed escalation keeps the edge
    answer; every output says who answered it.
    """
    low = [i for i, o in enumerate(edge.outputs) if o["labels"][0]["score"] < threshold]
    outputs = [{**o, "answered_by": "edge"} for o in edge.outputs]
    if not low or call is None:
        return dataclasses.replace(edge, outputs=outputs, reason="cascade:edge-confident")
    sub_job = dataclasses.replace(job, inputs=tuple(job.inputs[i] for i in low))
    try:
        answer = await call(to_central_call(sub_job))
    except ApiError as exc:
        log.warning("cascade escalation failed (%s); keeping the edge answer", exc.code)
        return dataclasses.replace(edge, outputs=outputs, reason="cascade:central-failed")
    for index, output in zip(low, answer.outputs, strict=True):
        if "labels" in output:
            outputs[index] = {
                **output,
                "answered_by": "central",
                "edge_labels": edge.outputs[index]["labels"],
            }
    return Result(outputs, "central", "cascade:escalated", answer.model or edge.model, answer.usage)
