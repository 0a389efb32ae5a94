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
* ``claims/<name>``: the claim file of a spool file. A sender holds its
  exclusive lock (:mod:`asyncexp.aio.filelock`) from before it opens the spool
  file until after the spool file was removed, moved or rewritten, so
  pre-forked workers sharing a spool never send one file twice at once, and
  the operating system drops the lock when a process dies, so a crash loses
  nothing. The lock is on a separate file because Windows refuses to remove or
  rename a file while any handle to it is open: every remove and rename of a
  spool file happens after its own handle was closed, with the claim file's
  lock still held. The spool file itself is also locked while open, so a
  sender of an earlier asyncexp version (which locks only the spool file)
  skips it too. A
  claim file is removed once its spool file is gone; one left behind (a crash,
  or Windows refusing while another worker has it open) is removed by a later
  :meth:`SpoolStore.sweep`. Spool file names are never reused, so a claim
  file whose spool file is gone is never needed again.
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
from collections.abc import Iterator
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
_CLAIMS = "claims"
# Windows opens in text mode unless told otherwise (CRLF translation, ^Z as the end)
_BINARY = getattr(os, "O_BINARY", 0)
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
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


@dataclass(slots=True)
class Claim:
    """A spool file this process holds (see the module docstring)."""

    path: Path
    fd: int
    """The spool file, open and locked; -1 once closed (before a remove, move or rewrite)."""
    lock_fd: int
    """``claims/<name>``, locked until the claim ends."""


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
        with self._directory_lock():
            evicted = self._make_room(len(data))
            name = f"{time.time_ns():020d}-{os.getpid()}-{next(self._names):06d}{_SUFFIX}"
            self._write_file(self.directory / name, data, durable)
            if self._used is not None:
                self._used += len(data)
        return evicted

    def rewrite(self, claim: Claim, batch: SpoolBatch) -> None:
        """Replace a claimed file's content (same name, so it keeps its place in line).

        The claim's own handle is closed first (Windows cannot replace an open
        file); the claim file's lock keeps the file this process's until
        :meth:`release`. The temporary file exists only under the directory
        lock, as for :meth:`write`, so a sweep never takes it for a leftover.
        """
        self._close_data(claim)
        with self._directory_lock():
            self._write_file(claim.path, self._encode(batch), True)

    @contextlib.contextmanager
    def _directory_lock(self) -> Iterator[None]:
        lock = os.open(self.directory / ".lock", os.O_RDWR | os.O_CREAT | _BINARY, 0o644)
        try:
            filelock.lock(lock)
            yield
        finally:
            filelock.unlock_and_close(lock)

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
            evicted += self._count_of(claim)
            self.remove(claim)
            used -= size_
        self._used = used
        if used + size > self.max_bytes:
            raise SpoolFull(f"spool holds {used} of {self.max_bytes} bytes, all being re-sent")
        return evicted

    def sweep(self) -> int:
        """Under the directory lock, remove leftover ``.tmp`` files and the claim files
        of spool files that are gone; returns the bytes in use."""
        if not self.directory.is_dir():
            return 0
        with self._directory_lock():
            used = self._used = sum(size for _, size in self._batch_files(sweep=True))
        self._sweep_claims()
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
        """Hold ``path`` for this process; ``None`` if another process is sending it or it is gone.

        Locks the claim file first, then opens and locks the spool file (see the
        module docstring). The locks go when the process dies, so a crash
        mid-send leaves the file for the next run.
        """
        claim_path = path.parent / _CLAIMS / path.name
        try:
            lock_fd = _open_claim_file(claim_path)
        except OSError:  # no spool directory, no permission: not a file we can send
            return None
        if not filelock.try_lock(lock_fd):
            os.close(lock_fd)
            return None
        try:
            fd = os.open(path, os.O_RDWR | _NOFOLLOW | _BINARY)
        except FileNotFoundError:  # sent and removed meanwhile
            _end_claim(lock_fd, claim_path, gone=True)
            return None
        except OSError:  # a directory, a link: not a spool file we can send
            _end_claim(lock_fd, claim_path, gone=False)
            return None
        if not filelock.try_lock(fd):  # an earlier asyncexp version is sending it
            os.close(fd)
            _end_claim(lock_fd, claim_path, gone=False)
            return None
        if os.fstat(fd).st_nlink == 0:  # removed by such a sender while we opened it
            filelock.unlock_and_close(fd)
            _end_claim(lock_fd, claim_path, gone=True)
            return None
        return Claim(path, fd, lock_fd)

    def release(self, claim: Claim) -> None:
        """Give a claimed file back (the send failed; it is tried again later)."""
        try:
            self._close_data(claim)
        finally:
            _end_claim(claim.lock_fd, _claim_path(claim), gone=False)

    def remove(self, claim: Claim) -> None:
        """The server acknowledged it: close, delete, then end the claim."""
        gone = False
        try:
            size = os.fstat(claim.fd).st_size if claim.fd >= 0 else None
            self._close_data(claim)  # Windows refuses to delete an open file
            try:
                os.unlink(claim.path)
            except FileNotFoundError:
                size = None
            gone = True
            if size is not None and self._used is not None:
                self._used = max(0, self._used - size)
        finally:
            self._close_data(claim)
            _end_claim(claim.lock_fd, _claim_path(claim), gone=gone)

    @staticmethod
    def _close_data(claim: Claim) -> None:
        """Close the claim's handle of the spool file (its claim file stays locked)."""
        fd, claim.fd = claim.fd, -1
        if fd >= 0:
            filelock.unlock_and_close(fd)

    def read(self, claim: Claim) -> SpoolBatch:
        """Parse a claimed file; raises ``ValueError`` when it is corrupt or partial."""
        data = _read_all(claim)
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
        target = target_dir / claim.path.name
        moved = False
        try:
            self._close_data(claim)  # Windows refuses to move an open file
            target_dir.mkdir(exist_ok=True)
            os.replace(claim.path, target)
            moved = True
        finally:
            _end_claim(claim.lock_fd, _claim_path(claim), gone=moved)
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
            if name in (".lock", "corrupt", _CLAIMS):
                continue
            try:
                info = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue
            regular = stat.S_ISREG(info.st_mode)
            if regular and name.startswith(".") and name.endswith(".tmp"):
                if sweep:
                    try:
                        os.unlink(entry.path)
                    except FileNotFoundError:
                        pass
                    except OSError as exc:  # Windows: someone (a scanner) has it open
                        logger.debug("leftover %s not removed yet: %s", name, exc)
                    else:
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

    def _sweep_claims(self) -> None:
        """Remove claim files whose spool file is gone (names are never reused, so
        one whose spool file is absent now is never needed again)."""
        claims = self.directory / _CLAIMS
        try:
            names = os.listdir(claims)
        except OSError:
            return
        for name in names:
            if not os.path.lexists(self.directory / name):
                with contextlib.suppress(OSError):  # Windows: another worker has it open
                    os.unlink(claims / name)

    @staticmethod
    def _count_of(claim: Claim) -> int:
        try:
            head = _read_all(claim, limit=_MAX_HEADER).split(b"\n", 1)[0]
            count = orjson.loads(head).get("count", 0)
        except (OSError, ValueError, AttributeError):
            return 0
        return count if type(count) is int else 0


def _claim_path(claim: Claim) -> Path:
    return claim.path.parent / _CLAIMS / claim.path.name


def _open_claim_file(path: Path) -> int:
    flags = os.O_RDWR | os.O_CREAT | _BINARY
    try:
        return os.open(path, flags, 0o644)
    except FileNotFoundError:  # the first claim in this spool
        path.parent.mkdir(exist_ok=True)
        return os.open(path, flags, 0o644)


def _end_claim(lock_fd: int, path: Path, *, gone: bool) -> None:
    """Unlock and close a claim file; remove it too when its spool file is ``gone``.

    Only then: while the spool file exists, removing its claim file would let
    a sender holding the old one and a sender creating a new one both claim it.
    """
    filelock.unlock_and_close(lock_fd)
    if gone:
        with contextlib.suppress(OSError):  # Windows: another worker has it open
            os.unlink(path)


def _read_all(claim: Claim, limit: int = -1) -> bytes:
    """The claimed file from its start, through the claim's own handle (one reader at a time)."""
    with open(claim.fd, "rb", closefd=False) as handle:
        handle.seek(0)
        return handle.read(limit)
