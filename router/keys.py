"""Typed keys for what the edge app shares between handlers."""

import asyncio

from aiohttp import web

from edge_models.runtime import EdgeRuntime
from router.auth import AccessControl
from router.cache import EdgeCache
from router.job_builder import JobBuilder
from router.metrics import EdgeMetrics
from router.pipeline import Pipeline
from router.recorder import Recorder
from router.settings import Settings

SETTINGS = web.AppKey("settings", Settings)
METRICS = web.AppKey("metrics", EdgeMetrics)
EDGE = web.AppKey("edge", EdgeRuntime)
PIPELINE = web.AppKey("pipeline", Pipeline)
CACHE = web.AppKey("cache", EdgeCache | None)  # type: ignore[arg-type]
ACCESS = web.AppKey("access", AccessControl)
DRAINING = web.AppKey("draining", asyncio.Event)
RECORDER = web.AppKey("recorder", Recorder)
BUILDER = web.AppKey("job_builder", JobBuilder)
