"""Async sticky bucketing: the profile-store protocol, and loading profiles before deciding.

Rules:

* :class:`AsyncProfileStore` is what an I/O-bearing profile store implements
  (``asyncexp.stores.RedisProfileStore`` is one): ``lookup``, ``save`` and a
  batched ``lookup_many``. Documents are the Optimizely profile shape,
  ``{"user_id": ..., "experiment_bucket_map": {experiment_id: {"variation_id": ...}}}``,
  so a profile written through the reference SDK's ``UserProfileService`` is
  read unchanged. A store raises on failure; it never blocks the loop.
* Decisions never await: ``await user.load_profile()`` (or
  ``await client.create_user_context_async(...)``, or ``client.load_profiles``
  for many users with one ``lookup_many``) reads the profile once, under
  ``load_timeout``; single loads started together are sent as batches of
  ``batch_size``; ``decide`` then uses that in-memory profile and hands a
  changed one to the :class:`ProfileSink` (a write-behind saver, see
  :mod:`asyncexp.aio.profile_saver`), which never blocks.
* A missing profile loads as empty (new assignments are saved). A failed or
  timed-out load, or a document that is not the profile shape, leaves the
  context without a profile: its decisions neither use nor save one (so a
  partial profile never overwrites a stored one), exactly as a failed
  synchronous ``lookup`` does. Each case is counted in :class:`ProfileLoadStats`.
* Bounds: at most ``max_entries`` experiments are kept from one document
  (more is treated as not the profile shape).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    # Type-only circle (user_context → decider → profile_store): the runtime graph is acyclic.
    from asyncexp.flags.user_context import UserContext

__all__ = [
    "AsyncProfileStore",
    "ProfileLoadStats",
    "ProfileLoader",
    "ProfileSink",
    "bucket_map_from",
]

logger = logging.getLogger("asyncexp.profiles")

MAX_ENTRIES = 10_000
_FAILED = object()  # a load that failed or timed out (never an exception nobody retrieves)


class AsyncProfileStore(Protocol):
    """Sticky-bucketing storage with awaitable calls; each raises on failure."""

    async def lookup(self, user_id: str) -> dict[str, Any] | None: ...

    async def lookup_many(self, user_ids: Sequence[str]) -> dict[str, dict[str, Any] | None]: ...

    async def save(self, profile: dict[str, Any]) -> None: ...


class ProfileSink(Protocol):
    """Takes a changed profile for a later save; a plain call that never blocks."""

    def enqueue(self, profile: dict[str, Any]) -> None: ...


@dataclass(slots=True)
class ProfileLoadStats:
    """Counters of profile loads, readable at any time."""

    loads: int = 0
    """Profiles asked for (one per user, batched or not)."""
    found: int = 0
    missing: int = 0
    invalid: int = 0
    """Documents that were not the profile shape: the context has no profile."""
    failed: int = 0
    """Loads that failed or timed out: the context has no profile."""
    unloaded_decides: int = 0
    """Decide calls with a store configured on a context whose profile was not loaded."""


def bucket_map_from(
    user_id: str, found: object, max_entries: int = MAX_ENTRIES
) -> dict[str, dict[str, str]] | None:
    """The bucket map of a looked-up document; None when it is not the profile shape."""
    if not isinstance(found, Mapping):
        return None
    raw = found.get("experiment_bucket_map")
    if not isinstance(raw, Mapping) or len(raw) > max_entries:
        return None
    out: dict[str, dict[str, str]] = {}
    for exp_id, entry in raw.items():
        if not isinstance(exp_id, str) or not isinstance(entry, Mapping):
            return None
        variation = entry.get("variation_id")
        if not isinstance(variation, str):
            return None
        out[exp_id] = {"variation_id": variation}
    return out


class ProfileLoader:
    """Loads profiles from an :class:`AsyncProfileStore` for user contexts to decide with."""

    def __init__(
        self,
        store: AsyncProfileStore,
        *,
        load_timeout: float = 0.5,
        max_entries: int = MAX_ENTRIES,
        batch_size: int = 100,
    ) -> None:
        self.store = store
        self._timeout = load_timeout
        self._max_entries = max_entries
        self._batch_size = max(1, batch_size)
        self._queued: dict[str, asyncio.Future[object]] = {}
        self._flush_scheduled = False
        self._tasks: set[asyncio.Task[None]] = set()
        self.stats = ProfileLoadStats()

    async def load(self, user_id: str) -> dict[str, dict[str, str]] | None:
        """The bucket map of ``user_id`` ({} when none is stored); None when unavailable.

        Loads started in the same loop iteration go to the store as one ``lookup_many``
        (at most ``batch_size`` users each), so a burst of requests costs a few round
        trips, not one each; two loads of one user share the read."""
        self.stats.loads += 1
        future = self._queued.get(user_id)
        if future is None:
            loop = asyncio.get_running_loop()
            future = self._queued[user_id] = loop.create_future()
            if len(self._queued) >= self._batch_size:
                self._flush()
            elif not self._flush_scheduled:
                self._flush_scheduled = True
                loop.call_soon(self._flush)
        try:
            found = await asyncio.wait_for(asyncio.shield(future), self._timeout)
        except TimeoutError:
            found = _FAILED
        if found is _FAILED:
            self.stats.failed += 1
            return None
        return self._read(user_id, found)

    def _flush(self) -> None:
        self._flush_scheduled = False
        batch, self._queued = self._queued, {}
        if batch:
            task = asyncio.get_running_loop().create_task(
                self._lookup(batch), name="asyncexp-profile-load"
            )
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _lookup(self, batch: dict[str, asyncio.Future[object]]) -> None:
        try:
            found: Mapping[str, object] = await asyncio.wait_for(
                self.store.lookup_many(list(batch)), self._timeout
            )
        except Exception as exc:  # TimeoutError and every store failure: no profile
            logger.debug("Loading %d user profile(s) failed: %r", len(batch), exc)
            found = dict.fromkeys(batch, _FAILED)
        for user_id, future in batch.items():
            if not future.done():
                future.set_result(found.get(user_id))

    async def load_many(
        self, user_ids: Iterable[str]
    ) -> dict[str, dict[str, dict[str, str]] | None]:
        """Bucket maps by user id, with one ``lookup_many``; None where unavailable."""
        ids = list(dict.fromkeys(user_ids))
        self.stats.loads += len(ids)
        try:
            found = await asyncio.wait_for(self.store.lookup_many(ids), self._timeout)
        except Exception as exc:
            self.stats.failed += len(ids)
            logger.debug("Loading %d user profiles failed: %r", len(ids), exc)
            return dict.fromkeys(ids)
        return {uid: self._read(uid, found.get(uid)) for uid in ids}

    def _read(self, user_id: str, found: object) -> dict[str, dict[str, str]] | None:
        if found is None:
            self.stats.missing += 1
            return {}
        bucket_map = bucket_map_from(user_id, found, self._max_entries)
        if bucket_map is None:
            self.stats.invalid += 1
            logger.warning(
                'The stored profile of user "%s" is not a user profile; ignored', user_id
            )
            return None
        self.stats.found += 1
        return bucket_map

    async def load_into(self, users: Sequence[UserContext]) -> int:
        """Load the profiles of ``users`` with one ``lookup_many``; how many were loaded."""
        found = await self.load_many(user.user_id for user in users)
        loaded = 0
        for user in users:
            bucket_map = found.get(user.user_id)
            if bucket_map is not None:
                # each context decides against its own map (never shared between two)
                user._profile = {k: dict(v) for k, v in bucket_map.items()}
                loaded += 1
        return loaded
