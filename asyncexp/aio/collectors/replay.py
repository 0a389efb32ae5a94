"""Re-sending the disk spool: oldest first, at start and then every ``interval`` seconds.

One task per collector. A pass claims each file (an ``flock``: pre-forked
workers sharing a spool never send the same file at once), re-sends the exact
request with the collector's retry policy and then:

* acknowledged: the file is removed, its items counted in ``stats.replayed``;
* refused (a 4xx, or an Analysys error code): removed, counted in
  ``stats.replay_dropped`` with a warning, since sending it again cannot help;
* still failing after the retries: kept, and the pass stops (the server is
  down; the next pass tries again, oldest first);
* unreadable (partial or damaged): moved to ``corrupt/``, counted in
  ``stats.spool_corrupt``; start-up goes on.

File system calls run in the loop's executor.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from asyncexp.aio.collectors.base import CollectorStats
from asyncexp.aio.collectors.spool import SpoolStore
from asyncexp.aio.http import Attempt, RetryPolicy, call_with_retries

__all__ = ["PostFn", "SpoolReplayer"]

logger = logging.getLogger("asyncexp.aio.collectors.spool")

PostFn = Callable[[str, bytes, dict[str, str], bool], Awaitable[Attempt]]
"""``post(url, body, headers, check_code)``: one attempt, as the collector makes it."""
WaitFn = Callable[[asyncio.Event, "float | None"], Awaitable[None]]


class SpoolReplayer:
    """The re-send task of one collector's spool."""

    def __init__(
        self,
        store: SpoolStore,
        post: PostFn,
        stats: CollectorStats,
        *,
        retry: RetryPolicy,
        interval: float,
        wait: WaitFn,
        sleep: Callable[[float], Awaitable[Any]],
        jitter: Callable[[], float],
    ) -> None:
        self._store = store
        self._post = post
        self._stats = stats
        self._retry = retry
        self._interval = interval
        self._wait = wait
        self._sleep = sleep
        self._jitter = jitter
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.passes = 0
        """Completed passes over the spool (for tests and diagnostics)."""
        self.pass_done = asyncio.Event()
        """Set after each pass; tests clear it and wait for the next one."""

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
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def _loop(self) -> None:
        while True:
            self._wakeup.clear()
            try:
                await self.replay_once()
            except asyncio.CancelledError:
                raise
            except Exception:  # a bug here must not end replaying for good
                logger.exception("spool replay pass failed")
            self.passes += 1
            self.pass_done.set()
            await self._wait(self._wakeup, self._interval)

    async def replay_once(self) -> bool:
        """One pass; True when the spool was emptied (as far as this process can see)."""
        loop = asyncio.get_running_loop()
        store = self._store
        for path in await loop.run_in_executor(None, store.pending):
            claim = await loop.run_in_executor(None, store.claim, path)
            if claim is None:  # another process has it, or it is already gone
                continue
            try:
                batch = await loop.run_in_executor(None, store.read, claim)
            except (ValueError, OSError) as exc:
                await loop.run_in_executor(None, store.quarantine, claim, str(exc))
                self._stats.spool_corrupt += 1
                continue
            try:
                outcome = await call_with_retries(
                    functools.partial(
                        self._post, batch.url, batch.body, batch.headers, batch.check_code
                    ),
                    self._retry,
                    sleep=self._sleep,
                    jitter=self._jitter,
                )
            except BaseException:
                store.release(claim)  # closing an fd: cheap enough to do here
                raise
            if outcome.ok:
                await loop.run_in_executor(None, store.remove, claim)
                self._stats.replayed += batch.count
            elif not outcome.retryable:
                await loop.run_in_executor(None, store.remove, claim)
                self._stats.replay_dropped += batch.count
                logger.warning(
                    "spooled batch of %d item(s) refused on re-send (%s); removed",
                    batch.count,
                    outcome.detail,
                )
            else:
                store.release(claim)
                logger.info("spool re-send stopped: %s; trying again later", outcome.detail)
                return False
        return True
