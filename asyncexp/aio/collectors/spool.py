"""The disk spool: encoded request bodies that could not be delivered, kept for later.

What goes in: request-sized chunks that did not fit the collector's memory
budget (written by ``submit`` itself, see :mod:`.spool_writer`), chunks
diverted while the destination is failing (outage mode), a batch whose retries
ran out, and everything still queued or in flight when a collector's close
deadline passed or its close was cancelled. What is kept is the exact request
(URL, headers, body), so a re-send carries the records' original times and
ids byte for byte.

Layout of ``directory``:

* ``<created_ns>-<pid>-<n>.batch``: one request each; the name sorts oldest first.
  Line 1 is a JSON header (``v``, ``url``, ``headers``, ``count``, ``check_code``,
  ``length``, ``sha256``, optionally ``unconfirmed``: how many times a server
  answered HTTP 2xx to it without ``{"code":200}``), then exactly ``length``
  body bytes.
* A file being re-sent is held under an exclusive ``flock`` by the sending
  process, so pre-forked workers sharing a spool never send it twice at once;
  the kernel drops the lock when a process dies, so a crash loses nothing.
* ``corrupt/``: files that failed to parse or to match their checksum, moved
  aside (never deleted, never fatal) and logged once each.
* Anything else (a directory named ``x.batch``, a file someone put there) is
  skipped, counted once in ``skipped`` and never deleted; it never stops a
  re-send pass.
* ``.<name>.tmp``: a write in progress. Writers hold the directory ``flock``
  while a temporary file exists, so one found under that lock is the leftover
  of a write that failed or was killed: it is removed (its bytes counted
  against the cap until then) and counted in ``tmp_removed``.

Files are written to a temporary name and renamed, so a reader never sees half
a file; a failed write removes its temporary file. ``durable=True`` (writes
from the background tasks) also fsyncs; the small synchronous writes ``submit``
makes when the memory budget is used up skip the fsync (they survive the
process being killed, not the machine losing power). A file is removed only
after the server acknowledged it (or refused it for good).

Size cap: ``max_bytes`` of ``.batch`` files. A new batch that does not fit is
dropped (``on_full="drop_new"``, the default) or makes room by deleting the
oldest files (``"drop_oldest"``), skipping files another sender is re-sending
right now (if only those are left, the new batch is dropped); either way the
items are counted. Check and write happen under a directory ``flock``, so
concurrent writers (threads, pre-forked workers) share the cap. The bytes in
use are cached and the directory re-read every ``_RESCAN_EVERY`` writes or
when the cache says the cap is near, so a write does not list the directory.

Every method here blocks on the file system: the collectors call them through
the loop's executor.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import logging
import os
import re
import stat
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Union

import orjson

from asyncexp.aio import filelock
from asyncexp.errors import ConfigError

__all__ = [
    "Claim",
    "OnFull",
    "SpoolBatch",
    "SpoolFull",
    "SpoolSetting",
    "SpoolStore",
    "default_spool_dir",
    "resolve_spool",
]

logger = logging.getLogger("asyncexp.aio.collectors.spool")

OnFull = Literal["drop_new", "drop_oldest"]
_SUFFIX = ".batch"
_MAX_HEADER = 64 * 1024
_RESCAN_EVERY = 256
_OWN = re.compile(r"^\d{20}-\d+-\d+\.batch$")


def default_spool_dir(name: str) -> Path:
    """``$ASYNCEXP_SPOOL_DIR/<name>``, else ``<XDG cache or ~/.cache>/asyncexp/spool/<name>``."""
    root = os.environ.get("ASYNCEXP_SPOOL_DIR")
    if root:
        return Path(root) / name
    return filelock.user_cache_dir() / "asyncexp" / "spool" / name


SpoolSetting = Union["SpoolStore", str, "os.PathLike[str]", bool]
"""``True``: the default directory; ``False``: no spool; a path; or a :class:`SpoolStore`."""


def resolve_spool(
    setting: SpoolSetting, destination: str | None, max_bytes: int, on_full: OnFull
) -> SpoolStore | None:
    """The store a collector uses; the default directory is named after its destination."""
    if setting is False:
        return None
    if isinstance(setting, SpoolStore):
        return setting
    if setting is True:
        digest = hashlib.sha256((destination or "optimizely-events").encode()).hexdigest()
        return SpoolStore(default_spool_dir(digest[:16]), max_bytes=max_bytes, on_full=on_full)
    if isinstance(setting, str | os.PathLike):
        return SpoolStore(setting, max_bytes=max_bytes, on_full=on_full)
    raise ConfigError(f"spool: must be a bool, a path or a SpoolStore, got {setting!r}")


class SpoolFull(Exception):  # noqa: N818 - a signal between spool and collector, never raised to users
    """The batch does not fit under ``max_bytes`` with ``on_full="drop_new"``."""


@dataclass(frozen=True, slots=True)
class Claim:
    """A spool file locked by this process, and its open descriptor."""

    path: Path
    fd: int


@dataclass(frozen=True, slots=True)
class SpoolBatch:
    """One spooled request."""

    url: str
    headers: dict[str, str]
    body: bytes
    count: int
    check_code: bool
    unconfirmed: int = 0
    """HTTP 2xx answers without ``{"code":200}`` this request already got."""


class SpoolStore:
    """A directory of spooled requests (see the module docstring)."""

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        max_bytes: int = 64 << 20,
        on_full: OnFull = "drop_new",
    ) -> None:
        if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 1:
            raise ConfigError(f"spool max_bytes: must be an int >= 1, got {max_bytes!r}")
        if on_full not in ("drop_new", "drop_oldest"):
            raise ConfigError(
                f"spool on_full: must be 'drop_new' or 'drop_oldest', got {on_full!r}"
            )
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self.on_full: OnFull = on_full
        self._names = itertools.count()
        self._used: int | None = None
        self._writes = 0
        self._unreadable = False
        self.tmp_removed = 0
        """Leftover temporary files of interrupted writes removed so far."""
        self.skipped: set[str] = set()
        """Names of directory entries that are not spool files (never touched)."""

    def __repr__(self) -> str:
        return f"SpoolStore({str(self.directory)!r}, max_bytes={self.max_bytes})"

    # -- writing ---------------------------------------------------------------------------
    def write(self, batch: SpoolBatch, *, durable: bool = True) -> int:
        """Store ``batch``; returns the items dropped from older files to make room.

        Raises :class:`SpoolFull` (``drop_new``) or ``OSError`` (nothing is
        left behind: the temporary file is removed).
        """
        data = self._encode(batch)
        self.directory.mkdir(parents=True, exist_ok=True)
        # The room check and the write are one step under a directory lock:
        # executor threads and pre-forked workers share the cap.
        lock = os.open(self.directory / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            filelock.lock(lock)
            evicted = self._make_room(len(data))
            name = f"{time.time_ns():020d}-{os.getpid()}-{next(self._names):06d}{_SUFFIX}"
            self._write_file(self.directory / name, data, durable)
            if self._used is not None:
                self._used += len(data)
        finally:
            filelock.unlock_and_close(lock)
        return evicted

    def rewrite(self, claim: Claim, batch: SpoolBatch) -> None:
        """Replace a claimed file's content (same name, so it keeps its place in line)."""
        self._write_file(claim.path, self._encode(batch), True)

    @staticmethod
    def _encode(batch: SpoolBatch) -> bytes:
        head: dict[str, object] = {
            "v": 1,
            "url": batch.url,
            "headers": batch.headers,
            "count": batch.count,
            "check_code": batch.check_code,
            "length": len(batch.body),
            "sha256": hashlib.sha256(batch.body).hexdigest(),
        }
        if batch.unconfirmed:
            head["unconfirmed"] = batch.unconfirmed
        return orjson.dumps(head) + b"\n" + batch.body

    def _write_file(self, target: Path, data: bytes, durable: bool) -> None:
        temp = target.with_name(f".{target.name}.tmp")
        try:
            with open(temp, "wb") as out:
                out.write(data)
                if durable:
                    out.flush()
                    os.fsync(out.fileno())
            os.replace(temp, target)
        except BaseException:
            with contextlib.suppress(OSError):
                temp.unlink()
            raise

    def _make_room(self, size: int) -> int:
        self._writes += 1
        used = self._used
        if used is not None and self._writes % _RESCAN_EVERY and used + size <= self.max_bytes:
            return 0
        files = self._batch_files(sweep=True)  # under the directory lock: .tmp are leftovers
        used = self._used = sum(size_ for _, size_ in files)
        if used + size <= self.max_bytes:
            return 0
        if self.on_full == "drop_new" or size > self.max_bytes:
            raise SpoolFull(f"spool holds {used} of {self.max_bytes} bytes")
        evicted = 0
        for path, size_ in files:  # oldest first
            if used + size <= self.max_bytes:
                break
            claim = self.claim(path)
            if claim is None:  # being re-sent right now (or gone): not ours to evict
                continue
            evicted += self._count_of(path)
            self.remove(claim)
            used -= size_
        self._used = used
        if used + size > self.max_bytes:
            raise SpoolFull(f"spool holds {used} of {self.max_bytes} bytes, all being re-sent")
        return evicted

    def sweep(self) -> int:
        """Under the directory lock, remove leftover ``.tmp`` files; returns the bytes in use."""
        if not self.directory.is_dir():
            return 0
        lock = os.open(self.directory / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            filelock.lock(lock)
            used = self._used = sum(size for _, size in self._batch_files(sweep=True))
        finally:
            filelock.unlock_and_close(lock)
        return used

    # -- reading ---------------------------------------------------------------------------
    def pending(self) -> list[Path]:
        """Unclaimed batch files, oldest first."""
        return [path for path, _ in self._batch_files()]

    def bytes_used(self) -> int:
        used = self._used = sum(size for _, size in self._batch_files())
        return used

    def cached_bytes_used(self) -> int | None:
        """The last known bytes in use (no file system call); ``None`` before the first scan."""
        return self._used

    def claim(self, path: Path) -> Claim | None:
        """Lock ``path`` for this process; ``None`` if another process is sending it or it is gone.

        The lock is an ``flock``: the kernel drops it when the process dies, so a
        crash mid-send leaves the file for the next run.
        """
        try:
            fd = os.open(path, os.O_RDWR | getattr(os, "O_NOFOLLOW", 0))
        except OSError:  # gone, a directory, a link: not a spool file we can send
            return None
        if not filelock.try_lock(fd):
            os.close(fd)
            return None
        if os.fstat(fd).st_nlink == 0:  # acknowledged and removed while we waited
            filelock.unlock_and_close(fd)
            return None
        return Claim(path, fd)

    def release(self, claim: Claim) -> None:
        """Give a claimed file back (the send failed; it is tried again later)."""
        filelock.unlock_and_close(claim.fd)

    def remove(self, claim: Claim) -> None:
        """The server acknowledged it: delete, then unlock."""
        try:
            size = os.fstat(claim.fd).st_size
            claim.path.unlink()
        except FileNotFoundError:
            pass
        else:
            if self._used is not None:
                self._used = max(0, self._used - size)
        finally:
            filelock.unlock_and_close(claim.fd)

    def read(self, claim: Claim) -> SpoolBatch:
        """Parse a claimed file; raises ``ValueError`` when it is corrupt or partial."""
        with open(claim.fd, "rb", closefd=False) as handle:
            handle.seek(0)
            data = handle.read()
        newline = data.find(b"\n", 0, _MAX_HEADER)
        if newline < 0:
            raise ValueError("no header line")
        try:
            header = orjson.loads(data[:newline])
        except orjson.JSONDecodeError as exc:
            raise ValueError(f"header is not JSON: {exc}") from exc
        body = data[newline + 1 :]
        try:
            ok = (
                header["v"] == 1
                and isinstance(header["url"], str)
                and header["url"].startswith(("http://", "https://"))
                and isinstance(header["headers"], dict)
                and all(isinstance(v, str) for v in header["headers"].values())
                and type(header["count"]) is int
                and header["count"] >= 0
                and type(header["check_code"]) is bool
                and header["length"] == len(body)
                and header["sha256"] == hashlib.sha256(body).hexdigest()
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"header field missing or mistyped: {exc!r}") from exc
        if not ok:
            raise ValueError("header does not match the body (partial or damaged file)")
        unconfirmed = header.get("unconfirmed", 0)
        return SpoolBatch(
            header["url"],
            header["headers"],
            body,
            header["count"],
            header["check_code"],
            unconfirmed if type(unconfirmed) is int and unconfirmed > 0 else 0,
        )

    def quarantine(self, claim: Claim, reason: str) -> Path:
        """Move a corrupt file into ``corrupt/`` and say so once."""
        target_dir = self.directory / "corrupt"
        target_dir.mkdir(exist_ok=True)
        target = target_dir / claim.path.name
        os.replace(claim.path, target)
        filelock.unlock_and_close(claim.fd)
        logger.warning(
            "spool file %s is unreadable (%s); moved to %s", claim.path.name, reason, target
        )
        return target

    # -- helpers ---------------------------------------------------------------------------
    def _batch_files(self, *, sweep: bool = False) -> list[tuple[Path, int]]:
        """Our ``.batch`` files with their sizes, oldest first; with ``sweep`` (only
        under the directory lock) leftover ``.tmp`` files are removed."""
        out: list[tuple[Path, int]] = []
        try:
            entries = list(os.scandir(self.directory))
        except FileNotFoundError:
            return out
        except OSError as exc:  # not a directory, no permission: nothing we can send
            if not self._unreadable:
                self._unreadable = True
                logger.warning("spool directory %s cannot be listed: %s", self.directory, exc)
            return out
        self._unreadable = False
        for entry in entries:
            name = entry.name
            if name in (".lock", "corrupt"):
                continue
            try:
                info = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue
            regular = stat.S_ISREG(info.st_mode)
            if regular and name.startswith(".") and name.endswith(".tmp"):
                if sweep:
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(entry.path)
                        self.tmp_removed += 1
                        logger.warning("removed %s, left by an interrupted spool write", name)
                continue
            if not regular or not _OWN.match(name):
                if name not in self.skipped:
                    self.skipped.add(name)
                    logger.warning("spool entry %s is not a spool file; skipped", name)
                continue
            out.append((Path(entry.path), info.st_size))
        out.sort(key=lambda item: item[0].name)
        return out

    def _count_of(self, path: Path) -> int:
        try:
            with open(path, "rb") as handle:
                count = orjson.loads(handle.readline(_MAX_HEADER)).get("count", 0)
        except (OSError, ValueError, AttributeError):
            return 0
        return count if type(count) is int else 0
