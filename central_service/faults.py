"""Fault hooks for tests (off unless enabled): `POST /admin/faults` delays or fails requests."""

import asyncio

from aiohttp import web

from central_service.keys import FAULTS
from common.errors import Unavailable


async def apply_faults(app: web.Application) -> None:
    """Test hook (off unless enabled): delay or fail requests on purpose."""
    faults = app[FAULTS]
    if faults.get("delay_ms"):
        await asyncio.sleep(faults["delay_ms"] / 1000)
    if faults.get("fail_status"):
        raise Unavailable("injected fault", "injected_fault", retry_after_s=1)


async def set_faults(request: web.Request) -> web.Response:
    """`POST /admin/faults` `{"delay_ms": 300, "fail_status": 503}`; `{}` clears."""
    data = await request.json()
    request.app[FAULTS].clear()
    request.app[FAULTS].update({k: data[k] for k in ("delay_ms", "fail_status") if k in data})
    return web.json_response(request.app[FAULTS])
