"""``EventSender``: the ODP event queue's sender task, batching and retries.

Rules: the sender owns its task (started by ``ensure_running``, restarted
after a crash) and nothing else; the queue it drains is the
:class:`~asyncexp.aio.odp.event_queue.PendingEvents` the event manager shares
with it. Every batch it takes ends as delivered or dropped with a reason, and
the ``flush`` waiters it covers are released.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from asyncexp.aio.collectors.base import (
    DROP_INTERNAL_ERROR,
    DROP_REJECTED,
    DROP_RETRIES_EXHAUSTED,
    DROP_SHUTDOWN_TIMEOUT,
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
from asyncexp.aio.odp.event_queue import Entry, PendingEvents
from asyncexp.aio.odp.messages import ODP_EVENT_FAILED, ThrottledLog, logger
from asyncexp.aio.redaction import safe_url
from asyncexp.errors import AsyncExpError

__all__ = ["EventSender"]

_DROP_REASONS = {DROP_INTERNAL_ERROR: DROP_INTERNAL_ERROR, "closed": DROP_SHUTDOWN_TIMEOUT}


class EventSender:
    """One batch at a time, oldest first, from the :class:`PendingEvents` it was given."""

    def __init__(
        self,
        pending: PendingEvents,
        transport_getter: Callable[[], HttpTransport],
        *,
        batch_size: int,
        flush_interval: float,
        request_timeout: float,
        retry_policy: RetryPolicy,
        clock: Callable[[], float],
        wait: WaitFn,
        sleep: Callable[[float], Awaitable[Any]],
        jitter: Callable[[], float],
        log: ThrottledLog,
    ) -> None:
        self._pending = pending
        self._transport_getter = transport_getter
        self._batch_size = batch_size
        self._interval = flush_interval
        self._request_timeout = request_timeout
        self._policy = retry_policy
        self._clock = clock
        self._wait = wait
        self._sleep = sleep
        self._jitter = jitter
        self._log = log
        self._runner: asyncio.Task[None] | None = None

    def ensure_running(self) -> None:
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
        pending = self._pending
        pending.stats.crashes += 1
        pending.stats.last_error = f"{type(exc).__name__}: {exc}"
        logger.error(ODP_EVENT_FAILED.format("internal error"), exc_info=exc)
        self._runner = None
        pending.drop_queued(DROP_INTERNAL_ERROR)
        pending.settle_all()

    async def close(self, timeout: float) -> None:
        """Send what is queued within ``timeout`` seconds, then drop the rest."""
        pending = self._pending
        if pending.entries:
            self.ensure_running()
        pending.wakeup.set()
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
        count = pending.drop_queued(DROP_SHUTDOWN_TIMEOUT)
        if count:
            logger.warning(ODP_EVENT_FAILED.format(f"{count} event(s) left at the close deadline"))
        pending.settle_all()

    def _due_in(self) -> float:
        """Seconds until the front batch is due (0: now)."""
        pending = self._pending
        first = pending.entries[0]
        if (
            pending.closing
            or first.seq < pending.flush_upto
            or len(pending.entries) >= self._batch_size
            or (first.url, first.api_key) != pending.destination
        ):
            return 0.0
        return max(0.0, first.queued_at + self._interval - self._clock())

    async def _run(self) -> None:
        pending = self._pending
        while True:
            if not pending.entries:
                if pending.closing:
                    return
                pending.wakeup.clear()
                await self._wait(pending.wakeup, None)
                continue
            due = self._due_in()
            if due > 0:
                pending.wakeup.clear()
                await self._wait(pending.wakeup, due)
                continue
            await self._send_batch(self._take_batch())

    def _take_batch(self) -> list[Entry]:
        entries, stats = self._pending.entries, self._pending.stats
        first = entries.popleft()
        batch = [first]
        while (
            entries
            and len(batch) < self._batch_size
            and entries[0].url == first.url
            and entries[0].api_key == first.api_key
        ):
            batch.append(entries.popleft())
        count = len(batch)
        stats.queued -= count
        stats.in_flight += count
        return batch

    async def _send_batch(self, batch: list[Entry]) -> None:
        pending = self._pending
        stats, count = pending.stats, len(batch)
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
                shown = safe_url(url)
                logger.debug("ODP events to %s: %s; retrying in %.2fs", shown, failed.detail, delay)

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
            pending.settled = batch[-1].seq + 1
            pending.release_waiters()
