"""``LogCollector``: Analysys records as JSON lines in files, for a later import.

* File name by the **record's** time (``xwhen``), in local time unless ``tz``
  is given: ``datas_YYYYMMDDHH.log`` (``rotation="hour"``, the default) or
  ``datas_YYYYMMDD.log`` (``"day"``). A record buffered across an hour
  boundary still lands in the file of its own hour.
* One JSON object per line, UTF-8, non-ASCII kept as is.
* Optimizely user events (which Analysys files do not describe) go to
  ``optimizely_YYYYMMDDHH.log`` by their timestamp, each line a one-visitor
  event batch ready to POST to ``/v1/events``.
* The directory is created when missing. Each write happens in the loop's
  default executor (never on the event loop): open for append, take an
  exclusive lock on the file itself (:mod:`asyncexp.aio.filelock`, so other
  processes using this collector, or the Analysys/Sensors SDKs, never
  interleave), write, unlock. Nothing here removes or renames a file, and no
  call needs ``os.pread``, so it runs unchanged on Windows.
* ``batch=False``: every record is written as soon as the writer task runs
  (records waiting at that moment share one write). ``batch=True``: written
  when ``batch_size`` records wait or the oldest waited ``max_interval``
  seconds, and on ``flush``/``aclose``.
* It is the disk, so it never drops in a tight loop: past the memory budget
  ``submit`` renders each full chunk and appends it on the spot (one small
  locked write per ``max_request_size`` records; see :mod:`.spool_writer` for
  why that synchronous write is deliberate). Lines may then reach the file out
  of order; each carries its own ``xwhen``.
* No partial line, ever: a write records the file size under the lock, and a
  failed write (``ENOSPC``, ``EFBIG``) truncates the file back to it; if even
  that fails, the next write starts with a newline so the torn line stays
  alone and the next record is never glued to it.
* A failed write (``OSError``) is retried with backoff; when retries run out
  the records are dropped as ``retries_exhausted``. A close cannot be cut
  short: its last writes are local and always finish.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any, Literal

import orjson

from asyncexp.aio import filelock
from asyncexp.aio.checks import check_number
from asyncexp.aio.collectors.base import DROP_RETRIES_EXHAUSTED, DROP_UNENCODABLE
from asyncexp.aio.collectors.pipeline import (
    DEFAULT_MEMORY_BUDGET_MIB,
    Clock,
    LaneKey,
    QueueCollector,
    WaitFn,
    wait_event,
)
from asyncexp.aio.http import Attempt, RetryPolicy, call_with_retries
from asyncexp.core.flags.events import UserEvent, build_event_batch
from asyncexp.errors import ArgumentTypeError, ConfigError

__all__ = ["LogCollector", "LogDelivery", "append_locked", "log_file_name"]

logger = logging.getLogger("asyncexp.aio.collectors")

_RECORDS: LaneKey = ("analysys",)
_FORMATS = {"hour": "%Y%m%d%H", "day": "%Y%m%d"}
# Windows opens in text mode unless told otherwise (each "\n" written as "\r\n")
_BINARY = getattr(os, "O_BINARY", 0)


def log_file_name(prefix: str, millis: int, rotation: str, tz: tzinfo | None) -> str:
    stamp = datetime.fromtimestamp(millis / 1000, tz).strftime(_FORMATS[rotation])
    return f"{prefix}_{stamp}.log"


def _last_byte(fd: int, size: int) -> bytes:
    """The byte at ``size - 1``. A seek and a read, not ``os.pread`` (Windows has
    none): the descriptor is this call's own, and ``O_APPEND`` writes go to the
    end wherever the position is."""
    os.lseek(fd, size - 1, os.SEEK_SET)
    return os.read(fd, 1)


def append_locked(path: Path, data: bytes) -> None:
    """Append ``data`` (whole lines) to ``path`` under an exclusive lock; blocking.

    On failure the file is truncated back to its size before the write, so no
    partial line is left; when the file does not end with a newline (a torn
    line that could not be removed), one is written first.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT | _BINARY, 0o644)
    try:
        filelock.lock(fd)
        try:
            start = os.fstat(fd).st_size
            if start and _last_byte(fd, start) != b"\n":
                data = b"\n" + data
            view = memoryview(data)
            try:
                while view:
                    written = os.write(fd, view)
                    view = view[written:]
            except OSError:
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, start)
                raise
        finally:
            filelock.unlock(fd)
    finally:
        os.close(fd)


