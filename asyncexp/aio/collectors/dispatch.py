"""The background side of :class:`~asyncexp.aio.collectors.pipeline.QueueCollector`.

One dispatcher task (supervised: a crash is logged, counted and the task
restarted) decides when each lane is due and starts one send task per batch;
the send tasks report every item as delivered, spooled or dropped. The state
lives on the collector; this mixin holds only the code that runs in the tasks.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from asyncexp.aio.collectors.base import (
    DROP_COLLECTOR_FAILED,
    DROP_INTERNAL_ERROR,
    DROP_SHUTDOWN_TIMEOUT,
    CollectorStats,
)
from asyncexp.aio.collectors.lanes import Chunk, Lane, LaneKey, SendInfo
from asyncexp.errors import DeliveryError

__all__ = ["MAX_RESTARTS", "Dispatcher"]

logger = logging.getLogger("asyncexp.aio.collectors")

MAX_RESTARTS = 5
_CLOSING = 2


class Dispatcher:
    """Mixin: the dispatcher and send tasks (attributes are set by QueueCollector)."""

    _stats: CollectorStats
    _lanes: dict[LaneKey, Lane]
    _urgent: dict[LaneKey, int]
    _sends: dict[asyncio.Task[None], SendInfo]
    _waiters: list[tuple[int, asyncio.Future[None]]]
    _wakeup: asyncio.Event
    _state: int
    _batch_size: int
    _max_request: int
    _max_interval: float
    _max_concurrency: int
    _failure: BaseException | None
    _seq: int
    _abandoning: bool

    _clock: Callable[[], float]
    _wait: Callable[[asyncio.Event, float | None], Awaitable[None]]

    async def _deliver(self, lane: LaneKey, items: list[Any]) -> None:
        raise NotImplementedError

    async def _spill(self, lane: LaneKey, items: list[Any]) -> int:
        raise NotImplementedError

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
                logger.error("%s sender task crashed", type(self).__name__, exc_info=exc)
                if crashes > MAX_RESTARTS:
                    self._give_up(exc)
                    return
                await asyncio.sleep(0)

    def _give_up(self, exc: BaseException) -> None:
        self._failure = exc
        dropped = sum(lane.count for lane in self._lanes.values())
        self._lanes.clear()
        self._stats.queued = 0
        if dropped:
            self._stats.drop(DROP_COLLECTOR_FAILED, dropped)
        logger.error(
            "%s gave up after repeated crashes; dropped %d queued item(s)",
            type(self).__name__,
            dropped,
        )
        for _, future in self._waiters:
            if not future.done():
                future.set_exception(DeliveryError("the collector's sender failed"))
        self._waiters = []

    async def _run(self) -> None:
        while True:
            self._wakeup.clear()
            now = self._clock()
            deadline = self._dispatch(now)
            if self._state >= _CLOSING and not self._lanes and not self._sends:
                return
            timeout = None if deadline is None else max(0.0, deadline - now)
            await self._wait(self._wakeup, timeout)

    def _dispatch(self, now: float) -> float | None:
        """Start sends for the lanes that are ready; the next time one becomes ready."""
        force = self._state >= _CLOSING or bool(self._waiters)
        next_deadline: float | None = None
        for key in list(self._lanes):
            lane = self._lanes[key]
            chunks = lane.chunks
            if lane.count >= self._batch_size:  # whole batches are due, in request-sized chunks
                lane.due = max(lane.due, lane.count - lane.count % self._batch_size)
            while chunks and len(self._sends) < self._max_concurrency:
                urgent_seq = self._urgent.get(key)
                head = chunks[0]
                if not (
                    force
                    or lane.due > 0
                    or now - head.at >= self._max_interval
                    or (urgent_seq is not None and head.seq <= urgent_seq)
                ):
                    due = head.at + self._max_interval
                    next_deadline = due if next_deadline is None else min(next_deadline, due)
                    break
                lane.take()  # a chunk holds at most max_request_size items: one request
                if urgent_seq is not None and (not chunks or chunks[0].seq > urgent_seq):
                    del self._urgent[key]
                self._launch(key, head)
            if not chunks:
                del self._lanes[key]
        return next_deadline

    def _launch(self, key: LaneKey, chunk: Chunk) -> None:
        stats = self._stats
        stats.queued -= len(chunk.items)
        stats.in_flight += len(chunk.items)
        task = asyncio.get_running_loop().create_task(self._send(key, chunk))
        self._sends[task] = (key, chunk)

    async def _send(self, key: LaneKey, chunk: Chunk) -> None:
        stats = self._stats
        batch = chunk.items
        try:
            await self._deliver(key, batch)
        except asyncio.CancelledError:
            if not self._abandoning:  # when abandoning, the closer spools the batch
                stats.drop(DROP_SHUTDOWN_TIMEOUT, len(batch))
            raise
        except Exception as exc:
            stats.drop(DROP_INTERNAL_ERROR, len(batch))
            stats.last_error = f"{type(exc).__name__}: {exc}"
            logger.error(
                "%s: a send failed unexpectedly; dropped %d item(s)",
                type(self).__name__,
                len(batch),
                exc_info=exc,
            )
        finally:
            stats.in_flight -= len(batch)
            task = asyncio.current_task()
            if task is not None and not self._abandoning:
                self._sends.pop(task, None)
            self._notify_waiters()
            self._wakeup.set()

    # -- settling: flush waiters and the close deadline -----------------------------------
    def _unsettled_floor(self) -> int:
        floor = self._seq
        for lane in self._lanes.values():
            if lane.chunks and lane.chunks[0].seq < floor:
                floor = lane.chunks[0].seq
        for _, chunk in self._sends.values():
            floor = min(floor, chunk.seq)
        return floor

    async def _wait_settled(self, target: int) -> None:
        if self._failure is not None:
            raise DeliveryError("the collector's sender failed") from self._failure
        if self._unsettled_floor() >= target:
            return
        future = asyncio.get_running_loop().create_future()
        self._waiters.append((target, future))
        self._wakeup.set()
        try:
            await future
        finally:
            if not future.done():
                self._waiters.remove((target, future))

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

    async def _abandon(self, runner: asyncio.Task[None]) -> None:
        """The deadline passed: stop sending, then hand what is left to ``_spill``."""
        self._abandoning = True
        runner.cancel()
        sends = list(self._sends.items())
        for task, _ in sends:
            task.cancel()
        await asyncio.gather(runner, *(task for task, _ in sends), return_exceptions=True)
        left: dict[LaneKey, list[Chunk]] = {}
        for _, (key, chunk) in sends:  # in flight first: they are the oldest
            left.setdefault(key, []).append(chunk)
        for key, lane in self._lanes.items():
            left.setdefault(key, []).extend(lane.chunks)
        self._sends.clear()
        self._lanes.clear()
        self._stats.queued = 0
        total = kept = 0
        for key, chunks in left.items():
            chunks.sort(key=lambda chunk: chunk.seq)  # chunks of a lane never interleave
            items = [item for chunk in chunks for item in chunk.items]
            total += len(items)
            try:
                spilled = await self._spill(key, items)
            except Exception:
                logger.exception("%s: spooling at close failed", type(self).__name__)
                spilled = 0
            kept += spilled
            if len(items) > spilled:
                self._stats.drop(DROP_SHUTDOWN_TIMEOUT, len(items) - spilled)
        logger.warning(
            "%s: close deadline passed with %d item(s) unsent (%d in flight); %d spooled, "
            "%d dropped",
            type(self).__name__,
            total,
            sum(len(chunk.items) for _, (_, chunk) in sends),
            kept,
            total - kept,
        )
