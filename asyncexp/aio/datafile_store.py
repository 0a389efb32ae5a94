"""Where the last good datafile is kept, so a worker starting during a CDN outage decides.

Rules:

* :class:`DatafileStore` is the protocol: ``load(if_not=revision)`` returns
  the stored datafile (None when there is none, or when its revision is
  ``if_not``), ``save(stored)`` replaces it. Both raise on failure; the
  caller degrades (see :mod:`asyncexp.aio.shared_datafile`).
* :class:`PollLeader` is the optional protocol for one poller per group:
  ``acquire()`` takes or renews a lease (True: this client polls the CDN
  now), ``release()`` gives it up, ``announce(revision)`` tells the others a
  new revision is stored, and ``next_announcement(timeout)`` waits for one.
  ``asyncexp.stores.RedisPollLeader`` is one.
* :class:`FileDatafileStore` keeps the datafile body itself in one file (so a
  datafile downloaded by hand is a valid store); it is written to a temporary
  file and renamed over the old one (a reader never sees half a file), in the
  default executor. Its age is the file's modification time. A file over
  ``max_bytes`` is not read.
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from asyncexp.errors import ConfigError

__all__ = ["DatafileStore", "FileDatafileStore", "PollLeader", "StoredDatafile"]

MAX_STORED_BYTES = 32 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class StoredDatafile:
    body: bytes
    revision: str | None
    """The revision when the store knows it (None: parse the body to learn it)."""
    saved_at: float
    """Wall-clock seconds (``time.time()``) of the save."""

    def __repr__(self) -> str:
        return f"StoredDatafile(revision={self.revision!r}, bytes={len(self.body)})"


class DatafileStore(Protocol):
    async def load(self, if_not: str | None = None) -> StoredDatafile | None: ...

    async def save(self, stored: StoredDatafile) -> None: ...


class PollLeader(Protocol):
    async def acquire(self) -> bool: ...

    async def release(self) -> None: ...

    async def announce(self, revision: str) -> None: ...

    async def next_announcement(self, timeout: float) -> str | None: ...


class FileDatafileStore:
    """The last good datafile in one file at ``path``."""

    def __init__(self, path: str | os.PathLike[str], *, max_bytes: int = MAX_STORED_BYTES) -> None:
        if not str(path):
            raise ConfigError("datafile_store: the path is empty")
        self.path = Path(path)
        self._max_bytes = max_bytes

    def __repr__(self) -> str:
        return f"FileDatafileStore({str(self.path)!r})"

    async def load(self, if_not: str | None = None) -> StoredDatafile | None:
        return await asyncio.get_running_loop().run_in_executor(None, self._read)

    def _read(self) -> StoredDatafile | None:
        try:
            with self.path.open("rb") as handle:
                stat = os.fstat(handle.fileno())
                if stat.st_size > self._max_bytes:
                    raise ValueError(f"the stored datafile is over {self._max_bytes} bytes")
                body = handle.read(self._max_bytes + 1)
        except FileNotFoundError:
            return None
        if len(body) > self._max_bytes:
            raise ValueError(f"the stored datafile is over {self._max_bytes} bytes")
        return StoredDatafile(body, None, stat.st_mtime)

    async def save(self, stored: StoredDatafile) -> None:
        await asyncio.get_running_loop().run_in_executor(None, self._write, stored.body)

    def _write(self, body: bytes) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.{time.monotonic_ns()}.tmp")
        try:
            with tmp.open("wb") as handle:
                handle.write(body)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
        finally:
            tmp.unlink(missing_ok=True)
