"""``ProfileSaver``: write-behind saves of sticky-bucketing profiles, off the decide path.

Rules:

* ``enqueue(profile)`` is a plain call that never blocks: the profile is merged
  into the one pending for its user (their bucket maps merged, the newer entry
  winning), so many decisions for one user cost one save. Beyond
  ``max_pending`` users waiting, a new user's profile is dropped and counted.
* One background task saves what is pending, ``concurrency`` saves at a time.
  A failed save is merged back under anything newer and retried after an
  exponential backoff (``retry_base`` doubling up to ``retry_max`` seconds);
  failures keep their backoff during the close too.
* ``aclose(timeout)`` stops intake, saves what is pending within ``timeout``
  seconds (retrying failures), then abandons the rest, counted and logged.
* Its settings are checked when it is built: a wrong one raises
  ``ConfigError`` naming it (``Client(profile_options=...)`` checks them
  first, against :class:`asyncexp.options.ProfileOptions`).
* Counters add up at any time::

    enqueued == saved + coalesced + dropped + abandoned + pending + in_flight

  (a failed save merged back into a newer pending profile counts as coalesced).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from asyncexp.aio.checks import check_number
from asyncexp.errors import ConfigError

__all__ = ["ProfileSaver", "SaverStats"]

logger = logging.getLogger("asyncexp.profiles")


@dataclass(slots=True)
class SaverStats:
    enqueued: int = 0
    coalesced: int = 0
    saved: int = 0
    failures: int = 0
    """Failed save attempts (each one is retried)."""
    dropped: int = 0
    abandoned: int = 0
    pending: int = 0
    in_flight: int = 0

    def as_dict(self) -> dict[str, int]:
        return {
            "enqueued": self.enqueued,
            "coalesced": self.coalesced,
            "saved": self.saved,
            "failures": self.failures,
            "dropped": self.dropped,
            "abandoned": self.abandoned,
            "pending": self.pending,
            "in_flight": self.in_flight,
        }


def _merge(older: dict[str, Any], newer: dict[str, Any]) -> dict[str, Any]:
    bucket_map = dict(older.get("experiment_bucket_map") or {})
    bucket_map.update(newer.get("experiment_bucket_map") or {})
    return {"user_id": newer["user_id"], "experiment_bucket_map": bucket_map}


class ProfileSaver:
    """Saves changed profiles in the background through ``save``."""

    def __init__(
        self,
        save: Callable[[dict[str, Any]], Awaitable[None]],
        *,
        max_pending: int = 100_000,
        concurrency: int = 16,
        retry_base: float = 0.1,
        retry_max: float = 5.0,
        close_timeout: float = 5.0,
    ) -> None:
        if not callable(save):
            raise ConfigError(f"save: must be callable, got {type(save).__name__}")
        check_number("max_pending", max_pending, integer=True, minimum=1, inclusive=True)
        check_number("concurrency", concurrency, integer=True, minimum=1, inclusive=True)
        check_number("retry_base", retry_base)
        check_number("retry_max", retry_max)
        check_number("close_timeout", close_timeout, inclusive=True)
        self._save = save
        self._max_pending = max_pending
        self._concurrency = concurrency
        self._retry_base = retry_base
        self._retry_max = retry_max
        self._close_timeout = close_timeout
        self._pending: dict[str, dict[str, Any]] = {}
        self._wake = asyncio.Event()
        self._closing = False
        self._task: asyncio.Task[None] | None = None
        self._idle = asyncio.Event()
        self._idle.set()
        self.stats = SaverStats()

    def __repr__(self) -> str:
        return f"<ProfileSaver pending={self.stats.pending} saved={self.stats.saved}>"

    def enqueue(self, profile: dict[str, Any]) -> None:
        stats = self.stats
        stats.enqueued += 1
        if self._closing:
            stats.dropped += 1
            return
        user_id = profile["user_id"]
        old = self._pending.get(user_id)
        if old is not None:
            self._pending[user_id] = _merge(old, profile)
            stats.coalesced += 1
        elif len(self._pending) >= self._max_pending:
            stats.dropped += 1
            return
        else:
            self._pending[user_id] = _merge({}, profile)
            stats.pending += 1
        self._idle.clear()
        self._wake.set()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name="asyncexp-profile-saver"
            )

    async def wait_idle(self) -> None:
        """Return once nothing is pending or in flight (tests and benchmarks)."""
        await self._idle.wait()

    async def _run(self) -> None:
        failures_in_a_row = 0
        while True:
            if not self._pending:
                if self.stats.in_flight == 0:
                    self._idle.set()
                if self._closing:
                    return
                self._wake.clear()
                await self._wake.wait()
                continue
            failed = await self._save_batch()
            if failed:
                failures_in_a_row += 1
                delay = min(self._retry_max, self._retry_base * 2 ** (failures_in_a_row - 1))
                await asyncio.sleep(delay)
            else:
                failures_in_a_row = 0

    async def _save_batch(self) -> bool:
        batch: list[dict[str, Any]] = []
        while self._pending and len(batch) < self._concurrency:
            user_id = next(iter(self._pending))
            batch.append(self._pending.pop(user_id))
        stats = self.stats
        stats.pending -= len(batch)
        stats.in_flight += len(batch)
        try:
            results = await asyncio.gather(
                *(self._save(profile) for profile in batch), return_exceptions=True
            )
        except asyncio.CancelledError:  # the close deadline: back to pending, then abandoned
            for profile in batch:
                stats.in_flight -= 1
                self._requeue(profile)
            raise
        failed = False
        for profile, result in zip(batch, results, strict=True):
            stats.in_flight -= 1
            if isinstance(result, BaseException):
                failed = True
                stats.failures += 1
                self._requeue(profile)
                logger.debug("saving a user profile failed (retried): %r", result)
            else:
                stats.saved += 1
        return failed

    def _requeue(self, profile: dict[str, Any]) -> None:
        user_id = profile["user_id"]
        newer = self._pending.pop(user_id, None)
        if newer is not None:
            self._pending[user_id] = _merge(profile, newer)
            self.stats.coalesced += 1
        else:
            self._pending[user_id] = profile
            self.stats.pending += 1

    async def aclose(self, timeout: float | None = None) -> None:
        """Save what is pending within ``timeout`` (default ``close_timeout``); idempotent."""
        self._closing = True
        self._wake.set()
        task = self._task
        if task is None:
            self._abandon()
            return
        budget = self._close_timeout if timeout is None else timeout
        done, _ = await asyncio.wait([task], timeout=max(0.0, budget))
        if not done:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        self._abandon()

    def _abandon(self) -> None:
        if self._pending:
            count = len(self._pending)
            self.stats.abandoned += count
            self.stats.pending -= count
            self._pending.clear()
            logger.warning("%d user profile save(s) abandoned at close", count)
        self._idle.set()
