"""Run a job for a handler and record it: request metrics by status code, and the call log."""

import time

from aiohttp import web

from common.errors import ApiError
from router.calllog import CALL_JOB, CALL_RESULT
from router.jobs import Job, Result
from router.keys import EDGE, METRICS, PIPELINE
from router.privacy import RedactionMap


async def run_job(request: web.Request, job: Job) -> Result:
    """Execute through the pipeline; count the request by route, task and HTTP status."""
    pipeline = request.app[PIPELINE]
    metrics = request.app[METRICS]
    # the call log sees the job as it may leave the edge: PII already redacted
    request[CALL_JOB] = pipeline.redact(pipeline.with_privacy(job), RedactionMap())
    started = time.monotonic()
    route, status = "none", "500"
    try:
        result = await pipeline.execute(job, request.headers.get("Cache-Control"))
        route, status = result.route, "200"
        request[CALL_RESULT] = result
        metrics.latency.labels(route, job.task).observe(time.monotonic() - started)
        return result
    except ApiError as exc:
        status = str(exc.status)
        raise
    finally:
        metrics.requests.labels(route, job.task, status).inc()
        for name, depth in request.app[EDGE].queue_depths().items():
            metrics.queue_depth.labels(name).set(depth)
