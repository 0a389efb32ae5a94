"""Re-sending the disk spool: oldest first, one request per file, one task per collector.

A background pass sends one file at a time, so the files arrive oldest first.
The close's drain (:meth:`SpoolReplayer.drain`, racing a deadline) sends up to
``REPLAY_CONCURRENCY`` at once, started in age order.

A pass claims each file (an ``flock``: pre-forked workers sharing a spool never
send the same file at once), sends the exact request once and then:

* acknowledged: the file is removed, its items counted in ``stats.replayed``;
* refused (a 4xx, or an Analysys error code): removed, counted in
  ``stats.replay_dropped`` (reason ``rejected``) with a warning;
* answered HTTP 2xx without ``{"code":200}``: the server may have stored it.
  The first time, the count is written into the file and it stays; the
  second time it is removed and counted as ``unconfirmed``
  (:data:`MAX_UNCONFIRMED_COPIES`);
* failed (connection, timeout, 5xx, 429): kept, and the pass stops.
* unreadable (partial or damaged): moved to ``corrupt/``, counted in
  ``stats.spool_corrupt``; not a spool file at all: skipped and counted.

When a pass empties the spool the next one runs after ``interval`` seconds or
when kicked (a new file was spooled while the destination is healthy, or the
destination recovered). When a pass stops on a failure, the next one is a
*probe* after :meth:`Health.probe_delay` (doubling up to ``probe_max``): in an
outage this is the only traffic the collector sends.

File system calls run in the loop's executor; a claim taken by a thread whose
awaiter was cancelled is released by a callback, so no descriptor leaks.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import random
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from asyncexp.aio.collectors.base import DROP_REJECTED, DROP_UNCONFIRMED, CollectorStats
from asyncexp.aio.collectors.health import Health
from asyncexp.aio.collectors.spool import Claim, SpoolBatch, SpoolStore
from asyncexp.aio.http import Attempt

__all__ = [
    "MAX_UNCONFIRMED_COPIES",
    "REPLAY_CONCURRENCY",
    "UNCONFIRMED",
    "PostFn",
    "SpoolReplayer",
]

logger = logging.getLogger("asyncexp.aio.collectors.spool")

PostFn = Callable[[str, bytes, dict[str, str], bool], Awaitable[Attempt]]
"""``post(url, body, headers, check_code)``: one attempt, as the collector makes it."""
WaitFn = Callable[[asyncio.Event, "float | None"], Awaitable[None]]

UNCONFIRMED = "unconfirmed_2xx"
"""``Attempt.reason`` of an HTTP 2xx answer whose body is not ``{"code":200}``."""
REPLAY_CONCURRENCY = 16
"""Files the close's drain re-sends at once (a background pass sends one at a time);
as many as ``BatchCollector``'s requests in flight: the drain is bound by round trips."""
MAX_UNCONFIRMED_COPIES = 2
"""The most requests carrying one record that a receiver answers with HTTP 2xx
without ``{"code":200}``: the first such answer ends the in-memory retries and
spools the chunk, the second one (on re-send) gives it up as ``unconfirmed``."""

_Taken = tuple[Claim, SpoolBatch | None, str]


def _take(store: SpoolStore, path: Path) -> _Taken | None:
    claim = store.claim(path)
    if claim is None:
        return None
    try:
        return claim, store.read(claim), ""
    except (ValueError, OSError) as exc:
        return claim, None, str(exc)


def _mark(store: SpoolStore, marked: SpoolBatch, claim: Claim) -> None:
    try:
        store.rewrite(claim, marked)
    finally:
        store.release(claim)


