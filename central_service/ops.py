"""The central's operational endpoints: liveness, readiness, its models and tasks, metrics."""

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from central_service import api_audio
from central_service.generate import CENTRAL_TASKS
from central_service.keys import PROVIDER, REGISTRY, SETTINGS


async def healthz(request: web.Request) -> web.Response:
    """Alive."""
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """Ready when the LLM is loaded (it loads before the server accepts connections)."""
    app = request.app
    return web.json_response(
        {
            "status": "ready",
            "model": app[SETTINGS].model_name,
            "tasks": [*CENTRAL_TASKS, *api_audio.transcribe_tasks(app)],
            "image_provider": app[PROVIDER].configured,
        }
    )


async def models(request: web.Request) -> web.Response:
    """The models and tasks this central serves (the edge reads them for routing)."""
    settings = request.app[SETTINGS]
    tasks = [*CENTRAL_TASKS, *api_audio.transcribe_tasks(request.app)]
    return web.json_response(
        {
            "object": "list",
            "data": [
                {
                    "id": settings.model_name,
                    "object": "model",
                    "owned_by": "central",
                    "tasks": tasks,
                    "image_input": request.app[PROVIDER].configured,
                    "image_output": request.app[PROVIDER].configured,
                },
            ],
        }
    )


async def metrics(request: web.Request) -> web.Response:
    """Prometheus text exposition."""
    return web.Response(
        body=generate_latest(request.app[REGISTRY]), headers={"Content-Type": CONTENT_TYPE_LATEST}
    )
