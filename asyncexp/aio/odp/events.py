"""The ODP event queue: batched ``POST {host}/v3/events``, one sender task, drained at close.

Rules (reference §7.3 where it has one; the departures say so):

* ``submit`` is a plain call that never awaits. Each event is stamped with the
  destination (host and public key) current when it is queued, so events
  queued before a config change still go where they were meant to (the
  reference flushes its pending batch with the old settings for the same
  reason). A destination change makes the events of the old one due at once.
* Nothing is lost silently: every event ends as ``delivered`` or
  ``dropped[reason]`` in :attr:`OdpEventManager.stats`, with a throttled log
  line. Reasons: ``not_integrated`` (no host/key), ``queue_full`` (``queue_size``
  events already wait; the *new* event is dropped, as the reference does),
  ``rejected`` (a 4xx other than 429), ``retries_exhausted``,
  ``shutdown_timeout`` (still queued or in flight at the close deadline) and
  ``internal_error`` (a bug: a sender task that dies is logged, counted in
  ``stats.crashes``, its queue dropped, and a new one started by the next
  ``start``/``flush``/``aclose``). After close, ``submit`` raises ``ClientClosedError``.
* A batch is sent when ``batch_size`` events wait (default 10), when the oldest
  waited ``flush_interval`` seconds (default 1; 0 sends each event alone), on
  ``flush()`` and at close. One request at a time, oldest first.
* Body: a JSON array of events, ``json.dumps`` spacing; headers
  ``content-type: application/json`` and ``x-api-key``; timeout 10 s.
* Retries: network errors, timeouts and 5xx are retried up to 3 times with
  backoff ``0.2 * 2**n`` seconds capped at 1 s (the reference's figures), with
  equal jitter (the delay lies between half that and that). 429 is retried too,
  honouring ``Retry-After`` (the reference treats it as a final 4xx).
* ``aclose`` stops intake, sends what is queued within the deadline, then counts
  the rest as ``shutdown_timeout``; a second ``aclose`` waits for the first.

Time is injected: ``clock`` (monotonic seconds), ``wait(event, seconds)``,
``sleep`` (between retries) and ``jitter``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, NamedTuple

from asyncexp.aio.collectors.base import (
    DROP_INTERNAL_ERROR,
    DROP_QUEUE_FULL,
    DROP_REJECTED,
    DROP_RETRIES_EXHAUSTED,
    DROP_SHUTDOWN_TIMEOUT,
    CollectorStats,
)
from asyncexp.aio.collectors.pipeline import WaitFn, wait_event
from asyncexp.aio.http import (
    Attempt,
    HttpTransport,
    RetryPolicy,
    TransportError,
    attempt_from_status,
    call_with_retries,
)
from asyncexp.aio.odp.cache import check_limit
from asyncexp.aio.odp.messages import ODP_EVENT_FAILED, ODP_NOT_INTEGRATED, ThrottledLog, logger
from asyncexp.errors import AsyncExpError, ClientClosedError, ConfigError

__all__ = ["DEFAULT_EVENT_RETRY", "DROP_NOT_INTEGRATED", "OdpEventManager", "WaitFn", "wait_event"]

DROP_NOT_INTEGRATED = "not_integrated"
"""The datafile (or the overrides) gave no ODP host and public key."""
DEFAULT_EVENT_RETRY = RetryPolicy(max_retries=3, base_delay=0.2, max_delay=1.0)

_DROP_REASONS = {DROP_INTERNAL_ERROR: DROP_INTERNAL_ERROR, "closed": DROP_SHUTDOWN_TIMEOUT}


class _Entry(NamedTuple):
    seq: int
    queued_at: float
    url: str
    api_key: str
    event: dict[str, Any]


class OdpEventManager:
    """Queue of ODP events with one sender task; see the module docstring."""

    def __init__(
        self,
        transport_getter: Callable[[], HttpTransport],
        *,
        batch_size: int = 10,
        flush_interval: float = 1.0,
        queue_size: int = 1000,
        request_timeout: float = 10.0,
        close_timeout: float = 10.0,
        retry_policy: RetryPolicy = DEFAULT_EVENT_RETRY,
        clock: Callable[[], float] = time.monotonic,
        wait: WaitFn = wait_event,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        jitter: Callable[[], float] = random.random,
        log: ThrottledLog | None = None,
    ) -> None:
        for name, value in (("event_batch_size", batch_size), ("event_queue_size", queue_size)):
            check_limit(name, value, integer=True)
            if value < 1:
                raise ConfigError(f"{name}: must be an int >= 1, got {value!r}")
        check_limit("event_flush_interval", flush_interval)
        check_limit("close_timeout", close_timeout)
        self._transport_getter = transport_getter
        self._batch_size = 1 if flush_interval == 0 else batch_size
        self._interval = float(flush_interval)
        self._queue_size = queue_size
        self._request_timeout = request_timeout
        self._close_timeout = float(close_timeout)
        self._policy = retry_policy
        self._clock = clock
        self._wait = wait
        self._sleep = sleep
        self._jitter = jitter
        self._log = log or ThrottledLog(clock)
        self._stats = CollectorStats()
        self._queue: deque[_Entry] = deque()
        self._destination: tuple[str, str] | None = None
        self._seq = 0
        self._settled = 0  # every seq below this is delivered or dropped
        self._flush_upto = 0
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._wakeup = asyncio.Event()
        self._runner: asyncio.Task[None] | None = None
        self._closing: asyncio.Future[None] | None = None

    # -- public API -----------------------------------------------------------------
    @property
    def stats(self) -> CollectorStats:
        return self._stats

    @property
    def closed(self) -> bool:
        return self._closing is not None

    def update_config(self, host: str | None, api_key: str | None) -> None:
        """Send later events to ``host`` with ``api_key``; None for either stops intake."""
        new = (host.rstrip("/") + "/v3/events", api_key) if host and api_key else None
        if new != self._destination:
            self._destination = new
            if self._queue:
                self._wakeup.set()  # the old destination's events are due now

    def submit(self, event: dict[str, Any]) -> None:
        """Queue one built event; never awaits. Drops (and counts) when it cannot be sent."""
        if self._closing is not None:
            raise ClientClosedError("the ODP event manager is closed")
        stats = self._stats
        if self._destination is None:
            stats.drop(DROP_NOT_INTEGRATED)
            self._log.log(logging.ERROR, "event:not_integrated", ODP_NOT_INTEGRATED)
            return
        if stats.queued >= self._queue_size:
            stats.drop(DROP_QUEUE_FULL)
            self._log.log(
                logging.WARNING, "event:queue_full", ODP_EVENT_FAILED.format("Queue is full")
            )
            return
        url, api_key = self._destination
        self._queue.append(_Entry(self._seq, self._clock(), url, api_key, event))
        self._seq += 1
        stats.produced += 1
        stats.queued += 1
        if len(self._queue) == 1 or len(self._queue) >= self._batch_size:
            self._wakeup.set()

    async def start(self) -> None:
        """Start the sender task; idempotent. Raises ``ClientClosedError`` after close."""
        if self._closing is not None:
            raise ClientClosedError("the ODP event manager is closed")
        self._ensure_runner()

    async def flush(self) -> None:
        """Return once every event submitted so far is delivered or dropped."""
        target = self._seq
        if self._settled >= target:
            return
        self._flush_upto = max(self._flush_upto, target)
        future = asyncio.get_running_loop().create_future()
        self._waiters.append((target, future))
        self._ensure_runner()
        self._wakeup.set()
        await future

    async def aclose(self, timeout: float | None = None) -> None:
        """Stop intake, send what is queued within ``timeout`` seconds (default
        ``close_timeout``), count the rest as ``shutdown_timeout``; idempotent."""
        if self._closing is not None:
            await asyncio.wait([self._closing])
            return
        self._closing = asyncio.get_running_loop().create_future()
        try:
            await self._close(self._close_timeout if timeout is None else timeout)
        finally:
            self._closing.set_result(None)

    # -- machinery ------------------------------------------------------------------
    def _ensure_runner(self) -> None:
        if self._runner is None:
            self._runner = asyncio.get_running_loop().create_task(
                self._run(), name="asyncexp-odp-events"
            )
            self._runner.add_done_callback(self._runner_done)

    def _runner_done(self, task: asyncio.Task[None]) -> None:
        """A sender that died of a bug: count what it held, free the waiters, allow a restart."""
        if task.cancelled() or task.exception() is None:
            return
        exc = task.exception()
        self._stats.crashes += 1
        self._stats.last_error = f"{type(exc).__name__}: {exc}"
        logger.error(ODP_EVENT_FAILED.format("internal error"), exc_info=exc)
        self._runner = None
        self._drop_queued(DROP_INTERNAL_ERROR)
        self._settled = self._seq
        self._release_waiters()

    def _drop_queued(self, reason: str) -> int:
        count = len(self._queue)
        if count:
            self._stats.drop(reason, count)
            self._stats.queued -= count
            self._queue.clear()
        return count

    async def _close(self, timeout: float) -> None:
        if self._queue:
            self._ensure_runner()
        self._wakeup.set()
        runner = self._runner
        if runner is not None:
            try:
                await asyncio.wait_for(asyncio.shield(runner), timeout)
            except TimeoutError:
                runner.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await runner
            except Exception:  # the sender died of a bug; _runner_done counted it
                pass
        count = self._drop_queued(DROP_SHUTDOWN_TIMEOUT)
        if count:
            logger.warning(ODP_EVENT_FAILED.format(f"{count} event(s) left at the close deadline"))
        self._settled = self._seq
        self._release_waiters()

    def _due_in(self) -> float:
        """Seconds until the front batch is due (0: now)."""
        first = self._queue[0]
        if (
            self._closing is not None
            or first.seq < self._flush_upto
            or len(self._queue) >= self._batch_size
            or (first.url, first.api_key) != self._destination
        ):
            return 0.0
        return max(0.0, first.queued_at + self._interval - self._clock())

    async def _run(self) -> None:
        while True:
            if not self._queue:
                if self._closing is not None:
                    return
                self._wakeup.clear()
                await self._wait(self._wakeup, None)
                continue
            due = self._due_in()
            if due > 0:
                self._wakeup.clear()
                await self._wait(self._wakeup, due)
                continue
            await self._send_batch(self._take_batch())

    def _take_batch(self) -> list[_Entry]:
        first = self._queue.popleft()
        batch = [first]
        while (
            self._queue
            and len(batch) < self._batch_size
            and self._queue[0].url == first.url
            and self._queue[0].api_key == first.api_key
        ):
            batch.append(self._queue.popleft())
        count = len(batch)
        self._stats.queued -= count
        self._stats.in_flight += count
        return batch

    async def _send_batch(self, batch: list[_Entry]) -> None:
        stats, count = self._stats, len(batch)
        url, api_key = batch[0].url, batch[0].api_key
        outcome: Attempt | None = None
        try:
            body = json.dumps([entry.event for entry in batch]).encode()
            headers = {"content-type": "application/json", "x-api-key": api_key}

            async def attempt() -> Attempt:
                stats.requests += 1
                try:
                    response = await self._transport_getter().post(
                        url, body, headers=headers, timeout=self._request_timeout
                    )
                except TransportError as exc:
                    stats.failed_requests += 1
                    return Attempt(False, True, "network", None, f"network error: {exc}")
                except AsyncExpError as exc:  # the transport is closed
                    stats.failed_requests += 1
                    return Attempt(False, False, "closed", None, str(exc))
                result = attempt_from_status(response)
                if not result.ok:
                    stats.failed_requests += 1
                return result

            def on_retry(failed: Attempt, delay: float) -> None:
                stats.retried += 1
                logger.debug("ODP events to %s: %s; retrying in %.2fs", url, failed.detail, delay)

            outcome = await call_with_retries(
                attempt, self._policy, sleep=self._sleep, jitter=self._jitter, on_retry=on_retry
            )
        except Exception as exc:  # a bug must not kill the sender
            stats.last_error = f"{type(exc).__name__}: {exc}"
            logger.exception(ODP_EVENT_FAILED.format("internal error"))
            outcome = Attempt(False, False, DROP_INTERNAL_ERROR, None, stats.last_error)
        finally:
            stats.in_flight -= count
            if outcome is None:  # cancelled at the close deadline
                stats.drop(DROP_SHUTDOWN_TIMEOUT, count)
            elif outcome.ok:
                stats.delivered += count
            else:
                reason = _DROP_REASONS.get(outcome.reason)
                if reason is None:
                    reason = DROP_RETRIES_EXHAUSTED if outcome.retryable else DROP_REJECTED
                if reason != DROP_INTERNAL_ERROR:
                    stats.last_error = outcome.detail
                    message = ODP_EVENT_FAILED.format(outcome.detail)
                    self._log.log(logging.ERROR, "event:" + reason, message)
                stats.drop(reason, count)
            self._settled = batch[-1].seq + 1
            self._release_waiters()

    def _release_waiters(self) -> None:
        if not self._waiters:
            return
        keep: list[tuple[int, asyncio.Future[None]]] = []
        for target, future in self._waiters:
            if target <= self._settled:
                if not future.done():
                    future.set_result(None)
            else:
                keep.append((target, future))
        self._waiters = keep
