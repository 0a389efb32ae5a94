"""``SharedDatafile``: the last good datafile kept in a store, and one poller per group.

Rules:

* ``start()`` loads the stored datafile, before the first CDN request: when
  one parses, it is applied at once (decisions are served from the first
  call, even while the CDN is down), ``on_stored(revision, age_seconds)`` is
  called (the client sends the ``STORED_DATAFILE`` notification) and one line
  is logged with its revision and age. A failed load or a bad stored body is
  logged and counted; the client then waits for the CDN as without a store.
* ``persist(body, config)``: the datafile source calls it after applying a
  new revision fetched from the CDN (the leader's poll, or any worker's
  ``refresh()``); the body is saved, and with a leader the revision is
  announced. A failed save is counted and logged, never raised.
* With a :class:`~asyncexp.aio.datafile_store.PollLeader`: before each
  scheduled CDN request the source asks ``may_poll()``; only the holder of
  the lease polls (it renews it each round; when it dies the lease expires
  and the next worker to ask takes over). Others follow: a task waits for
  announcements (and, every ``follow_interval`` seconds without one, checks
  the store anyway) and applies each new stored revision. When the leader
  cannot be reached (Redis down) ``may_poll()`` answers True: every worker
  polls the CDN itself until it is back.
* ``aclose()`` stops the follower task and releases the lease.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from asyncexp.aio.datafile_store import DatafileStore, PollLeader, StoredDatafile
from asyncexp.core.flags.datafile import ProjectConfig

__all__ = ["SharedDatafile", "SharedDatafileStats"]

logger = logging.getLogger("asyncexp.datafile")

EXECUTOR_PARSE_BYTES = 128 * 1024


@dataclass(slots=True)
class SharedDatafileStats:
    started_from_store: bool = False
    stored_revision: str | None = None
    stored_age: float | None = None
    saves: int = 0
    save_failures: int = 0
    load_failures: int = 0
    invalid_stored: int = 0
    announcements: int = 0
    """Revisions this client announced as leader."""
    announcements_received: int = 0
    follower_updates: int = 0
    """Revisions applied from the store on an announcement or a check."""
    leader_rounds: int = 0
    follower_rounds: int = 0
    leader_unreachable: int = 0


class SharedDatafile:
    """The store (and optional leader) side of a client's datafile."""

    def __init__(
        self,
        store: DatafileStore,
        *,
        apply: Callable[[ProjectConfig], None],
        parse: Callable[[bytes], ProjectConfig],
        current_revision: Callable[[], str | None],
        on_stored: Callable[[str, float], None] | None = None,
        leader: PollLeader | None = None,
        follow_interval: float = 300.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.leader = leader
        self._apply = apply
        self._parse = parse
        self._current_revision = current_revision
        self._on_stored = on_stored
        self._follow_interval = follow_interval
        self._clock = clock
        self._task: asyncio.Task[None] | None = None
        self._leading = False
        self.stats = SharedDatafileStats()

    def __repr__(self) -> str:
        return f"SharedDatafile(store={self.store!r}, leader={self.leader is not None})"

    @property
    def leading(self) -> bool:
        return self._leading

    async def start(self) -> None:
        stored = await self._load(None)
        if stored is not None:
            config = await self._parse_stored(stored)
            if config is not None:
                age = max(0.0, self._clock() - stored.saved_at)
                self._apply(config)
                stats = self.stats
                stats.started_from_store = True
                stats.stored_revision = config.revision
                stats.stored_age = age
                logger.warning(
                    "serving the stored datafile, revision %s saved %.0fs ago, until the CDN "
                    "answers",
                    config.revision,
                    age,
                )
                if self._on_stored is not None:
                    self._on_stored(config.revision, age)
        if self.leader is not None and self._task is None:
            self._task = asyncio.get_running_loop().create_task(
                self._follow(), name="asyncexp-datafile-follow"
            )

    async def _load(self, if_not: str | None) -> StoredDatafile | None:
        try:
            return await self.store.load(if_not)
        except Exception as exc:
            self.stats.load_failures += 1
            logger.warning("reading the stored datafile failed: %s", exc)
            return None

    async def _parse_stored(self, stored: StoredDatafile) -> ProjectConfig | None:
        try:
            if len(stored.body) < EXECUTOR_PARSE_BYTES:
                return self._parse(stored.body)
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(None, self._parse, stored.body)
        except Exception as exc:
            self.stats.invalid_stored += 1
            logger.error("ignoring the stored datafile: %s", exc)
            return None

    async def persist(self, body: bytes, config: ProjectConfig) -> None:
        try:
            await self.store.save(StoredDatafile(body, config.revision, self._clock()))
            self.stats.saves += 1
        except Exception as exc:
            self.stats.save_failures += 1
            logger.warning("saving datafile revision %s failed: %s", config.revision, exc)
            return
        if self.leader is not None:  # the leader's poll, or any worker's explicit refresh
            try:
                await self.leader.announce(config.revision)
                self.stats.announcements += 1
            except Exception as exc:
                logger.warning("announcing revision %s failed: %s", config.revision, exc)

    async def may_poll(self) -> bool:
        """True when this client should send the scheduled CDN request."""
        if self.leader is None:
            return True
        try:
            self._leading = await self.leader.acquire()
        except Exception:
            self.stats.leader_unreachable += 1
            self._leading = False
            return True  # no coordination: poll like a lone worker
        if self._leading:
            self.stats.leader_rounds += 1
        else:
            self.stats.follower_rounds += 1
        return self._leading

    async def _follow(self) -> None:
        assert self.leader is not None
        failures = 0
        while True:
            try:
                revision = await self.leader.next_announcement(self._follow_interval)
            except asyncio.CancelledError:
                raise
            except Exception:
                failures += 1
                await asyncio.sleep(min(5.0, 0.05 * 2 ** min(failures, 7)))
                continue
            failures = 0
            current = self._current_revision()
            if revision is not None:
                self.stats.announcements_received += 1
                if revision == current:
                    continue
            stored = await self._load(current)
            if stored is None or (stored.revision is not None and stored.revision == current):
                continue
            config = await self._parse_stored(stored)
            if config is not None and config.revision != self._current_revision():
                self._apply(config)
                self.stats.follower_updates += 1
                logger.info("datafile revision %s from the shared store", config.revision)

    async def aclose(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        if self.leader is not None and self._leading:
            self._leading = False
            with contextlib.suppress(Exception):
                await self.leader.release()