class SpoolReplayer:
    """The re-send task of one collector's spool."""

    def __init__(
        self,
        store: SpoolStore,
        post: PostFn,
        stats: CollectorStats,
        *,
        health: Health,
        interval: float,
        wait: WaitFn,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self._store = store
        self._post = post
        self._stats = stats
        self._health = health
        self._interval = interval
        self._wait = wait
        self._jitter = jitter
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._probes = 0
        self.passes = 0
        """Completed passes over the spool (for tests and diagnostics)."""
        self.failed_passes = 0
        """Passes that stopped on a failed request; in outage mode, the failed probes."""
        self.pass_done = asyncio.Event()
        """Set after each pass; tests clear it and wait for the next one."""
        self.emptied = asyncio.Event()
        """Set when a pass found nothing left to send (cleared when one stops on a failure)."""
        self._in_pass = False
        self._pid = os.getpid()
        self._since_ns = time.time_ns()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(
                self._loop(), name="asyncexp-spool-replay"
            )

    def kick(self) -> None:
        """Run a pass now instead of at the next interval."""
        self._wakeup.set()

    async def aclose(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            while not task.done():
                task.cancel()
                await asyncio.wait([task])

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self._store.sweep)
        self._stats.spool_tmp_removed = self._store.tmp_removed
        while True:
            self._wakeup.clear()
            self._in_pass = True
            try:
                emptied = await self.replay_once()
            except asyncio.CancelledError:
                raise
            except Exception:  # a bug here must not end replaying for good
                logger.exception("spool replay pass failed")
                emptied = False
            finally:
                self._in_pass = False
            self.passes += 1
            self.pass_done.set()
            if emptied and not self._health.outage:
                self._probes = 0
                self.emptied.set()
                delay = self._interval
            else:
                if not emptied:
                    self.failed_passes += 1
                else:  # outage mode and nothing to probe with: a send probes instead
                    self._health.want_probe = True
                self.emptied.clear()
                delay = self._health.probe_delay(self._probes, self._jitter())
                self._probes += 1
            await self._wait(self._wakeup, delay)

    async def drain(self, timeout: float, stop: asyncio.Event) -> bool:
        """At close, with the destination healthy: re-send the files this run spooled.

        Stops the background task (after the pass it is in, if any), then sends
        this process's files written since the replayer was made, oldest first,
        until none is left (True), a request fails, ``timeout`` seconds pass or
        ``stop`` is set. What is not sent stays in the spool for the next start.
        """
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        stopper = asyncio.ensure_future(stop.wait())
        try:
            if self._in_pass and self._task is not None:
                self.pass_done.clear()
                passed = asyncio.ensure_future(self.pass_done.wait())
                await asyncio.wait(
                    [passed, stopper],
                    timeout=max(0.0, end - loop.time()),
                    return_when=asyncio.FIRST_COMPLETED,
                )
                passed.cancel()
            await self.aclose()
            if stop.is_set() or self._health.outage or self._health.abandoning:
                return False
            work = asyncio.ensure_future(
                self.replay_once(only=self._mine, width=REPLAY_CONCURRENCY)
            )
            await asyncio.wait(
                [work, stopper],
                timeout=max(0.0, end - loop.time()),
                return_when=asyncio.FIRST_COMPLETED,
            )
            if not work.done():
                work.cancel()  # a claim held is released, a removal under way completes
            results = await asyncio.gather(work, return_exceptions=True)
        finally:
            stopper.cancel()
        return results[0] is True

    def _mine(self, path: Path) -> bool:
        """Written by this process since the replayer was made (``<ns>-<pid>-<n>.batch``)."""
        created, pid, _ = path.name.split("-", 2)
        return int(pid) == self._pid and int(created) >= self._since_ns

    async def replay_once(self, only: Callable[[Path], bool] | None = None, width: int = 1) -> bool:
        """One pass; True when the spool was emptied (as far as this process can see).

        ``only``: send just the files it accepts (the close's drain of this run's files);
        ``width``: files sent at once while the destination is healthy.
        """
        loop = asyncio.get_running_loop()
        store = self._store
        paths = await loop.run_in_executor(None, store.pending)
        self._stats.spool_skipped = len(store.skipped)
        if only is not None:
            paths = [path for path in paths if only(path)]
        i = 0
        while i < len(paths):
            # a probe (outage mode) is always one request
            step = 1 if self._health.outage else width
            group, i = paths[i : i + step], i + step
            if len(group) == 1:
                go_on = await self._send_one(group[0])
            else:
                results = await asyncio.gather(*(self._send_one(path) for path in group))
                go_on = all(results)
            if not go_on:
                return False
        return True

    async def _send_one(self, path: Path) -> bool:
        """Re-send one file; False when the pass must stop (the destination failed)."""
        loop = asyncio.get_running_loop()
        store = self._store
        taken = await self._claim(path)
        if taken is None:  # another process has it, or it is already gone
            return True
        claim, batch, error = taken
        if batch is None:
            await loop.run_in_executor(None, store.quarantine, claim, error)
            self._stats.spool_corrupt += 1
            return True
        try:
            outcome = await self._post(batch.url, batch.body, batch.headers, batch.check_code)
        except BaseException:
            store.release(claim)  # closing an fd: cheap enough to do here
            raise
        self._health.record(outcome.ok, outcome.detail)
        if outcome.ok:
            self._stats.replayed += batch.count
            await self._finish(store.remove, claim)
            self._probes = 0
            return True
        if outcome.reason == UNCONFIRMED:
            if batch.unconfirmed + 1 >= MAX_UNCONFIRMED_COPIES:
                self._stats.replay_drop(DROP_UNCONFIRMED, batch.count)
                logger.warning(
                    "spooled batch of %d item(s) answered 2xx without success %d times "
                    "(%s); removed as unconfirmed",
                    batch.count,
                    batch.unconfirmed + 1,
                    outcome.detail,
                )
                await self._finish(store.remove, claim)
                return True
            marked = SpoolBatch(
                batch.url,
                batch.headers,
                batch.body,
                batch.count,
                batch.check_code,
                batch.unconfirmed + 1,
            )
            await self._finish(functools.partial(_mark, store, marked), claim)
            return False
        if not outcome.retryable:
            self._stats.replay_drop(DROP_REJECTED, batch.count)
            logger.warning(
                "spooled batch of %d item(s) refused on re-send (%s); removed",
                batch.count,
                outcome.detail,
            )
            await self._finish(store.remove, claim)
            return True
        store.release(claim)
        logger.info("spool re-send stopped: %s; trying again later", outcome.detail)
        return False

    async def _claim(self, path: Path) -> _Taken | None:
        future = asyncio.get_running_loop().run_in_executor(None, _take, self._store, path)
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            store = self._store

            def release(fut: asyncio.Future[_Taken | None]) -> None:
                if not fut.cancelled() and fut.exception() is None:
                    taken = fut.result()
                    if taken is not None:
                        store.release(taken[0])

            future.add_done_callback(release)
            raise

    async def _finish(self, fn: Callable[[Claim], object], claim: Claim) -> None:
        """Run ``fn(claim)`` (which releases the claim) in the executor; it completes even
        if this task is cancelled meanwhile."""
        future = asyncio.get_running_loop().run_in_executor(None, fn, claim)
        try:
            await asyncio.shield(future)
        except asyncio.CancelledError:
            # Wait for the file step before the cancellation goes on: a close must not
            # return while a file it counted as sent or dropped is still in the spool
            # (a process exiting then would send it once more at the next start).
            while not future.done():
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.wait({future})
            raise
