"""The queue machinery shared by every collector.

Shape (after aiokafka's producer: an accumulator, one dispatcher task, ordered
idempotent shutdown):

* ``submit`` appends the item to its *lane* (one lane per destination: the
  Analysys endpoint, or one Optimizely endpoint and ``batch_key``, so a batch
  never mixes revisions or projects; a lane is a queue of request-sized chunks,
  see :mod:`.lanes`) and wakes the dispatcher only when there is something new
  to decide. It never awaits.
* Queue full (``max_queue_size`` items waiting): the **new** item is dropped and
  counted as ``queue_full``; one warning per ``log_interval`` says how many.
* The dispatcher task starts a send task for a lane when ``batch_size`` items
  wait (then every whole batch waiting goes), the oldest waited
  ``max_interval`` seconds, an urgent item (``$alias``) is queued, or a
  flush/close asks for everything; at most ``max_request_size`` items per send
  and ``max_concurrency`` sends at once.
* ``flush`` waits until every item with a sequence number below the one current
  at the call is settled (delivered or dropped).
* ``aclose``: stop intake (``submit`` raises ``ClientClosedError``), drain every
  lane, wait for the sends, then release resources (files, an owned transport);
  what is still queued or in flight at the deadline is cancelled and counted as
  ``shutdown_timeout``. A second ``aclose`` waits for the first.
* A dispatcher that crashes is logged, counted (``stats.crashes``) and
  restarted; after ``MAX_RESTARTS`` crashes in a row it is given up, queued items
  are counted as ``collector_failed`` and ``flush``/``aclose`` raise ``DeliveryError``.

Time is injected: ``clock`` (monotonic seconds) and ``wait(event, timeout)``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from asyncexp.aio.collectors.base import (
    DROP_COLLECTOR_FAILED,
    DROP_QUEUE_FULL,
    CollectorStats,
)
from asyncexp.aio.collectors.dispatch import Dispatcher
from asyncexp.aio.collectors.lanes import Chunk, Lane, LaneKey, SendInfo
from asyncexp.aio.http import HttpTransport
from asyncexp.core.flags.events import UserEvent
from asyncexp.errors import ClientClosedError, ConfigError, DeliveryError

__all__ = ["Clock", "LaneKey", "QueueCollector", "WaitFn", "wait_event"]

logger = logging.getLogger("asyncexp.aio.collectors")

Clock = Callable[[], float]
WaitFn = Callable[[asyncio.Event, "float | None"], Awaitable[None]]
"""``wait(event, seconds)``: return once ``event`` is set or ``seconds`` passed; returning
earlier is allowed (the dispatcher re-checks the time and waits again)."""
_NEW, _RUNNING, _CLOSING, _CLOSED = range(4)


async def wait_event(event: asyncio.Event, seconds: float | None) -> None:
    """Return when ``event`` is set or ``seconds`` passed (``None``: no limit)."""
    if seconds is None:
        await event.wait()
        return
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(event.wait(), seconds)


def _positive(name: str, value: float, *, integer: bool = False) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
        raise ConfigError(f"{name}: must be a number >= 0, got {value!r}")
    if integer and (not isinstance(value, int) or value < 1):
        raise ConfigError(f"{name}: must be an int >= 1, got {value!r}")


class QueueCollector(Dispatcher):
    """Base of every collector; subclasses give ``_lane_of`` and ``_deliver``."""

    def __init__(
        self,
        *,
        batch_size: int,
        max_request_size: int,
        max_interval: float,
        max_queue_size: int,
        max_concurrency: int,
        close_timeout: float = 10.0,
        clock: Clock = time.monotonic,
        wait: WaitFn = wait_event,
        log_interval: float = 10.0,
    ) -> None:
        for name, value in (
            ("batch_size", batch_size),
            ("max_request_size", max_request_size),
            ("max_queue_size", max_queue_size),
            ("max_concurrency", max_concurrency),
        ):
            _positive(name, value, integer=True)
        _positive("max_interval", max_interval)
        _positive("close_timeout", close_timeout)
        self._batch_size = batch_size
        self._max_request = max_request_size
        self._max_interval = float(max_interval)
        self._max_queue = max_queue_size
        self._max_concurrency = max_concurrency
        self._close_timeout = float(close_timeout)
        self._clock = clock
        self._wait = wait
        self._log_interval = log_interval
        self._stats = CollectorStats()
        self._lanes: dict[LaneKey, Lane] = {}
        self._urgent: dict[LaneKey, int] = {}
        self._seq = 0
        self._state = _NEW
        self._wakeup = asyncio.Event()
        self._runner: asyncio.Task[None] | None = None
        self._sends: dict[asyncio.Task[None], SendInfo] = {}
        self._abandoning = False
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._failure: BaseException | None = None
        self._closing: asyncio.Future[None] | None = None
        self._transport: HttpTransport | None = None
        self._owns_transport = False
        self._full_since_log = 0
        self._full_logged_at: float | None = None
        # set by subclasses: the lane of every Analysys record (None: ask _lane_of),
        # and whether a queued $alias makes its lane due at once
        self._record_lane: LaneKey | None = None
        self._alias_is_urgent = False

    # -- subclass hooks -------------------------------------------------------------
    def _lane_of(self, item: Any) -> LaneKey:
        raise NotImplementedError

    async def _deliver(self, lane: LaneKey, items: list[Any]) -> None:
        """Send ``items``; count every one as delivered or dropped in ``self._stats``."""
        raise NotImplementedError

    async def _release(self) -> None:
        """Close what the subclass holds open (after the last delivery)."""

    async def _spill(self, lane: LaneKey, items: list[Any]) -> int:
        """Keep items the close deadline cut off (the disk spool); returns how many were kept."""
        return 0

    def _needs_transport(self) -> bool:
        return True

    def _on_start(self) -> None:
        """Start the subclass's own tasks (with the dispatcher)."""

    # -- public API ---------------------------------------------------------------------
    @property
    def stats(self) -> CollectorStats:
        return self._stats

    @property
    def closed(self) -> bool:
        return self._state >= _CLOSING

    def submit(self, item: UserEvent | dict[str, Any]) -> None:
        if self._state >= _CLOSING:
            raise ClientClosedError("the collector is closed")
        is_record = type(item) is dict
        lane_key = self._record_lane if is_record else None
        if lane_key is None:
            lane_key = self._lane_of(item)  # raises for an item of the wrong type
        stats = self._stats
        stats.produced += 1
        if stats.queued >= self._max_queue or self._failure is not None:
            self._refuse()
            return
        lane = self._lanes.get(lane_key)
        if lane is None:
            lane = self._lanes[lane_key] = Lane()
        seq = self._seq
        self._seq = seq + 1
        # inline rather than a Lane method: this runs once per event on the caller's stack
        chunks = lane.chunks
        if chunks and len(tail := chunks[-1].items) < self._max_request:
            tail.append(item)
        else:
            chunks.append(Chunk(seq, self._clock(), item))
        count = lane.count = lane.count + 1
        stats.queued += 1
        if is_record and self._alias_is_urgent and item.get("xwhat") == "$alias":  # type: ignore[union-attr]
            self._urgent[lane_key] = seq
            self._wakeup.set()
        elif count == 1 or count == self._batch_size:
            # the dispatcher re-checks every lane when it wakes: one signal per batch is enough
            self._wakeup.set()

    async def start(self, transport: HttpTransport | None = None) -> None:
        if self._state >= _CLOSING:
            raise ClientClosedError("the collector is closed")
        self._ensure_started(transport)

    def _ensure_started(self, transport: HttpTransport | None = None) -> None:
        if self._transport is None and self._needs_transport():
            if transport is None:
                transport, self._owns_transport = HttpTransport(), True
            self._transport = transport
        if self._runner is None:
            if self._state == _NEW:
                self._state = _RUNNING
            self._runner = asyncio.get_running_loop().create_task(
                self._supervise(), name=f"asyncexp-{type(self).__name__}"
            )
            self._on_start()

    async def flush(self) -> None:
        if self._state >= _CLOSING:
            raise ClientClosedError("the collector is closed")
        self._ensure_started()
        await self._wait_settled(self._seq)

    async def aclose(self, timeout: float | None = None) -> None:
        if self._closing is None:
            self._closing = asyncio.get_running_loop().create_future()
            try:
                await self._close(self._close_timeout if timeout is None else timeout)
            except asyncio.CancelledError:
                self._closing.cancel()
                raise
            except Exception as exc:
                self._closing.set_exception(exc)
                self._closing.exception()  # retrieved here; raised to this caller below
                raise
            self._closing.set_result(None)
        else:  # a later close waits for the first one and is otherwise a no-op
            await asyncio.wait([self._closing])

    # -- machinery -----------------------------------------------------------------------
    def _refuse(self) -> None:
        if self._failure is not None:
            self._stats.drop(DROP_COLLECTOR_FAILED)
            return
        self._stats.drop(DROP_QUEUE_FULL)
        self._full_since_log += 1
        now = self._clock()
        last = self._full_logged_at
        if last is None or now - last >= self._log_interval:
            logger.warning(
                "%s queue is full (%d items): dropped %d new item(s) since the last report",
                type(self).__name__,
                self._max_queue,
                self._full_since_log,
            )
            self._full_logged_at = now
            self._full_since_log = 0

    async def _close(self, deadline: float) -> None:
        if self._state < _CLOSING:
            self._state = _CLOSING
        if self._runner is None and self._lanes and self._failure is None:
            self._ensure_started()
        runner = self._runner
        try:
            if runner is not None and not runner.done():
                self._wakeup.set()
                try:
                    await asyncio.wait_for(asyncio.shield(runner), deadline)
                except TimeoutError:
                    await self._abandon(runner)
            await self._release()
        finally:
            if self._owns_transport and self._transport is not None:
                await self._transport.aclose()
            self._state = _CLOSED
            self._notify_waiters()
        if self._failure is not None:
            raise DeliveryError("the collector's sender failed") from self._failure
