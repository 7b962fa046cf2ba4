"""The edge's client for the central service: quota → batcher → JWT → HTTPS → retries → breaker.

Errors reaching the caller are always `common.errors.ApiError`s, translated here in one place:
429 quota (ours or the central's), 502 garbage answer, 503 unavailable or breaker open,
504 deadline passed, and the central's own 4xx passed through.
"""

import asyncio
import json
import logging
import ssl
import time
from collections.abc import AsyncIterator, Callable, Hashable
from dataclasses import dataclass
from typing import Any

import aiohttp

from central_client.adapters import ADAPTERS, Adapter, CentralAnswer, CentralCall
from central_client.batching import Coalescer
from central_client.breaker import BreakerState, CircuitBreaker
from central_client.retry import (
    RetryBudget,
    RetryPolicy,
    next_delay,
    parse_retry_after,
    wait_exponential_full_jitter,
)
from common.errors import (
    ApiError,
    BadRequest,
    BadUpstream,
    DeadlineExceeded,
    NotFound,
    NotSupported,
    PayloadTooLarge,
    TooManyRequests,
    Unavailable,
)
from common.quota import ClientQuota, QuotaExceeded
from common.tokens import TokenMinter

log = logging.getLogger(__name__)

_PASSTHROUGH: dict[int, type[ApiError]] = {
    400: BadRequest,
    404: NotFound,
    413: PayloadTooLarge,
    501: NotSupported,
}


@dataclass(frozen=True)
class Timeouts:
    """Connect, per-read and total limits for one attempt."""

    connect_s: float = 2.0
    read_s: float = 60.0
    total_s: float = 120.0


@dataclass(frozen=True)
class _Attempt:
    """What one HTTP attempt produced."""

    status: int
    body: bytes
    retry_after: str | None


def tls_context(ca_file: str | None) -> ssl.SSLContext:
    """A verifying client context that refuses anything below TLS 1.2."""
    context = ssl.create_default_context(cafile=ca_file)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


