"""One provider as layers: coalescer → quota → retries (budget, breaker) → adapter + transport.

Transport failures are translated to ApiErrors here, in one place:
ReadTimedOut → 504, ConnectFailed → 503, BodyTooLarge / LineTooLong → 502, and a provider's
non-200 answer through `upstream_errors.status_error`.
"""

import asyncio
from collections.abc import AsyncIterator, Hashable
from typing import Any

from central_client.adapters import Adapter, CentralAnswer, CentralCall, Wire
from central_client.batching import (
    Coalescer,
    join_answers,
    merge_calls,
    singles,
    split_answer,
)
from central_client.breaker import BreakerState, CircuitBreaker
from central_client.config import DEFAULT_RUNTIME, ClientConfig, ProviderConfig, Runtime
from central_client.health import LatencyWindow
from central_client.retry import RetryBudget, RetryPolicy, next_delay, wait_exponential_full_jitter
from central_client.sse import stream_events, whole_answer
from central_client.transport import (
    BodyTooLarge,
    ConnectFailed,
    ReadTimedOut,
    Request,
    Timeouts,
    Transport,
    TransportError,
)
from central_client.upstream_errors import (
    retry_after_of,
    status_error,
    transport_error,
)
from common.errors import ApiError, DeadlineExceeded, TooManyRequests, Unavailable
from common.quota_gate import ClientQuota, QuotaExceeded, QuotaPermit

OFF_LOOP_PARSE_BYTES = 512 * 1024
FAILOVER_QUEUE_WAIT_S = 0.05  # a queue this long at one provider: ask the next


