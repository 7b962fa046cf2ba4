"""The edge's central client: providers in order, fallback between them, hedging of idempotent work.

A call goes to the first provider that can take it (task and media), is not open-circuited,
and whose recent latency fits the call's deadline; when that provider is down, over quota,
rate limiting or answering garbage, the next one serves within the same deadline. Errors that
are the caller's (400, 413) end the call at once. Idempotent calls may be hedged: after the
first provider's recent p95 without an answer, the next provider is asked too, within a
budget of extra calls; the first answer wins and the loser is cancelled.
"""

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

from central_client.adapters import CentralAnswer, CentralCall, missing, unsupported
from central_client.config import DEFAULT_RUNTIME, ClientConfig, Runtime
from central_client.provider import ProviderClient
from central_client.retry import RetryBudget
from central_client.transport import Request, Timeouts, TransportError, tls_context
from common.errors import (
    ApiError,
    BadUpstream,
    DeadlineExceeded,
    NotFound,
    NotSupported,
    TooManyRequests,
    Unavailable,
)

log = logging.getLogger(__name__)

__all__ = ["CentralClient", "tls_context"]

FAILOVER_ERRORS = (
    TooManyRequests,
    Unavailable,
    BadUpstream,
    DeadlineExceeded,
    NotFound,
    NotSupported,
)


