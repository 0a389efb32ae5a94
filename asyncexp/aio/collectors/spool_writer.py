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
* :meth:`write_soon` (from ``submit`` when the memory budget is used up): the
  chunk's JSON is already encoded (``orjson``, on the caller's stack, where a
  ``TypeError`` can still be handled per item); compressing it and writing the
  file (about 0.1 ms of zlib and 0.5-1 ms of file creation, both outside the
  GIL) happen in the sink's own writer thread, which runs even while the loop
  never yields. At most ``BACKGROUND_DEPTH`` chunks wait for that thread; past
  that ``submit`` writes the chunk itself, synchronously and without fsync
  (:meth:`write_now`): a loop that never yields cannot wait for anything, and
  the alternative is to drop or to grow memory without bound. Items handed to
  the thread are ``in_flight`` until the loop counts the outcome.

The spool files of ``submit`` skip the fsync: they survive the process being
killed once written, not the machine losing power.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Callable

from asyncexp.aio.collectors.base import DROP_SPOOL_ERROR, DROP_SPOOL_FULL, CollectorStats
from asyncexp.aio.collectors.spool import SpoolBatch, SpoolFull, SpoolStore

__all__ = ["BACKGROUND_DEPTH", "SpoolSink"]

logger = logging.getLogger("asyncexp.aio.collectors")

BACKGROUND_DEPTH = 32
"""Overflow chunks that may wait for the writer thread (some tens of KB of JSON each)."""

_Job = tuple[SpoolBatch, bytes, Callable[[bytes], bytes], asyncio.AbstractEventLoop]


class SpoolSink:
    """Writes batches to ``store`` and counts them in ``stats``."""

    def __init__(self, store: SpoolStore, stats: CollectorStats, name: str) -> None:
        self.store = store
        self._stats = stats
        self._name = name
        self._pending: set[asyncio.Future[int]] = set()
        self._quiet = False  # after one warning, failures log at DEBUG until a write succeeds
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._background = 0  # handed to the thread, outcome not counted yet (loop side)
        self._background_idle = asyncio.Event()
        self._background_idle.set()
        self.on_written: Callable[[], None] | None = None
        """Called (on the loop) after a background write succeeded."""

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

    def write_soon(self, batch: SpoolBatch, raw: bytes, finish: Callable[[bytes], bytes]) -> None:
        """Spool ``batch`` whose body is ``finish(raw)``: in the writer thread when it
        keeps up, else now on the caller's stack (see the module docstring)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop to count the outcome on: write it here
            loop = None
        if loop is None or self._jobs.qsize() >= BACKGROUND_DEPTH:
            self.write_now(
                SpoolBatch(batch.url, batch.headers, finish(raw), batch.count, batch.check_code)
            )
            return
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._work, name="asyncexp-spool-writer", daemon=True
            )
            self._thread.start()
        self._background += 1
        self._background_idle.clear()
        self._stats.in_flight += batch.count
        self._jobs.put((batch, raw, finish, loop))

    def _work(self) -> None:
        """The writer thread: compress, write, then let the loop count the outcome."""
        while True:
            job = self._jobs.get()
            if job is None:
                return
            batch, raw, finish, loop = job
            evicted = 0
            error: BaseException | None = None
            try:
                body = finish(raw)
                batch = SpoolBatch(batch.url, batch.headers, body, batch.count, batch.check_code)
                evicted = self.store.write(batch, durable=False)
            except Exception as exc:
                error = exc
            try:
                loop.call_soon_threadsafe(self._settle_background, batch, evicted, error)
            except RuntimeError:  # the loop is closed: nobody is left to count it
                return

    def _settle_background(
        self, batch: SpoolBatch, evicted: int, error: BaseException | None
    ) -> None:
        self._background -= 1
        self._stats.in_flight -= batch.count
        if error is None:
            self._done(batch, evicted)
            if self.on_written is not None:
                self.on_written()
        else:
            if not isinstance(error, SpoolFull | OSError):
                logger.error("%s: spool write failed unexpectedly", self._name, exc_info=error)
                error = OSError(str(error))
            self._failed(batch, error)
        if self._background == 0:
            self._background_idle.set()

    async def aclose(self) -> None:
        """Stop the writer thread (after the writes handed to it)."""
        await self.wait_idle()
        thread, self._thread = self._thread, None
        if thread is not None:
            self._jobs.put(None)
            await asyncio.get_running_loop().run_in_executor(None, thread.join)

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
        while self._pending or self._background:
            if self._pending:
                await asyncio.wait(list(self._pending))
            if self._background:
                await self._background_idle.wait()

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
