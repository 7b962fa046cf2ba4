"""Seeding the latency estimates at startup: one small timed request per edge model and one
on the central, so the first deadline-bound request is not routed blind."""

import logging
from collections.abc import Callable

from common.errors import ApiError
from edge_models.base import EdgeInput
from edge_models.runtime import EdgeRuntime
from router.central_call import to_central_call
from router.gateway import CentralGateway
from router.jobs import Job, JobInput, JobParams
from router.recorder import Recorder

log = logging.getLogger(__name__)

PROBES = {
    "embed": EdgeInput(text="probe"),
    "classify": EdgeInput(text="probe", labels=("a", "b")),
}


async def warm_up_probe(
    edge: EdgeRuntime,
    central: "CentralGateway | None",
    recorder: Recorder,
    clock: Callable[[], float],
) -> None:
    """Time one probe per edge text model and one central generate; feed the recorder."""
    await edge.wait_ready()
    for spec in edge.specs():
        if spec.task in PROBES:
            started = clock()
            await edge.run(spec.name, PROBES[spec.task])
            recorder.path_latency("edge", spec.task, (clock() - started) * 1000)
    if central is None or "generate" not in central.tasks():
        return
    probe = Job(
        request_id="warm-up-probe",
        model="auto",
        task="generate",
        inputs=(JobInput(text="Hi"),),
        params=JobParams(max_tokens=1),
    )
    started = clock()
    try:
        await central.call(to_central_call(probe))
    except ApiError as exc:
        log.info("central warm-up probe failed: %s", exc.code)
        return
    recorder.path_latency("central", "generate", (clock() - started) * 1000)