class CentralClient:
    """What the router calls: `call`, `stream`, `tasks`, `available`, `describe`."""

    def __init__(
        self,
        providers: list[ProviderClient],
        config: ClientConfig,
        runtime: Runtime = DEFAULT_RUNTIME,
    ) -> None:
        if not providers:
            raise ValueError("the central client needs at least one provider")
        self.providers = providers
        self._config = config
        self._rt = runtime
        self._hedge_budget = RetryBudget(config.hedge.budget_ratio, 0.0, clock=runtime.clock)
        self.hedges = 0

    # --- what the router asks -------------------------------------------------------------

    def tasks(self) -> frozenset[str]:
        """Tasks at least one provider takes."""
        return frozenset().union(*(p.adapter.capabilities.tasks for p in self.providers))

    def available(self) -> tuple[bool, float]:
        """True while any provider's circuit lets calls through; else the shortest wait."""
        states = [p.available() for p in self.providers]
        if any(ok for ok, _ in states):
            return True, 0.0
        return False, min(wait for _, wait in states)

    def describe(self) -> dict[str, Any]:
        """State for `/readyz` (credentials redacted)."""
        first = self.providers[0].describe()
        return {
            "url": first["url"],
            "breaker": first["breaker"],
            "tasks": sorted(self.tasks()),
            "providers": [p.describe() for p in self.providers],
        }

    async def warm_up(self) -> None:
        """Warm every provider's pool and learn capabilities; failures are only logged."""
        problems = await asyncio.gather(*(warm_up(p) for p in self.providers))
        for provider, problem in zip(self.providers, problems, strict=True):
            if problem is not None:
                log.warning("central provider %s warm-up: %s", provider.name, problem)

    async def close(self) -> None:
        """Cancel batches in flight."""
        await asyncio.gather(*(p.close() for p in self.providers))

    # --- choosing -------------------------------------------------------------------------

    def _capable(self, call: CentralCall) -> list[ProviderClient]:
        """Providers that can take the call, in order; a 501 naming the gap when none can."""
        capable = [p for p in self.providers if not missing(call, p.adapter.capabilities)]
        if not capable:
            gaps = missing(call, self.providers[0].adapter.capabilities)
            raise unsupported(call, gaps)
        return capable

    def order(self, call: CentralCall) -> list[ProviderClient]:
        """Capable providers whose circuit admits calls: those that fit the deadline first."""
        capable = self._capable(call)
        ready = [p for p in capable if p.available()[0]]
        if not ready:
            wait = min(p.available()[1] for p in capable)
            raise Unavailable(
                "every central provider is failing; circuits open",
                "circuit_open",
                retry_after_s=max(wait, 1.0),
            )
        remaining = self._remaining(call)
        if remaining is None:
            return ready

        fits = [(p50 := p.latency.quantile(0.5)) is None or p50 <= remaining for p in ready]
        pairs = list(zip(ready, fits, strict=True))
        return [p for p, ok in pairs if ok] + [p for p, ok in pairs if not ok]

    # --- calls ----------------------------------------------------------------------------

    async def call(self, call: CentralCall) -> CentralAnswer:
        """Answer a call from the first provider that can, hedging idempotent work."""
        order = self.order(call)
        if self._config.hedge.enabled and len(order) > 1 and call.idempotent():
            self._hedge_budget.record_request()
            delay = self._hedge_delay(order[0], call)
            if delay is not None:
                return await self._hedged(call, order, delay)
        return await self._failover(call, order)

    async def _failover(self, call: CentralCall, order: list[ProviderClient]) -> CentralAnswer:
        """Try providers in order; the last one gets the full retry policy."""
        errors: list[ApiError] = []
        for index, provider in enumerate(order):
            last = index == len(order) - 1
            try:
                return await provider.call(call, last)
            except FAILOVER_ERRORS as exc:
                errors.append(exc)
                remaining = self._remaining(call)
                if last or (remaining is not None and remaining <= 0):
                    break
                log.info("provider %s failed (%s); trying the next", provider.name, exc.code)
        raise _final_error(errors)

    def _hedge_delay(self, provider: ProviderClient, call: CentralCall) -> float | None:
        """How long to wait for the first provider before hedging; None: do not hedge."""
        hedge = self._config.hedge
        if provider.latency.count() < hedge.min_samples:
            return None
        p = provider.latency.quantile(hedge.quantile)
        if p is None:
            return None
        delay = max(p, hedge.min_delay_s)
        remaining = self._remaining(call)
        if remaining is not None and delay >= remaining:
            return None
        return delay

    async def _hedged(
        self, call: CentralCall, order: list[ProviderClient], delay: float
    ) -> CentralAnswer:
        """Ask the first provider; after `delay` without an answer, ask the rest too."""
        first = asyncio.ensure_future(order[0].call(call, last=False))
        done, _ = await asyncio.wait({first}, timeout=delay)
        if done or not self._hedge_budget.try_spend_retry():
            try:
                return await first
            except FAILOVER_ERRORS as exc:
                return await self._after_failure(call, order[1:], exc)
        self.hedges += 1
        second = asyncio.ensure_future(self._failover(call, order[1:]))
        pending = {first, second}
        errors: list[ApiError] = []
        try:
            while pending:
                finished, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for task in finished:
                    exc = task.exception()
                    if exc is None:
                        return task.result()
                    if not isinstance(exc, FAILOVER_ERRORS):
                        raise exc
                    errors.append(exc)
            raise _final_error(errors)
        finally:
            for task in (first, second):
                if not task.done():
                    task.cancel()
            await asyncio.gather(first, second, return_exceptions=True)

    async def _after_failure(
        self, call: CentralCall, rest: list[ProviderClient], error: ApiError
    ) -> CentralAnswer:
        remaining = self._remaining(call)
        if not rest or (remaining is not None and remaining <= 0):
            raise error
        return await self._failover(call, rest)

    async def stream(self, call: CentralCall) -> AsyncIterator[dict[str, Any]]:
        """A streamed generate from the first provider that opens one; no switch mid-stream."""
        order = self.order(call)
        errors: list[ApiError] = []
        for index, provider in enumerate(order):
            events = provider.stream(call)
            try:
                try:
                    first = await anext(events)
                except FAILOVER_ERRORS as exc:
                    errors.append(exc)
                    remaining = self._remaining(call)
                    if index == len(order) - 1 or (remaining is not None and remaining <= 0):
                        break
                    continue
                yield first
                async for event in events:
                    yield event
                return
            finally:
                await events.aclose()  # type: ignore[attr-defined]
        raise _final_error(errors)

    def _remaining(self, call: CentralCall) -> float | None:
        return None if call.deadline is None else call.deadline - self._rt.clock()


async def warm_up(provider: ProviderClient) -> str | None:
    """Open a pooled connection and learn capabilities; returns a problem, never raises."""
    request = Request(
        "GET",
        provider.provider.base_url + provider.adapter.models_path(),
        provider.adapter.auth_headers(),
        timeouts=Timeouts(2.0, 5.0, 6.0),
    )
    try:
        async with provider.transport.open(request) as response:
            body = await response.read(1 << 20)
            if response.status != 200:
                return f"models list answered {response.status}"
            provider.adapter.learn(json.loads(body))
    except (TransportError, ValueError) as exc:
        return exc.__class__.__name__
    return None


def _final_error(errors: list[ApiError]) -> ApiError:
    """The error to report when every provider failed: the last, deadline first."""
    if not errors:
        return Unavailable("no central provider answered", "central_unavailable", retry_after_s=1)
    for error in errors:
        if isinstance(error, DeadlineExceeded) and error.code == "deadline_exceeded":
            return error
    return errors[-1]