class CentralClient:
    """Calls the central service with quota, batching, JWT, retries and a circuit breaker."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        base_url: str,
        model: str,
        minter: TokenMinter,
        quota: ClientQuota,
        breaker: CircuitBreaker,
        retry: RetryPolicy,
        budget: RetryBudget,
        wait: Callable[[int], float] | None = None,
        timeouts: Timeouts = Timeouts(),
        adapter: str = "v3",
        batch_size: int = 8,
        batch_wait_s: float = 0.005,
        max_response_bytes: int = 8 * 1024 * 1024,
        sleep: Callable[[float], Any] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
        on_attempt: Callable[[str], None] | None = None,
    ) -> None:
        self._session = session
        self._base_url = base_url.rstrip("/")
        self.model = model
        self._minter = minter
        self._quota = quota
        self.breaker = breaker
        self._retry = retry
        self._budget = budget
        self._wait = wait or wait_exponential_full_jitter()
        self._timeouts = timeouts
        self._adapter: Adapter = ADAPTERS[adapter]()
        self._coalescer: Coalescer[CentralCall, CentralAnswer] | None = (
            Coalescer(self._send_batch, batch_size, batch_wait_s) if batch_size > 1 else None
        )
        self._max_response_bytes = max_response_bytes
        self._sleep = sleep
        self._clock = clock
        self._on_attempt = on_attempt or (lambda outcome: None)
        self._tasks = self._adapter.tasks
        self.attempts = 0

    # --- what the router asks -------------------------------------------------------------

    def tasks(self) -> frozenset[str]:
        """Tasks the central advertised at warm-up (a default set until then)."""
        return self._tasks

    def available(self) -> tuple[bool, float]:
        """False while the breaker is open, with the seconds until a probe may go."""
        if self.breaker.state is BreakerState.OPEN:
            wait = self.breaker.retry_after_s()
            return wait <= 0, wait
        return True, 0.0

    def describe(self) -> dict[str, Any]:
        """State for `/readyz` details."""
        return {
            "url": self._base_url,
            "model": self.model,
            "breaker": self.breaker.state.value,
            "tasks": sorted(self._tasks),
        }

    async def warm_up(self) -> None:
        """Open a pooled connection and learn the central's tasks; failures are only logged."""
        try:
            async with self._session.get(
                f"{self._base_url}/v1/models",
                headers=self._auth_headers(),
                timeout=aiohttp.ClientTimeout(total=self._timeouts.connect_s + 1),
            ) as response:
                if response.status == 200:
                    body = await response.json()
                    tasks = {t for m in body.get("data", []) for t in m.get("tasks", [])}
                    if tasks:
                        self._tasks = frozenset(tasks)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            log.warning("central warm-up failed (%s); will retry on first use", exc)

    async def call(self, call: CentralCall) -> CentralAnswer:
        """Run a call, coalescing single-input calls into batches when enabled."""
        if self._coalescer is not None and len(call.inputs) == 1:
            return await self._coalescer.submit(call.batch_key(), call)
        return await self._call_once(call)

    async def stream(self, call: CentralCall) -> AsyncIterator[dict[str, Any]]:
        """Server-sent events of a streamed generate: one dict per `data:` line until [DONE]."""
        permit = await self._admit()
        try:
            if not self.breaker.allow():
                raise self._breaker_error()
            path, body = self._adapter.request(call, self.model)
            body["parameters"] = {**body.get("parameters", {}), "stream": True}
            timeout = aiohttp.ClientTimeout(
                connect=self._timeouts.connect_s,
                sock_read=self._timeouts.read_s,
                total=self._remaining(call),
            )
            try:
                async with self._session.post(
                    self._base_url + path,
                    json=body,
                    headers=self._auth_headers(call),
                    timeout=timeout,
                ) as response:
                    if response.status != 200:
                        payload = await response.content.read(self._max_response_bytes)
                        self._record(response.status)
                        raise self._status_error(
                            _Attempt(response.status, payload, response.headers.get("Retry-After"))
                        )
                    self.breaker.record_success()
                    async for raw in response.content:
                        line = raw.decode("utf-8", "replace").strip()
                        if not line.startswith("data:"):
                            continue
                        data = line[5:].strip()
                        if data == "[DONE]":
                            return
                        yield json.loads(data)
            except (aiohttp.ClientError, ValueError) as exc:
                self.breaker.record_failure()
                raise Unavailable(
                    f"central stream failed: {exc.__class__.__name__}",
                    "central_unreachable",
                    retry_after_s=1,
                ) from exc
            except TimeoutError:
                raise DeadlineExceeded("the central did not answer in time") from None
        finally:
            permit.release()

    async def close(self) -> None:
        """Cancel batches in flight."""
        if self._coalescer is not None:
            await self._coalescer.close()

    # --- one call, with quota, retries and the breaker ---------------------------------------

    async def _send_batch(
        self, key: Hashable, calls: list[CentralCall]
    ) -> list[CentralAnswer | BaseException]:
        """Send coalesced single-input calls as one batch request; split the answer."""
        if len(calls) == 1:
            return [await self._call_once(calls[0])]
        deadlines = [c.deadline for c in calls if c.deadline is not None]
        merged = CentralCall(
            task=calls[0].task,
            inputs=tuple(c.inputs[0] for c in calls),
            parameters=calls[0].parameters,
            request_id=calls[0].request_id,
            deadline=min(deadlines) if len(deadlines) == len(calls) else None,
        )
        answer = await self._call_once(merged)
        results: list[CentralAnswer | BaseException] = []
        for output in answer.outputs:
            if "error" in output:
                results.append(item_error(output["error"]))
            else:
                results.append(CentralAnswer([output], answer.model, {}))
        if results and isinstance(results[0], CentralAnswer):
            results[0] = CentralAnswer(results[0].outputs, answer.model, answer.usage)
        return results

    async def _call_once(self, call: CentralCall) -> CentralAnswer:
        permit = await self._admit()
        try:
            return await self._with_retries(call)
        finally:
            permit.release()

    async def _admit(self) -> Any:
        try:
            return await self._quota.admit()
        except QuotaExceeded as exc:
            raise TooManyRequests(
                "central quota exhausted on this edge",
                "central_quota",
                retry_after_s=exc.retry_after_s,
            ) from None

    async def _with_retries(self, call: CentralCall) -> CentralAnswer:
        self._budget.record_request()
        path, body = self._adapter.request(call, self.model)
        refreshed = False
        attempt = 0
        while True:
            if not self.breaker.allow():
                raise self._breaker_error()
            attempt += 1
            try:
                result = await self._send(path, body, call)
            except TimeoutError:
                self.breaker.record_failure()
                self._on_attempt("timeout")
                remaining = self._remaining(call)
                if remaining is not None and remaining <= 0:
                    raise DeadlineExceeded(
                        "no answer from the central before the deadline"
                    ) from None
                error: ApiError = DeadlineExceeded(
                    "the central did not answer in time", "central_timeout"
                )
                retry_after = None
            except aiohttp.ClientError as exc:
                self.breaker.record_failure()
                self._on_attempt("connection_error")
                error = Unavailable(
                    f"central unreachable: {exc.__class__.__name__}",
                    "central_unreachable",
                    retry_after_s=1,
                )
                retry_after = None
            else:
                self._record(result.status)
                if result.status == 200:
                    return self._parse(result, call)
                if result.status == 401 and not refreshed:
                    refreshed = True
                    self._minter.invalidate()
                    attempt -= 1  # a token refresh is not a retry
                    continue
                error = self._status_error(result)
                if not self._retry.is_retryable_status(result.status):
                    raise error
                retry_after = parse_retry_after(result.retry_after)
            delay = next_delay(attempt, retry_after, self._retry, self._wait, self._remaining(call))
            if delay is None or not self._budget.try_spend_retry():
                raise error
            await self._sleep(delay)

    async def _send(self, path: str, body: dict[str, Any], call: CentralCall) -> _Attempt:
        remaining = self._remaining(call)
        total = (
            self._timeouts.total_s
            if remaining is None
            else min(self._timeouts.total_s, max(remaining, 0.001))
        )
        timeout = aiohttp.ClientTimeout(
            total=total, connect=self._timeouts.connect_s, sock_read=self._timeouts.read_s
        )
        self.attempts += 1
        async with self._session.post(
            self._base_url + path, json=body, headers=self._auth_headers(call), timeout=timeout
        ) as response:
            payload = await response.content.read(self._max_response_bytes + 1)
            return _Attempt(response.status, payload, response.headers.get("Retry-After"))

    # --- translation, in one place ----------------------------------------------------------

    def _parse(self, result: _Attempt, call: CentralCall) -> CentralAnswer:
        if len(result.body) > self._max_response_bytes:
            raise BadUpstream("central answer is over the size limit", "upstream_too_large")
        try:
            body = json.loads(result.body)
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise BadUpstream("central answered invalid JSON", "upstream_garbage") from None
        return self._adapter.parse(body, call)

    def _record(self, status: int) -> None:
        """Feed the breaker: 5xx fail, anything else (including 4xx, 429) is a live central."""
        if status >= 500:
            self.breaker.record_failure()
            self._on_attempt(f"{status // 100}xx")
        else:
            self.breaker.record_success()
            self._on_attempt("ok" if status < 400 else f"{status}")

    def _status_error(self, result: _Attempt) -> ApiError:
        message = _upstream_message(result.body)
        retry_after = parse_retry_after(result.retry_after)
        if result.status == 429:
            return TooManyRequests(
                f"central quota: {message}", "central_rate_limited", retry_after_s=retry_after or 1
            )
        if result.status in _PASSTHROUGH:
            return _PASSTHROUGH[result.status](
                f"central rejected the request: {message}", "central_rejected"
            )
        if result.status == 401:
            return Unavailable(
                "central rejected the edge's credentials", "central_auth", retry_after_s=30
            )
        if result.status == 504:
            return DeadlineExceeded(f"central timed out: {message}", "central_timeout")
        if result.status >= 500:
            return Unavailable(
                f"central error {result.status}: {message}",
                "central_error",
                retry_after_s=retry_after or 1,
            )
        return BadUpstream(f"central answered {result.status}: {message}", "central_unexpected")

    def _breaker_error(self) -> Unavailable:
        return Unavailable(
            "the central is failing; circuit open",
            "circuit_open",
            retry_after_s=max(self.breaker.retry_after_s(), 1.0),
        )

    def _auth_headers(self, call: CentralCall | None = None) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self._minter.token()}"}
        if call is not None:
            headers["X-Request-Id"] = call.request_id
        return headers

    def _remaining(self, call: CentralCall) -> float | None:
        return None if call.deadline is None else call.deadline - self._clock()


def _upstream_message(body: bytes) -> str:
    """The central's error message, if its body is the JSON error shape (never raw bytes)."""
    try:
        error = json.loads(body).get("error", {})
        return str(error.get("message", ""))[:300] or "no message"
    except (ValueError, AttributeError):
        return "unreadable error body"


def item_error(error: Any) -> ApiError:
    """A failed batch item's error as the ApiError its status names."""
    if not isinstance(error, dict):
        return BadUpstream("central batch item failed without details", "bad_upstream_shape")
    status = int(error.get("status", 502))
    message = str(error.get("message", "central batch item failed"))
    code = str(error.get("code", "central_item_error"))
    if status == 429:
        return TooManyRequests(message, code, retry_after_s=1)
    if status in _PASSTHROUGH:
        return _PASSTHROUGH[status](message, code)
    if status >= 500:
        return Unavailable(message, code, retry_after_s=1)
    return BadUpstream(message, code)
