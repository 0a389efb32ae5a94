"""``Sender``: the one background task of a collector, an object with its own state.

Composition after aiokafka's producer: the collector owns an
:class:`~asyncexp.aio.collectors.lanes.Accumulator` (what ``submit`` fills), a
delivery (:class:`~asyncexp.aio.collectors.delivery.Delivery`: HTTP or log
files) and this sender, which reads the accumulator and hands chunks to the
delivery. Nobody shares ``self``.

One dispatcher task (supervised: a crash is logged, counted and the task
restarted) decides when each lane is due and starts one send task per chunk,
at most ``max_concurrency`` at once. A send either delivers the chunk or, when
the delivery is *diverting* (outage mode), writes it to the spool straight
away. Overflow chunks (``submit`` found the memory budget used up and the
chunk was not full yet) are spilled by a send as well. Every item ends counted
by the delivery as delivered, spooled or dropped.

Shutdown is ordered and idempotent: :meth:`run_until_drained` lets the task
finish every lane; :meth:`abandon` (the deadline passed, or the close was
cancelled) tells the delivery to stop every send at its next step (each send
then spools what it holds itself, so nothing is cancelled half-written), waits
for the sends, and spills what is still queued.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from asyncexp.aio.collectors.base import (
    DROP_COLLECTOR_FAILED,
    DROP_INTERNAL_ERROR,
    DROP_SHUTDOWN_TIMEOUT,
    CollectorStats,
)
from asyncexp.aio.collectors.delivery import Delivery
from asyncexp.aio.collectors.lanes import Accumulator, Chunk, LaneKey
from asyncexp.errors import DeliveryError

__all__ = ["MAX_RESTARTS", "Sender", "SenderSettings"]

logger = logging.getLogger("asyncexp.aio.collectors")

MAX_RESTARTS = 5


@dataclass(frozen=True, slots=True)
class SenderSettings:
    batch_size: int
    max_interval: float
    max_concurrency: int
    max_request_size: int = 100


class Sender:
    """The dispatcher task and its send tasks (see the module docstring)."""

    def __init__(
        self,
        acc: Accumulator,
        delivery: Delivery,
        stats: CollectorStats,
        settings: SenderSettings,
        *,
        clock: Callable[[], float],
        wait: Callable[[asyncio.Event, float | None], Awaitable[None]],
        name: str,
        on_tick: Callable[[], None],
    ) -> None:
        self._acc = acc
        self._delivery = delivery
        self._stats = stats
        self._settings = settings
        self._clock = clock
        self._wait = wait
        self._name = name
        self._on_tick = on_tick
        self.wakeup = asyncio.Event()
        self.closing = False
        self.failure: BaseException | None = None
        self._runner: asyncio.Task[None] | None = None
        self._sends: dict[asyncio.Task[None], Chunk] = {}
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._room: list[asyncio.Future[None]] = []

    @property
    def started(self) -> bool:
        return self._runner is not None

    def start(self) -> None:
        if self._runner is None:
            self._runner = asyncio.get_running_loop().create_task(
                self._supervise(), name=f"asyncexp-{self._name}"
            )

    def wake(self) -> None:
        self.wakeup.set()

    # -- the task ---------------------------------------------------------------------------
    async def _supervise(self) -> None:
        crashes = 0
        while True:
            try:
                await self._run()
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                crashes += 1
                self._stats.crashes += 1
                self._stats.last_error = f"{type(exc).__name__}: {exc}"
                logger.error("%s sender task crashed", self._name, exc_info=exc)
                if crashes > MAX_RESTARTS:
                    self._give_up(exc)
                    return
                await asyncio.sleep(0)

    def _give_up(self, exc: BaseException) -> None:
        self.failure = exc
        acc = self._acc
        dropped = sum(lane.count for lane in acc.lanes.values())
        dropped += sum(len(chunk.items) for chunk in acc.overflow.values())
        acc.lanes.clear()
        acc.overflow.clear()
        acc.limit = -1  # every later submit takes the overflow path, which counts it
        self._stats.queued = 0
        if dropped:
            self._stats.drop(DROP_COLLECTOR_FAILED, dropped)
        logger.error(
            "%s gave up after repeated crashes; dropped %d queued item(s)", self._name, dropped
        )
        for _, future in self._waiters:
            if not future.done():
                future.set_exception(DeliveryError("the collector's sender failed"))
        self._waiters = []
        self._notify_room()

    async def _run(self) -> None:
        while True:
            self.wakeup.clear()
            now = self._clock()
            deadline = self._dispatch(now)
            self._notify_waiters()
            self._notify_room()
            self._on_tick()
            acc = self._acc
            if self.closing and not acc.lanes and not acc.overflow and not self._sends:
                return
            timeout = None if deadline is None else max(0.0, deadline - now)
            await self._wait(self.wakeup, timeout)

    def _dispatch(self, now: float) -> float | None:
        """Start sends for the lanes that are ready; the next time one becomes ready."""
        acc = self._acc
        settings = self._settings
        limit = settings.max_concurrency
        while acc.overflow and len(self._sends) < limit:
            key = next(iter(acc.overflow))
            self._launch(key, acc.overflow.pop(key), spill=True)
        force = self.closing or bool(self._waiters)
        # outage mode: a chunk goes to the spool when it is full (one request) or old,
        # not at batch_size: a spool file per few records would make the re-send, and
        # every scan of the spool directory, many times longer
        diverting = self._delivery.diverting()
        next_deadline: float | None = None
        for key in list(acc.lanes):
            lane = acc.lanes[key]
            chunks = lane.chunks
            if lane.count >= settings.batch_size:  # whole batches are due, in request-sized chunks
                lane.due = max(lane.due, lane.count - lane.count % settings.batch_size)
            while chunks and len(self._sends) < limit:
                urgent_seq = acc.urgent.get(key)
                head = chunks[0]
                if not (
                    force
                    or (lane.due > 0 and not diverting)
                    or (diverting and len(head.items) >= settings.max_request_size)
                    or now - head.at >= settings.max_interval
                    or (urgent_seq is not None and head.seq <= urgent_seq)
                ):
                    due = head.at + settings.max_interval
                    next_deadline = due if next_deadline is None else min(next_deadline, due)
                    break
                lane.take()  # a chunk holds at most max_request_size items: one request
                if urgent_seq is not None and (not chunks or chunks[0].seq > urgent_seq):
                    del acc.urgent[key]
                self._launch(key, chunk=head, spill=False)
            if not chunks:
                del acc.lanes[key]
        return next_deadline

    def _launch(self, key: LaneKey, chunk: Chunk, *, spill: bool) -> None:
        stats = self._stats
        stats.queued -= len(chunk.items)
        stats.in_flight += len(chunk.items)
        task = asyncio.get_running_loop().create_task(self._send(key, chunk, spill))
        self._sends[task] = chunk

    async def _send(self, key: LaneKey, chunk: Chunk, spill: bool) -> None:
        stats = self._stats
        batch = chunk.items
        try:
            if spill:
                await self._delivery.spill(key, batch)
            elif self._delivery.diverting():
                stats.diverted += len(batch)
                await self._delivery.spill(key, batch)
            else:
                await self._delivery.deliver(key, batch)
        except asyncio.CancelledError:
            stats.drop(DROP_SHUTDOWN_TIMEOUT, len(batch))  # only when the loop itself goes away
            raise
        except Exception as exc:
            stats.drop(DROP_INTERNAL_ERROR, len(batch))
            stats.last_error = f"{type(exc).__name__}: {exc}"
            logger.error(
                "%s: a send failed unexpectedly; dropped %d item(s)",
                self._name,
                len(batch),
                exc_info=exc,
            )
        finally:
            stats.in_flight -= len(batch)
            task = asyncio.current_task()
            if task is not None:
                self._sends.pop(task, None)
            self.wakeup.set()

    # -- flush waiters and room waiters ------------------------------------------------------
    def _unsettled_floor(self) -> int:
        acc = self._acc
        floor = acc.seq
        for lane in acc.lanes.values():
            if lane.chunks and lane.chunks[0].seq < floor:
                floor = lane.chunks[0].seq
        for chunk in acc.overflow.values():
            floor = min(floor, chunk.seq)
        for chunk in self._sends.values():
            floor = min(floor, chunk.seq)
        return floor

    async def wait_settled(self, target: int) -> None:
        if self.failure is not None:
            raise DeliveryError("the collector's sender failed") from self.failure
        if self._unsettled_floor() < target:
            future = asyncio.get_running_loop().create_future()
            self._waiters.append((target, future))
            self.wakeup.set()
            try:
                await future
            finally:
                if not future.done():
                    self._waiters.remove((target, future))
        await self._delivery.wait_idle()  # overflow chunks the spool's writer thread holds

    def _notify_waiters(self) -> None:
        if not self._waiters:
            return
        floor = self._unsettled_floor()
        keep: list[tuple[int, asyncio.Future[None]]] = []
        for target, future in self._waiters:
            if future.done():
                continue
            if target <= floor:
                future.set_result(None)
            else:
                keep.append((target, future))
        self._waiters = keep

    async def wait_for_room(self, has_room: Callable[[], bool]) -> None:
        while not has_room():
            if self.failure is not None or self.closing:
                return
            future = asyncio.get_running_loop().create_future()
            self._room.append(future)
            self.wakeup.set()
            try:
                await future
            finally:
                if not future.done():
                    future.cancel()

    def _notify_room(self) -> None:
        if self._room:
            room, self._room = self._room, []
            for future in room:
                if not future.done():
                    future.set_result(None)

    # -- shutdown ---------------------------------------------------------------------------
    async def run_until_drained(self) -> None:
        """Let the task finish every lane (``closing`` must be set)."""
        if self._runner is None and self.failure is None:
            self.start()
        runner = self._runner
        if runner is not None and not runner.done():
            self.wakeup.set()
            await asyncio.shield(runner)

    async def abandon(self) -> None:
        """Stop delivering: every send spools what it holds, then the queue is spilled."""
        self._delivery.abandon()
        runner = self._runner
        if runner is not None and not runner.done():
            runner.cancel()
            await asyncio.gather(runner, return_exceptions=True)
        while self._sends:
            await asyncio.wait(list(self._sends))
        acc = self._acc
        left = list(acc.overflow.items())
        for key, lane in acc.lanes.items():
            left.extend((key, chunk) for chunk in lane.chunks)
        acc.overflow.clear()
        acc.lanes.clear()
        self._stats.queued = 0
        total = 0
        for key, chunk in left:
            total += len(chunk.items)
            self._stats.in_flight += len(chunk.items)
            try:
                await self._delivery.spill(key, chunk.items)
            except Exception:
                logger.exception("%s: spooling at close failed", self._name)
                self._stats.drop(DROP_SHUTDOWN_TIMEOUT, len(chunk.items))
            finally:
                self._stats.in_flight -= len(chunk.items)
        await self._delivery.wait_idle()
        logger.warning(
            "%s: close deadline passed or close cancelled; %d queued item(s) handed to the "
            "spool (see the summary line for the outcome)",
            self._name,
            total,
        )

    def finish(self) -> None:
        self._notify_waiters()
        self._notify_room()
