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

The manager owns two parts: the queue state
(:class:`~asyncexp.aio.odp.event_queue.PendingEvents`) and the sender task that
drains it (:class:`~asyncexp.aio.odp.event_sender.EventSender`: batching,
sending, settling ``flush`` waiters).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any

from asyncexp.aio.collectors.base import DROP_QUEUE_FULL, CollectorStats
from asyncexp.aio.collectors.pipeline import WaitFn, wait_event
from asyncexp.aio.http import HttpTransport, RetryPolicy
from asyncexp.aio.odp.cache import check_limit
from asyncexp.aio.odp.event_queue import Entry, PendingEvents
from asyncexp.aio.odp.event_sender import EventSender
from asyncexp.aio.odp.messages import ODP_EVENT_FAILED, ODP_NOT_INTEGRATED, ThrottledLog
from asyncexp.errors import ClientClosedError, ConfigError

__all__ = ["DEFAULT_EVENT_RETRY", "DROP_NOT_INTEGRATED", "OdpEventManager", "WaitFn", "wait_event"]

DROP_NOT_INTEGRATED = "not_integrated"
"""The datafile (or the overrides) gave no ODP host and public key."""
DEFAULT_EVENT_RETRY = RetryPolicy(max_retries=3, base_delay=0.2, max_delay=1.0)


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
        self._batch_size = 1 if flush_interval == 0 else batch_size
        self._queue_size = queue_size
        self._close_timeout = float(close_timeout)
        self._clock = clock
        self._log = log or ThrottledLog(clock)
        self._pending = PendingEvents()
        self._sender = EventSender(
            self._pending,
            transport_getter,
            batch_size=self._batch_size,
            flush_interval=float(flush_interval),
            request_timeout=request_timeout,
            retry_policy=retry_policy,
            clock=clock,
            wait=wait,
            sleep=sleep,
            jitter=jitter,
            log=self._log,
        )
        self._closing: asyncio.Future[None] | None = None

    # -- public API -----------------------------------------------------------------
    @property
    def stats(self) -> CollectorStats:
        return self._pending.stats

    @property
    def closed(self) -> bool:
        return self._closing is not None

    def update_config(self, host: str | None, api_key: str | None) -> None:
        """Send later events to ``host`` with ``api_key``; None for either stops intake."""
        new = (host.rstrip("/") + "/v3/events", api_key) if host and api_key else None
        pending = self._pending
        if new != pending.destination:
            pending.destination = new
            if pending.entries:
                pending.wakeup.set()  # the old destination's events are due now

    def submit(self, event: dict[str, Any]) -> None:
        """Queue one built event; never awaits. Drops (and counts) when it cannot be sent."""
        if self._closing is not None:
            raise ClientClosedError("the ODP event manager is closed")
        pending = self._pending
        stats = pending.stats
        if pending.destination is None:
            stats.drop(DROP_NOT_INTEGRATED)
            self._log.log(logging.ERROR, "event:not_integrated", ODP_NOT_INTEGRATED)
            return
        if stats.queued >= self._queue_size:
            stats.drop(DROP_QUEUE_FULL)
            self._log.log(
                logging.WARNING, "event:queue_full", ODP_EVENT_FAILED.format("Queue is full")
            )
            return
        url, api_key = pending.destination
        pending.entries.append(Entry(pending.seq, self._clock(), url, api_key, event))
        pending.seq += 1
        stats.produced += 1
        stats.queued += 1
        if len(pending.entries) == 1 or len(pending.entries) >= self._batch_size:
            pending.wakeup.set()

    async def start(self) -> None:
        """Start the sender task; idempotent. Raises ``ClientClosedError`` after close."""
        if self._closing is not None:
            raise ClientClosedError("the ODP event manager is closed")
        self._sender.ensure_running()

    async def flush(self) -> None:
        """Return once every event submitted so far is delivered or dropped."""
        pending = self._pending
        target = pending.seq
        if pending.settled >= target:
            return
        pending.flush_upto = max(pending.flush_upto, target)
        future = asyncio.get_running_loop().create_future()
        pending.waiters.append((target, future))
        self._sender.ensure_running()
        pending.wakeup.set()
        await future

    async def aclose(self, timeout: float | None = None) -> None:
        """Stop intake, send what is queued within ``timeout`` seconds (default
        ``close_timeout``), count the rest as ``shutdown_timeout``; idempotent."""
        if self._closing is not None:
            await asyncio.wait([self._closing])
            return
        self._closing = asyncio.get_running_loop().create_future()
        self._pending.closing = True
        try:
            await self._sender.close(self._close_timeout if timeout is None else timeout)
        finally:
            self._closing.set_result(None)
