"""``SpoolSink``: how a collector puts chunks into its disk spool (the spool is :mod:`.spool`).

A part the HTTP delivery owns (composition, no shared ``self``). Every item it
is given ends counted in the collector's stats: ``spooled``, or dropped as
``spool_full`` / ``spool_error``.

Two ways in:

* :meth:`write` (awaited, from the background tasks): the file is written and
  fsynced in the loop's default executor. A write that was started is always
  finished and counted, even when the awaiting task is cancelled (the awaiter
  is shielded from the write, never the other way round), so a cancelled close
  cannot lose or double-count a chunk.
* :meth:`write_now` (synchronous, from ``submit`` when the memory budget is used
  up): one request-sized chunk at a time (``max_request_size`` items, some tens
  of KB once encoded) goes to a new file without fsync, on the caller's stack.
  This is the deliberate exception to "file writes go to an executor": a loop
  that never yields cannot wait for an executor, and the alternative is to drop
  or to grow memory without bound. Measured in ``benchmarks/bench_events.py``:
  the per-call median stays in the in-memory path (99 calls of 100 append to a
  list), the 100th pays for one encode and one small write.
"""

from __future__ import annotations

import asyncio
import logging

from asyncexp.aio.collectors.base import DROP_SPOOL_ERROR, DROP_SPOOL_FULL, CollectorStats
from asyncexp.aio.collectors.spool import SpoolBatch, SpoolFull, SpoolStore

__all__ = ["SpoolSink"]

logger = logging.getLogger("asyncexp.aio.collectors")


class SpoolSink:
    """Writes batches to ``store`` and counts them in ``stats``."""

    def __init__(self, store: SpoolStore, stats: CollectorStats, name: str) -> None:
        self.store = store
        self._stats = stats
        self._name = name
        self._pending: set[asyncio.Future[int]] = set()
        self._quiet = False  # after one warning, failures log at DEBUG until a write succeeds

    async def write(self, batch: SpoolBatch) -> bool:
        """Write ``batch`` (in the executor); True when it is on disk."""
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(None, self.store.write, batch)
        self._pending.add(future)
        done = loop.create_future()

        def settle(fut: asyncio.Future[int]) -> None:
            self._pending.discard(fut)
            ok = self._count(batch, fut)
            if not done.done():
                done.set_result(ok)

        future.add_done_callback(settle)
        result: bool = await asyncio.shield(done)
        return result

    def write_now(self, batch: SpoolBatch) -> bool:
        """Write ``batch`` on the caller's stack, without fsync (see the module docstring)."""
        try:
            evicted = self.store.write(batch, durable=False)
        except (SpoolFull, OSError) as exc:
            self._failed(batch, exc)
            return False
        self._done(batch, evicted)
        return True

    async def wait_idle(self) -> None:
        """Return once every write started so far has finished (and been counted)."""
        while self._pending:
            await asyncio.wait(list(self._pending))

    def _count(self, batch: SpoolBatch, fut: asyncio.Future[int]) -> bool:
        if fut.cancelled():  # the executor was shut down before the write ran
            self._failed(batch, OSError("the executor was shut down"))
            return False
        exc = fut.exception()
        if exc is not None:
            if not isinstance(exc, SpoolFull | OSError):
                logger.error("%s: spool write failed unexpectedly", self._name, exc_info=exc)
                exc = OSError(str(exc))
            self._failed(batch, exc)
            return False
        self._done(batch, fut.result())
        return True

    def _done(self, batch: SpoolBatch, evicted: int) -> None:
        stats = self._stats
        self._quiet = False
        stats.spooled += batch.count
        stats.spool_tmp_removed = self.store.tmp_removed
        if evicted:
            stats.replay_drop(DROP_SPOOL_FULL, evicted)
            logger.warning("%s: spool full; evicted %d older item(s)", self._name, evicted)

    def _failed(self, batch: SpoolBatch, exc: BaseException) -> None:
        stats = self._stats
        stats.spool_tmp_removed = self.store.tmp_removed
        level = logging.DEBUG if self._quiet else logging.WARNING
        self._quiet = True  # the collector's interval report carries the counts from here on
        if isinstance(exc, SpoolFull):
            stats.drop(DROP_SPOOL_FULL, batch.count)
            logger.log(
                level, "%s: spool full (%s); dropped %d item(s)", self._name, exc, batch.count
            )
            return
        stats.drop(DROP_SPOOL_ERROR, batch.count)
        stats.last_error = f"spool write: {exc}"
        logger.log(
            level, "%s: spool write failed (%s); dropped %d item(s)", self._name, exc, batch.count
        )
