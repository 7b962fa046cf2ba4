"""The central app's typed state: one `web.AppKey` per shared object (settings, engine, ...)."""

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Histogram

from central_client.providers import OpenAICompatibleProvider
from central_service.auth import CentralAuth
from central_service.llm import LlmEngine
from central_service.settings import CentralServiceSettings

SETTINGS = web.AppKey("central_settings", CentralServiceSettings)
ENGINE = web.AppKey("engine", LlmEngine)
PROVIDER = web.AppKey("provider", OpenAICompatibleProvider)
AUTH = web.AppKey("auth", CentralAuth)
REGISTRY = web.AppKey("registry", CollectorRegistry)
REQUESTS = web.AppKey("requests", Counter)
LATENCY = web.AppKey("latency", Histogram)
FAULTS = web.AppKey("faults", dict)
