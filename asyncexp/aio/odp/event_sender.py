"""``EventSenderMixin``: the ODP event queue's sender task, batching and retries."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, NamedTuple

from asyncexp.aio.collectors.base import (
    DROP_INTERNAL_ERROR,
    DROP_REJECTED,
    DROP_RETRIES_EXHAUSTED,
    DROP_SHUTDOWN_TIMEOUT,
    CollectorStats,
)
from asyncexp.aio.collectors.pipeline import WaitFn
from asyncexp.aio.http import (
    Attempt,
    HttpTransport,
    RetryPolicy,
    TransportError,
    attempt_from_status,
    call_with_retries,
)
from asyncexp.aio.odp.messages import ODP_EVENT_FAILED, ThrottledLog, logger
from asyncexp.errors import AsyncExpError

__all__ = ["EventSenderMixin"]

_DROP_REASONS = {DROP_INTERNAL_ERROR: DROP_INTERNAL_ERROR, "closed": DROP_SHUTDOWN_TIMEOUT}


class _Entry(NamedTuple):
    seq: int
    queued_at: float
    url: str
    api_key: str
    event: dict[str, Any]


class EventSenderMixin:
    """The sender task of ``OdpEventManager``: one batch at a time, oldest first."""

    # Set by OdpEventManager.__init__.
    _transport_getter: Callable[[], HttpTransport]
    _batch_size: int
    _interval: float
    _request_timeout: float
    _policy: RetryPolicy
    _clock: Callable[[], float]
    _wait: WaitFn
    _sleep: Callable[[float], Awaitable[Any]]
    _jitter: Callable[[], float]
    _log: ThrottledLog
    _stats: CollectorStats
    _queue: deque[_Entry]
    _destination: tuple[str, str] | None
    _seq: int
    _settled: int
    _flush_upto: int
    _waiters: list[tuple[int, asyncio.Future[None]]]
    _wakeup: asyncio.Event
    _runner: asyncio.Task[None] | None
    _closing: asyncio.Future[None] | None

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
