"""The queue machinery shared by every collector.

Shape (after aiokafka's producer): the collector owns an accumulator
(:class:`~.lanes.Accumulator`), a delivery (:mod:`.delivery`: HTTP or log
files) and one sender (:class:`~.dispatch.Sender`); each is an object with its
own state.

* ``submit`` appends the item to its *lane* (one lane per destination: the
  Analysys endpoint, or one Optimizely endpoint and ``batch_key``; a lane is a
  queue of request-sized chunks, see :mod:`.lanes`) and wakes the sender only
  when there is something new to decide. It never awaits.
* **Memory budget** (``memory_budget_mib``, default 8 MiB): counted in encoded
  bytes (the JSON each item becomes, measured on every batch encoded; Python
  holds a queued record in roughly 2-4 times that). When the queue holds the
  budget, ``submit`` fills an overflow chunk instead and, each time it holds a
  request (``max_request_size`` items), writes it to disk on the spot (the
  spool of an HTTP collector, the log file of a ``LogCollector``): see
  :mod:`.spool_writer` for why that one small synchronous write is the right
  trade. Only with the spool turned off is an item dropped here
  (``queue_full``).
* The sender starts a send for a lane when ``batch_size`` items wait, the
  oldest waited ``max_interval`` seconds, an urgent item (``$alias``) is
  queued, a flush/close asks for everything, or the delivery is diverting
  (outage mode); at most ``max_request_size`` items per send and
  ``max_concurrency`` sends at once.
* ``flush`` waits until every item with a sequence number below the one current
  at the call is settled (delivered, spooled or dropped).
* ``wait_for_room`` is the backpressure for producers that can wait: it
  returns at once while the queue is below its high-water mark (3/4 of the
  budget) and the spool is not backlogged, else when that is true again.
* ``aclose``: stop intake (``submit`` raises ``ClientClosedError``), drain every
  lane within ``close_timeout``; past the deadline, **or when the close is
  cancelled**, every send stops at its next step and spools what it holds, and
  what is still queued is spooled too, before ``aclose`` returns or re-raises
  (the close runs in its own task, which the caller's cancellation does not
  reach). When the lanes drained in time and the destination is healthy (not
  in outage mode), the rest of the deadline re-sends what this run spooled
  (overflow chunks, diverted or failed batches), oldest first; what misses the
  deadline stays spooled, durable, and is re-sent at the next start. A second
  ``aclose`` waits for the first. Then resources are released and one INFO
  line sums up produced / delivered / spooled / replayed / dropped by reason.
* Drops are counted by reason and reported in one WARNING per ``log_interval``
  with the counts of that interval (and at close for the last interval).
* A sender that crashes is logged, counted (``stats.crashes``) and restarted;
  after ``MAX_RESTARTS`` crashes in a row it is given up, queued items are
  counted as ``collector_failed`` and ``flush``/``aclose`` raise ``DeliveryError``.

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
from asyncexp.aio.collectors.delivery import Delivery
from asyncexp.aio.collectors.dispatch import Sender, SenderSettings
from asyncexp.aio.collectors.lanes import Accumulator, Chunk, Lane, LaneKey
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
DEFAULT_MEMORY_BUDGET_MIB = 8.0


async def wait_event(event: asyncio.Event, seconds: float | None) -> None:
    """Return when ``event`` is set or ``seconds`` passed (``None``: no limit)."""
    if seconds is None:
        await event.wait()
        return
    if event.is_set():
        return
    # asyncio.timeout, not wait_for: on Python 3.11 wait_for swallows a cancellation
    # that arrives as the event is set, and a task stopped at close would run on
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await event.wait()


def _positive(name: str, value: float, *, integer: bool = False) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
        raise ConfigError(f"{name}: must be a number >= 0, got {value!r}")
    if integer and (not isinstance(value, int) or value < 1):
        raise ConfigError(f"{name}: must be an int >= 1, got {value!r}")


class QueueCollector:
    """Base of every collector; subclasses give ``_lane_of`` and a delivery (``_delivery``)."""

    _delivery: Delivery

    def __init__(
        self,
        *,
        batch_size: int,
        max_request_size: int,
        max_interval: float,
        max_concurrency: int,
        memory_budget_mib: float = DEFAULT_MEMORY_BUDGET_MIB,
        max_queue_size: int | None = None,
        close_timeout: float = 10.0,
        clock: Clock = time.monotonic,
        wait: WaitFn = wait_event,
        log_interval: float = 10.0,
    ) -> None:
        for name, value in (
            ("batch_size", batch_size),
            ("max_request_size", max_request_size),
            ("max_concurrency", max_concurrency),
        ):
            _positive(name, value, integer=True)
        if max_queue_size is not None:
            _positive("max_queue_size", max_queue_size, integer=True)
        _positive("max_interval", max_interval)
        _positive("close_timeout", close_timeout)
        _positive("memory_budget_mib", memory_budget_mib)
        self._max_request = max_request_size
        self._close_timeout = float(close_timeout)
        self._clock = clock
        self._log_interval = log_interval
        self._stats = CollectorStats()
        self._acc = Accumulator(
            int(memory_budget_mib * (1 << 20)), max_queue_size, floor=2 * max_request_size
        )
        self._settings = SenderSettings(
            batch_size, float(max_interval), max_concurrency, max_request_size
        )
        self._wait = wait
        self._sender: Sender | None = None
        self._state = _NEW
        self._close_task: asyncio.Task[None] | None = None
        self._abandon_now = asyncio.Event()
        self._transport: HttpTransport | None = None
        self._owns_transport = False
        self._reported: dict[str, int] = {}
        self._reported_at: float | None = None
        # set by subclasses: the lane of every Analysys record (None: ask _lane_of),
        # and whether a queued $alias makes its lane due at once
        self._record_lane: LaneKey | None = None
        self._alias_is_urgent = False
        self._has_disk = True  # False: nowhere to overflow to, a full queue drops (queue_full)

    def _make_sender(self) -> Sender:
        return Sender(
            self._acc,
            self._delivery,
            self._stats,
            self._settings,
            clock=self._clock,
            wait=self._wait,
            name=type(self).__name__,
            on_tick=self._report_drops,
        )

    # -- subclass hooks -------------------------------------------------------------
    def _lane_of(self, item: Any) -> LaneKey:
        raise NotImplementedError

    def _needs_transport(self) -> bool:
        return True

    # -- public API ---------------------------------------------------------------------
    @property
    def stats(self) -> CollectorStats:
        return self._stats

    @property
    def closed(self) -> bool:
        return self._state >= _CLOSING

    @property
    def memory_limit(self) -> int:
        """Items the memory budget holds now (from the measured encoded size per item)."""
        return self._acc.limit

    def submit(self, item: UserEvent | dict[str, Any]) -> None:
        if self._state >= _CLOSING:
            raise ClientClosedError("the collector is closed")
        is_record = type(item) is dict
        lane_key = self._record_lane if is_record else None
        if lane_key is None:
            lane_key = self._lane_of(item)  # raises for an item of the wrong type
        stats = self._stats
        stats.produced += 1
        acc = self._acc
        seq = acc.seq
        acc.seq = seq + 1
        if stats.queued >= acc.limit:
            self._overflow(lane_key, item, seq)
            return
        lane = acc.lanes.get(lane_key)
        if lane is None:
            lane = acc.lanes[lane_key] = Lane()
        # inline rather than a Lane method: this runs once per event on the caller's stack
        chunks = lane.chunks
        if chunks and len(tail := chunks[-1].items) < self._max_request:
            tail.append(item)
            full = False
        else:
            full = bool(chunks)  # the previous chunk is a whole request now
            chunks.append(Chunk(seq, self._clock(), item))
        count = lane.count = lane.count + 1
        stats.queued += 1
        if is_record and self._alias_is_urgent and item.get("xwhat") == "$alias":  # type: ignore[union-attr]
            acc.urgent[lane_key] = seq
            self._wake()
        elif count == 1 or count == self._settings.batch_size or full:
            # the dispatcher re-checks every lane when it wakes: one signal per batch is
            # enough, and one per full request (what outage mode diverts to the spool)
            self._wake()

    async def wait_for_room(self) -> None:
        """Backpressure: return when the queue is below its high-water mark again.

        Returns at once while the queued items take less than 3/4 of the memory
        budget and the spool is not backlogged (an HTTP collector's spool holds
        less than a quarter of its cap), so calling it after every ``submit``
        of a batch import costs little and keeps memory and disk bounded. Also
        returns when the collector is closing or has failed.
        """
        if self._has_room():
            return
        if self._state >= _CLOSING:
            raise ClientClosedError("the collector is closed")
        self._ensure_started()
        assert self._sender is not None
        await self._sender.wait_for_room(self._has_room)

    async def start(self, transport: HttpTransport | None = None) -> None:
        if self._state >= _CLOSING:
            raise ClientClosedError("the collector is closed")
        self._ensure_started(transport)

    async def flush(self) -> None:
        if self._state >= _CLOSING:
            raise ClientClosedError("the collector is closed")
        self._ensure_started()
        assert self._sender is not None
        await self._sender.wait_settled(self._acc.seq)

    async def aclose(self, timeout: float | None = None) -> None:
        """Drain within ``timeout`` (default ``close_timeout``), spool the rest, release.

        Cancelling the caller (or ``asyncio.wait_for`` around it) does not cut the
        close short of spooling: it makes the close give up waiting for the
        destination at once, spool what is queued and in flight, and only then
        re-raise. A second call waits for the first.
        """
        first = self._close_task is None
        if self._close_task is None:
            deadline = self._close_timeout if timeout is None else timeout
            self._close_task = asyncio.get_running_loop().create_task(
                self._close(deadline), name=f"asyncexp-{type(self).__name__}-close"
            )
        task = self._close_task
        try:
            await asyncio.shield(task)
        except Exception:
            if first:  # the first close reports a failure; later ones only wait for it
                raise
        except asyncio.CancelledError:
            if task.done():
                raise
            self._abandon_now.set()
            while not task.done():  # the close spools everything, then we re-raise
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.shield(task)
            raise

    # -- machinery -----------------------------------------------------------------------
    def _wake(self) -> None:
        sender = self._sender
        if sender is not None:
            sender.wakeup.set()

    def _has_room(self) -> bool:
        return self._stats.queued * 4 < self._acc.limit * 3 and not self._delivery.backlogged()

    def _overflow(self, lane_key: LaneKey, item: Any, seq: int) -> None:
        stats = self._stats
        sender = self._sender
        if sender is not None and sender.failure is not None:
            stats.drop(DROP_COLLECTOR_FAILED)
            return
        if not self._has_disk:
            stats.drop(DROP_QUEUE_FULL)
            self._report_drops()
            return
        acc = self._acc
        chunk = acc.overflow.get(lane_key)
        if chunk is None:
            chunk = acc.overflow[lane_key] = Chunk(seq, 0.0, item)
        else:
            chunk.items.append(item)
        stats.queued += 1
        if len(chunk.items) < self._max_request:
            return
        del acc.overflow[lane_key]
        items = chunk.items
        stats.queued -= len(items)
        stats.overflowed += len(items)
        if not self._delivery.spill_now(lane_key, items):
            stats.drop(DROP_QUEUE_FULL, len(items))
            self._report_drops()
        self._wake()

    def _ensure_started(self, transport: HttpTransport | None = None) -> None:
        if self._transport is None and self._needs_transport():
            if transport is None:
                transport, self._owns_transport = HttpTransport(), True
            self._transport = transport
        if self._sender is None:
            if self._state == _NEW:
                self._state = _RUNNING
            self._sender = self._make_sender()
            self._sender.start()
            self._delivery.start()

    def _report_drops(self, *, final: bool = False) -> None:
        dropped = self._stats.dropped
        if dropped == self._reported:
            return
        now = self._clock()
        last = self._reported_at
        if not final and last is not None and now - last < self._log_interval:
            return
        new = {k: v - self._reported.get(k, 0) for k, v in dropped.items()}
        new = {k: v for k, v in new.items() if v}
        since = "start" if last is None else f"the last report {now - last:.0f}s ago"
        logger.warning(
            "%s dropped %d item(s) since %s (%s); %d in all",
            type(self).__name__,
            sum(new.values()),
            since,
            ", ".join(f"{k}={v}" for k, v in sorted(new.items())),
            self._stats.total_dropped,
        )
        self._reported = dict(dropped)
        self._reported_at = now

    async def _close(self, deadline: float) -> None:
        if self._state < _CLOSING:
            self._state = _CLOSING
        acc = self._acc
        if self._sender is None and (acc.lanes or acc.overflow):
            self._ensure_started()
        sender = self._sender
        loop = asyncio.get_running_loop()
        end = loop.time() + deadline
        try:
            if sender is not None:
                sender.closing = True
                abandoned = False
                if sender.failure is None:
                    drained = asyncio.ensure_future(sender.run_until_drained())
                    stop = asyncio.ensure_future(self._abandon_now.wait())
                    done, _ = await asyncio.wait(
                        [drained, stop], timeout=deadline, return_when=asyncio.FIRST_COMPLETED
                    )
                    stop.cancel()
                    if drained not in done:
                        abandoned = True
                        await sender.abandon()
                    await asyncio.gather(drained, stop, return_exceptions=True)
                await self._delivery.wait_idle()
                if not abandoned and sender.failure is None:
                    # what this run spooled goes out now if the destination answers;
                    # the rest of the deadline bounds it, the rest stays spooled
                    await self._delivery.drain_spool(end - loop.time(), self._abandon_now)
                await self._delivery.release()
        finally:
            if self._owns_transport and self._transport is not None:
                await self._transport.aclose()
            self._state = _CLOSED
            if sender is not None:
                sender.finish()
            self._report_drops(final=True)
            logger.info("%s closed: %s", type(self).__name__, self._stats.summary())
        if sender is not None and sender.failure is not None:
            raise DeliveryError("the collector's sender failed") from sender.failure
