"""Edge stages: fetching media an edge model needs, and running one request's items on one
model with edge errors turned into ApiErrors."""

import dataclasses
from typing import Any

from common.errors import BadRequest, TooManyRequests, Unavailable
from edge_models.base import EdgeInput
from edge_models.batcher import QueueFull
from edge_models.errors import InputError
from edge_models.runtime import EdgeRuntime, NotReady
from router.fetch import ImageFetcher
from router.jobs import Job


async def fetch_media(job: Job, fetcher: ImageFetcher | None) -> Job:
    """Edge image tasks given `image_url`: fetch the bytes here (SSRF-guarded).

    Other tasks pass the URL on to the central unchanged.
    """
    if job.task != "classify_image" or not any(i.image_url and not i.image for i in job.inputs):
        return job
    if fetcher is None:
        raise BadRequest("image_url is not supported here; send `image`", "url_not_allowed")
    inputs = []
    for item in job.inputs:
        if item.image_url and not item.image:
            item = dataclasses.replace(item, image=await fetcher.fetch(item.image_url))
        inputs.append(item)
    return dataclasses.replace(job, inputs=tuple(inputs))


def overloaded(exc: QueueFull) -> TooManyRequests:
    """The 429 for a request an edge model shed."""
    return TooManyRequests(str(exc), "edge_overloaded", retry_after_s=exc.retry_after_s)


def shed_early(edge: EdgeRuntime, model: str) -> None:
    """A 429 before the body is read, while the edge model a URL names is shedding.

    Under overload a shed must be cheap, or sheds take the CPU the admitted requests need: a
    full parse, PII scan and routing decision cost the loop about twice what this does. The
    price: a request shed here might have been an exact-cache hit.
    """
    try:
        edge.shed_if_overloaded(model)
    except QueueFull as exc:
        raise overloaded(exc) from None


async def run_edge_items(
    edge: EdgeRuntime, model: str, items: list[EdgeInput]
) -> list[dict[str, Any]]:
    """Admit the request and run its items on `model` (looked up once); a bad item fails it."""
    try:
        results = await edge.run_many(model, items)
    except QueueFull as exc:
        raise overloaded(exc) from None
    except NotReady as exc:
        raise Unavailable(str(exc), "not_ready", retry_after_s=5) from None
    for index, result in enumerate(results):
        if isinstance(result, InputError):
            raise BadRequest(f"inputs[{index}]: {result}", result.code)
        if isinstance(result, QueueFull):
            raise overloaded(result)
        if isinstance(result, NotReady):
            raise Unavailable(str(result), "not_ready", retry_after_s=5)
        if isinstance(result, BaseException):
            raise result
    return list(results)  # type: ignore[arg-type]
