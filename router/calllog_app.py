"""The call log's place in the app: opened for the recorder at startup, closed at the end."""

import asyncio
import logging
from collections.abc import AsyncIterator, Callable

from aiohttp import web

from router.calllog import CallLog, CallLogSettings
from router.keys import RECORDER, SETTINGS

log = logging.getLogger(__name__)


def calllog_ctx(
    settings: CallLogSettings,
) -> Callable[[web.Application], AsyncIterator[None]]:
    """A cleanup_ctx that opens the call log for the app's recorder and closes it at the end."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        prices = app[SETTINGS].routing.costs  # the routing policy's price list
        call_log = CallLog(
            settings.path, settings.max_bytes, settings.backups, prices, settings.max_pending
        )
        app[RECORDER].call_log = call_log
        yield
        app[RECORDER].call_log = None
        await asyncio.to_thread(call_log.close)
        if call_log.dropped or call_log.write_errors:
            log.warning(
                "call log: %d records dropped, %d lost to write errors",
                call_log.dropped,
                call_log.write_errors,
            )

    return ctx


def register(app: web.Application, settings: CallLogSettings) -> None:
    """Enable the call log on an app built by `create_app` (no-op when disabled)."""
    if settings.enabled:
        app.cleanup_ctx.append(calllog_ctx(settings))