class LogDelivery:
    """Writes chunks to the log files (the Delivery of a ``LogCollector``)."""

    def __init__(self, collector: LogCollector) -> None:
        self._c = collector

    async def deliver(self, lane: LaneKey, items: list[Any]) -> None:
        await self._c._write(lane, items)

    async def spill(self, lane: LaneKey, items: list[Any]) -> None:
        await self._c._write(lane, items)

    def spill_now(self, lane: LaneKey, items: list[Any]) -> bool:
        self._c._write_now(lane, items)
        return True

    def diverting(self) -> bool:
        return False

    def backlogged(self) -> bool:
        return False

    def abandon(self) -> None:
        pass

    async def wait_idle(self) -> None:
        pass

    async def drain_spool(self, timeout: float, stop: asyncio.Event) -> None:
        pass  # the files are the destination: there is no spool

    def start(self) -> None:
        pass

    async def release(self) -> None:
        pass


class LogCollector(QueueCollector):
    """Writes records to ``directory`` as JSON lines (see the module docstring)."""

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        batch: bool = False,
        batch_size: int = 20,
        rotation: Literal["hour", "day"] = "hour",
        max_interval: float = 15.0,
        memory_budget_mib: float = DEFAULT_MEMORY_BUDGET_MIB,
        max_queue_size: int | None = None,
        tz: tzinfo | None = None,
        retry: RetryPolicy | None = None,
        close_timeout: float = 10.0,
        clock: Clock = time.monotonic,
        wait: WaitFn = wait_event,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        jitter: Callable[[], float] = random.random,
        wall_clock_ms: Callable[[], int] = lambda: time.time_ns() // 1_000_000,
        writer: Callable[[Path, bytes], None] = append_locked,
        log_interval: float = 10.0,
    ) -> None:
        if not isinstance(rotation, str) or rotation.lower() not in _FORMATS:
            raise ConfigError(f"rotation: must be 'hour' or 'day', got {rotation!r}")
        if not isinstance(batch, bool):
            raise ConfigError(f"batch: must be a bool, got {batch!r}")
        # checked whether or not batch is on: a wrong value is a mistake either way
        check_number("batch_size", batch_size, integer=True, minimum=1, inclusive=True)
        check_number("max_interval", max_interval, inclusive=True)
        check_number("log_interval", log_interval, inclusive=True)
        if not isinstance(directory, str | os.PathLike):
            raise ConfigError(f"directory: must be a str or a path, got {type(directory).__name__}")
        if tz is not None and not isinstance(tz, tzinfo):
            raise ConfigError(f"tz: must be a tzinfo or None, got {type(tz).__name__}")
        if retry is not None and not isinstance(retry, RetryPolicy):
            raise ConfigError(f"retry: must be a RetryPolicy or None, got {type(retry).__name__}")
        if not callable(writer):
            raise ConfigError(f"writer: must be callable, got {type(writer).__name__}")
        super().__init__(
            batch_size=batch_size if batch else 1,
            max_request_size=max(batch_size, 1000),
            max_interval=max_interval if batch else 0.0,
            memory_budget_mib=memory_budget_mib,
            max_queue_size=max_queue_size,
            max_concurrency=1,
            close_timeout=close_timeout,
            clock=clock,
            wait=wait,
            log_interval=log_interval,
        )
        self._record_lane = _RECORDS
        self._directory = Path(directory)
        self._rotation = rotation.lower()
        self._tz = tz
        self._retry = retry or RetryPolicy(max_retries=3, base_delay=1.0, max_delay=4.0)
        self._sleep = sleep
        self._jitter = jitter
        self._wall_ms = wall_clock_ms
        self._writer = writer
        self._delivery = LogDelivery(self)

    @property
    def directory(self) -> Path:
        return self._directory

    def _needs_transport(self) -> bool:
        return False

    def _lane_of(self, item: Any) -> LaneKey:
        if type(item) is dict:
            return _RECORDS
        if isinstance(item, UserEvent):
            return ("optimizely", item.context.revision, item.context.project_id)
        raise ArgumentTypeError(
            f"submit: expected an Analysys record dict or a UserEvent, got {type(item).__name__}"
        )

    def _millis(self, item: Any) -> int:
        if isinstance(item, UserEvent):
            return item.timestamp
        when = item.get("xwhen")
        return when if type(when) is int and when > 0 else self._wall_ms()

    def _render(self, lane: LaneKey, items: list[Any]) -> tuple[dict[str, list[bytes]], int]:
        """Lines per file name; each line holds one item (records) or one batch (events)."""
        files: dict[str, list[bytes]] = {}
        bad = 0
        if lane == _RECORDS:
            for item in items:
                name = log_file_name("datas", self._millis(item), self._rotation, self._tz)
                try:
                    files.setdefault(name, []).append(orjson.dumps(item))
                except TypeError:
                    bad += 1
            return files, bad
        by_file: dict[str, list[UserEvent]] = {}
        for event in items:
            name = log_file_name("optimizely", event.timestamp, self._rotation, self._tz)
            by_file.setdefault(name, []).append(event)
        for name, events in by_file.items():
            lines = files[name] = []
            for event in events:  # one line per event keeps a bad tag from costing the others
                try:
                    lines.append(orjson.dumps(build_event_batch([event])))
                except TypeError:
                    bad += 1
        return files, bad

    def _lines(self, lane: LaneKey, items: list[Any]) -> dict[str, bytes]:
        files, bad = self._render(lane, items)
        if bad:
            self._stats.drop(DROP_UNENCODABLE, bad)
            logger.warning("LogCollector: dropped %d item(s) that cannot be serialised", bad)
        out: dict[str, bytes] = {}
        size = 0
        for name, lines in files.items():
            if lines:
                data = out[name] = b"\n".join(lines) + b"\n"
                size += len(data)
        self._acc.observe(size, len(items) - bad)
        return out

    def _write_now(self, lane: LaneKey, items: list[Any]) -> None:
        """Append one chunk on the caller's stack (``submit`` past the memory budget)."""
        stats = self._stats
        for name, data in self._lines(lane, items).items():
            count = data.count(b"\n")
            stats.requests += 1
            try:
                self._writer(self._directory / name, data)
            except OSError as exc:
                # the disk refused at once: queue the lines for the writer task, which
                # retries with backoff (memory grows by one chunk at most per call)
                stats.failed_requests += 1
                stats.last_error = f"{name}: {exc}"
                stats.drop(DROP_RETRIES_EXHAUSTED, count)
                logger.warning(
                    "LogCollector: dropped %d item(s) for %s: an overflow write failed (%s)",
                    count,
                    name,
                    exc,
                )
            else:
                stats.delivered += count

    async def _write(self, lane: LaneKey, items: list[Any]) -> None:
        stats = self._stats
        loop = asyncio.get_running_loop()
        for name, data in self._lines(lane, items).items():
            path = self._directory / name
            count = data.count(b"\n")

            async def attempt(path: Path = path, data: bytes = data) -> Attempt:
                stats.requests += 1
                try:
                    await loop.run_in_executor(None, self._writer, path, data)
                except OSError as exc:
                    stats.failed_requests += 1
                    stats.last_error = f"{path}: {exc}"
                    return Attempt(False, True, "write", None, str(exc))
                return Attempt(ok=True)

            outcome = await call_with_retries(
                attempt,
                self._retry,
                sleep=self._sleep,
                jitter=self._jitter,
                on_retry=self._on_retry,
            )
            if outcome.ok:
                stats.delivered += count
            else:
                stats.drop(DROP_RETRIES_EXHAUSTED, count)
                logger.warning(
                    "LogCollector: dropped %d item(s) for %s: %s", count, path, outcome.detail
                )

    def _on_retry(self, outcome: Attempt, delay: float) -> None:
        self._stats.retried += 1
        logger.info("LogCollector: retrying a write in %.2fs after %s", delay, outcome.detail)
