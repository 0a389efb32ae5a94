"""Portable exclusive file locks, and the platform's cache directory.

The spool, the log collector and ``asyncexp ship`` lock files so that threads
and pre-forked workers never write or re-send the same file twice. The lock
comes from the first of these that the platform has:

* ``fcntl`` (Linux, macOS, the BSDs): ``flock``; the kernel drops it when the
  process dies or the descriptor is closed;
* ``msvcrt`` (Windows): ``msvcrt.locking`` of one byte at a fixed offset far
  beyond the data (``_WINDOWS_OFFSET``), so that the mandatory Windows lock
  never blocks reads of the file itself; Windows drops it when the handle is
  closed;
* neither (a restricted interpreter): a lock table in this process, keyed by
  the file's device and inode. It excludes the threads of this process only;
  other processes are not excluded, which is logged once at WARNING.

``lock(fd)`` waits; ``try_lock(fd)`` does not (False when another holder has
it); ``unlock(fd)`` releases; ``unlock_and_close(fd)`` releases and closes
(with ``fcntl`` closing alone would do, but the other back ends need the
release). Each lock is exclusive and held per open descriptor: two descriptors
of one file in the same process exclude each other, as ``flock`` does.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import sys
import threading
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Literal

__all__ = [
    "BACKEND",
    "Backend",
    "lock",
    "try_lock",
    "unlock",
    "unlock_and_close",
    "user_cache_dir",
]

logger = logging.getLogger("asyncexp.aio.filelock")

Backend = Literal["fcntl", "msvcrt", "process"]

# msvcrt.locking locks from the file position; this offset is past any spool or
# log file, and within a 32-bit position.
_WINDOWS_OFFSET = 0x7FFF_FFF0


def _optional_module(name: str) -> ModuleType | None:
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


_fcntl = _optional_module("fcntl")
_msvcrt = None if _fcntl is not None else _optional_module("msvcrt")

BACKEND: Backend = "fcntl" if _fcntl is not None else "msvcrt" if _msvcrt is not None else "process"
"""Which lock this process uses."""


class _ProcessLocks:
    """The fallback: one lock per (device, inode), and which descriptor holds it."""

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._free = threading.Condition(self._mutex)
        self._holders: dict[tuple[int, int], int] = {}
        self._held: dict[int, tuple[int, int]] = {}
        self._warned = False

    def acquire(self, fd: int, blocking: bool) -> bool:
        info = os.fstat(fd)
        key = (info.st_dev, info.st_ino)
        with self._free:
            if not self._warned:
                self._warned = True
                logger.warning(
                    "neither fcntl nor msvcrt is available: file locks exclude the threads "
                    "of this process only, not other processes sharing the files"
                )
            while key in self._holders:
                if self._holders[key] == fd:
                    return True  # flock semantics: locking again through the holder is a no-op
                if not blocking:
                    return False
                self._free.wait()
            self._holders[key] = fd
            self._held[fd] = key
            return True

    def release(self, fd: int) -> None:
        with self._free:
            key = self._held.pop(fd, None)
            if key is not None and self._holders.get(key) == fd:
                del self._holders[key]
                self._free.notify_all()


_process_locks = _ProcessLocks()


def _windows_lock(fd: int, mode: int) -> None:
    assert _msvcrt is not None
    position = os.lseek(fd, 0, os.SEEK_CUR)
    os.lseek(fd, _WINDOWS_OFFSET, os.SEEK_SET)
    try:
        _msvcrt.locking(fd, mode, 1)
    finally:
        os.lseek(fd, position, os.SEEK_SET)


def lock(fd: int) -> None:
    """Take the exclusive lock of the open file ``fd``, waiting for it."""
    if _fcntl is not None:
        _fcntl.flock(fd, _fcntl.LOCK_EX)
    elif _msvcrt is not None:
        while True:  # LK_LOCK gives up after about 10 seconds: wait on
            try:
                _windows_lock(fd, _msvcrt.LK_LOCK)
                return
            except OSError:
                continue
    else:
        _process_locks.acquire(fd, blocking=True)


def try_lock(fd: int) -> bool:
    """Take the exclusive lock of ``fd`` if nobody holds it; False (at once) otherwise."""
    if _fcntl is not None:
        try:
            _fcntl.flock(fd, _fcntl.LOCK_EX | _fcntl.LOCK_NB)
        except OSError:  # BlockingIOError; EWOULDBLOCK
            return False
        return True
    if _msvcrt is not None:
        try:
            _windows_lock(fd, _msvcrt.LK_NBLCK)
        except OSError:
            return False
        return True
    return _process_locks.acquire(fd, blocking=False)


def unlock(fd: int) -> None:
    """Release the lock of ``fd`` (a no-op when it holds none)."""
    if _fcntl is not None:
        _fcntl.flock(fd, _fcntl.LOCK_UN)
    elif _msvcrt is not None:
        with contextlib.suppress(OSError):  # not locked
            _windows_lock(fd, _msvcrt.LK_UNLCK)
    else:
        _process_locks.release(fd)


def unlock_and_close(fd: int) -> None:
    """Release the lock of ``fd``, then close it (the close happens even if the release fails)."""
    try:
        if _fcntl is None:  # with flock the close releases; save the system call
            unlock(fd)
    finally:
        os.close(fd)


def user_cache_dir(
    *,
    platform: str | None = None,
    environ: Mapping[str, str] | None = None,
    home: Path | None = None,
) -> Path:
    """The platform's per-user cache directory.

    ``%LOCALAPPDATA%`` on Windows (else ``~\\AppData\\Local``), ``~/Library/Caches``
    on macOS, ``$XDG_CACHE_HOME`` (if absolute) or ``~/.cache`` elsewhere. The
    keywords are for tests.
    """
    platform = sys.platform if platform is None else platform
    env = os.environ if environ is None else environ
    base = Path(os.path.expanduser("~")) if home is None else home
    if platform == "win32":
        local = env.get("LOCALAPPDATA")
        return Path(local) if local else base / "AppData" / "Local"
    if platform == "darwin":
        return base / "Library" / "Caches"
    xdg = env.get("XDG_CACHE_HOME")
    if xdg and os.path.isabs(xdg):
        return Path(xdg)
    return base / ".cache"