class ProviderClient:
    """Calls one provider; a call that is not `last` in the chain gets one attempt and no queue
    wait to speak of, so the next provider serves instead of this one retrying."""

    def __init__(
        self,
        provider: ProviderConfig,
        config: ClientConfig,
        adapter: Adapter,
        transport: Transport,
        quota: ClientQuota,
        runtime: Runtime = DEFAULT_RUNTIME,
    ) -> None:
        self.provider = provider
        self.name = provider.name
        self.adapter = adapter
        self._config = config
        self.transport = transport
        self._quota = quota
        self._rt = runtime
        self.breaker = CircuitBreaker.from_config(
            config.breaker,
            clock=runtime.clock,
            on_change=lambda old, new: runtime.on_breaker_change(provider.name, old, new),
        )
        self._budget = RetryBudget(
            config.budget_ratio, config.budget_min_per_s, clock=runtime.clock
        )
        self._wait = wait_exponential_full_jitter(config.retry_base_s, config.retry.cap_s)
        self.latency = LatencyWindow(clock=runtime.clock)
        self._coalescer: Coalescer[CentralCall, CentralAnswer] | None = (
            Coalescer(self._send_batch, config.batch_size, config.batch_wait_s)
            if config.batch_size > 1
            else None
        )
        self.attempts = 0

    def available(self) -> tuple[bool, float]:
        """False while the breaker is open, with the seconds until a probe may go."""
        if self.breaker.state is BreakerState.OPEN:
            wait = self.breaker.retry_after_s()
            return wait <= 0, wait
        return True, 0.0

    def describe(self) -> dict[str, Any]:
        """Redacted settings and live state."""
        caps, state = self.adapter.capabilities, self.breaker.state.value
        return {**self.provider.describe(), "breaker": state, "tasks": sorted(caps.tasks)} | {
            "image_input": caps.image_input,
            "image_output": caps.image_output,
            "latency_ms": self.latency.summary_ms(),
            "quota": self._quota.describe(),
        }

    async def call(self, call: CentralCall, last: bool = True) -> CentralAnswer:
        """Answer a call: split what the protocol cannot batch, coalesce what it can."""
        started = self._rt.clock()
        if len(call.inputs) > 1 and not self.adapter.carries_batch(call):
            answer = await self._split(call, last)
        elif (
            self._coalescer is not None
            and len(call.inputs) == 1
            and self.adapter.carries_batch(call)
        ):
            try:
                async with asyncio.timeout(self._remaining(call)):  # batches may outlive it
                    answer = await self._coalescer.submit((call.batch_key(), last), call)
            except TimeoutError:
                raise DeadlineExceeded(f"provider {self.name!r} did not answer in time") from None
        else:
            answer = await self._admitted(call, last)
        self.latency.record(self._rt.clock() - started)
        self._rt.on_answer(self.name, call.task)
        return CentralAnswer(answer.outputs, answer.model, answer.usage, self.name)

    async def _split(self, call: CentralCall, last: bool) -> CentralAnswer:
        """One request per input, joined in order (the first failure fails the call)."""
        answers = await asyncio.gather(*(self._admitted(c, last) for c in singles(call)))
        return join_answers(answers)

    async def _send_batch(
        self, key: Hashable, calls: list[CentralCall]
    ) -> list[CentralAnswer | BaseException]:
        """Send coalesced single-input calls as one request; split the answer per caller."""
        _, last = key  # type: ignore[misc]
        if len(calls) == 1:
            return [await self._admitted(calls[0], last)]
        return split_answer(await self._admitted(merge_calls(calls), last))

    async def _admit(self, call: CentralCall, last: bool = True) -> QuotaPermit:
        """A quota permit, within the deadline; briefly when another provider could serve."""
        remaining = self._remaining(call)
        wait = remaining if last else min(remaining or FAILOVER_QUEUE_WAIT_S, FAILOVER_QUEUE_WAIT_S)
        try:
            async with asyncio.timeout(wait):
                return await self._quota.admit()
        except QuotaExceeded as exc:
            raise TooManyRequests(
                f"the edge's quota for provider {self.name!r} is exhausted",
                "central_quota",
                retry_after_s=exc.retry_after_s,
            ) from None
        except TimeoutError:
            if remaining is not None and remaining <= (wait or 0):
                raise DeadlineExceeded(
                    f"the deadline passed waiting for provider {self.name!r}'s quota"
                ) from None
            self._quota.record_shed()
            raise TooManyRequests(
                f"provider {self.name!r} is at its concurrency limit", "central_quota"
            ) from None

    async def _admitted(self, call: CentralCall, last: bool) -> CentralAnswer:
        permit = await self._admit(call, last)
        try:
            return await self._with_retries(call, self._config.retry.max_attempts if last else 1)
        finally:
            permit.release()

    async def _with_retries(self, call: CentralCall, attempts: int) -> CentralAnswer:
        self._budget.record_request()
        wire = self.adapter.request(call)
        policy = RetryPolicy(attempts, self._config.retry.cap_s, self._config.retry.retry_statuses)
        refreshed = False
        attempt = 0
        error: ApiError | None = None
        while True:
            if not self.breaker.allow():
                raise error or self.breaker_error()  # after a failed attempt, report that one
            attempt += 1
            retry_after: float | None = None
            try:
                status, body, headers = await self._send(wire, call)
            except TransportError as exc:
                remaining = self._remaining(call)
                caller_deadline = remaining is not None and remaining <= 0
                if not (caller_deadline and isinstance(exc, ReadTimedOut)):
                    self.breaker.record_failure()  # a deadline the caller set is not its fault
                self._rt.on_attempt(
                    self.name, "timeout" if isinstance(exc, ReadTimedOut) else "error"
                )
                error = transport_error(self.name, exc)
                if caller_deadline:
                    raise DeadlineExceeded(
                        f"no answer from provider {self.name!r} before the deadline"
                    ) from exc
                if isinstance(exc, BodyTooLarge):
                    raise error from exc
            else:
                self._record(status)
                if status == 200:
                    return await self._parse(body, call)
                if status in (401, 403) and not refreshed and self.adapter.auth_rejected():
                    refreshed = True
                    attempt -= 1  # a credential refresh is not a retry
                    continue
                error = status_error(self.name, status, body, headers, self.provider.secrets())
                if not policy.is_retryable_status(status):
                    raise error
                retry_after = retry_after_of(headers)
            delay = next_delay(attempt, retry_after, policy, self._wait, self._remaining(call))
            if delay is None or not self._budget.try_spend_retry():
                raise error
            await self._rt.sleep(delay)

    async def _send(self, wire: Wire, call: CentralCall) -> tuple[int, bytes, dict[str, str]]:
        """One attempt: status, body (read whole up to the limit) and headers."""
        self.attempts += 1
        async with self.transport.open(self._request(wire, call)) as response:
            body = await response.read(self._config.max_response_bytes)
            return response.status, body, {k.lower(): v for k, v in response.headers.items()}

    async def _parse(self, body: bytes, call: CentralCall) -> CentralAnswer:
        """Parse a 200 (large bodies off the event loop)."""
        if len(body) < OFF_LOOP_PARSE_BYTES:
            return self.adapter.parse(body, call)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, self.adapter.parse, body, call)

    def _request(self, wire: Wire, call: CentralCall) -> Request:
        timeouts = self._config.timeouts
        remaining = self._remaining(call)
        total = (
            timeouts.total_s if remaining is None else min(timeouts.total_s, max(remaining, 0.001))
        )
        return Request(
            "POST",
            self.provider.base_url + wire.path,
            {
                **self.adapter.auth_headers(),
                "Content-Type": wire.content_type,
                "X-Request-Id": call.request_id,
            },
            wire.body,
            Timeouts(timeouts.connect_s, timeouts.read_s, total),
        )

    async def stream(self, call: CentralCall) -> AsyncIterator[dict[str, Any]]:
        """Text pieces then one final event; typed ApiErrors for failures and garbage."""
        permit = await self._admit(call)
        try:
            if not self.breaker.allow():
                raise self.breaker_error()
            request = self._request(self.adapter.stream_request(call), call)
            self.attempts += 1
            try:
                async with self.transport.open(request) as response:
                    if response.status != 200:
                        body = await response.read(self._config.max_response_bytes)
                        self._record(response.status)
                        headers = {k.lower(): v for k, v in response.headers.items()}
                        raise status_error(
                            self.name, response.status, body, headers, self.provider.secrets()
                        )
                    self._record(200)
                    kind = response.headers.get("Content-Type", "")
                    if "text/event-stream" not in kind:  # a provider that ignored `stream`
                        body = await response.read(self._config.max_response_bytes)
                        for event in whole_answer(self.adapter.parse(body, call), self.name):
                            yield event
                        return
                    lines = response.lines(self._config.max_stream_line_bytes)
                    async for event in stream_events(lines, self.adapter.event, self.name):
                        yield event
            except TransportError as exc:
                if isinstance(exc, ConnectFailed | ReadTimedOut):
                    self.breaker.record_failure()
                raise transport_error(self.name, exc) from exc
        finally:
            permit.release()

    def _record(self, status: int) -> None:
        """Feed the breaker: 5xx fail; anything else (4xx, 429 included) is a live provider."""
        if status >= 500:
            self.breaker.record_failure()
            self._rt.on_attempt(self.name, f"{status // 100}xx")
        else:
            self.breaker.record_success()
            self._rt.on_attempt(self.name, "ok" if status < 400 else str(status))

    def breaker_error(self) -> Unavailable:
        """The error while this provider's circuit is open."""
        return Unavailable(
            f"provider {self.name!r} is failing; circuit open",
            "circuit_open",
            retry_after_s=max(self.breaker.retry_after_s(), 1.0),
        )

    def _remaining(self, call: CentralCall) -> float | None:
        return None if call.deadline is None else call.deadline - self._rt.clock()

    async def close(self) -> None:
        """Cancel batches in flight."""
        if self._coalescer is not None:
            await self._coalescer.close()
