"""``OdpSegments``: the ODP manager's segments part, a cache in front of one GraphQL fetcher.

Rules: ``fetch`` answers from the cache (the in-process
:class:`~.cache.SegmentsCache`, or a shared
:class:`~.segment_cache.AsyncSegmentCache` when one is given: see that module),
else with one (coalesced) GraphQL
request, and never raises (a cancelled caller excepted); each refusal is
counted and logged once per throttle interval. An answer is saved only if the
settings did not change while it was fetched (the shared epoch). The part
also keeps the fetch tasks started through the manager referenced until they
end, and waits for them at close.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Collection
from typing import Any

from asyncexp.aio.odp.cache import SegmentsCache
from asyncexp.aio.odp.messages import (
    FETCH_SEGMENTS_FAILED,
    NO_SEGMENTS,
    ODP_NOT_ENABLED,
    ThrottledLog,
    logger,
)
from asyncexp.aio.odp.payload import USER_ID_KEY
from asyncexp.aio.odp.segment_cache import AsyncSegmentCache, settings_digest
from asyncexp.aio.odp.segments import OdpOption, Saver, SegmentFetcher, SegmentStats
from asyncexp.aio.odp.state import OdpSettings

__all__ = ["OdpSegments"]


class OdpSegments:
    """Segment answers for the current settings, and the fetch tasks in flight."""

    def __init__(
        self,
        settings: OdpSettings,
        cache: SegmentsCache,
        fetcher: SegmentFetcher,
        stats: SegmentStats,
        log: ThrottledLog,
        shared_cache: AsyncSegmentCache | None = None,
    ) -> None:
        self._settings = settings
        self.cache = cache
        self.shared_cache = shared_cache
        self._fetcher = fetcher
        self._stats = stats
        self._log = log
        self._tasks: set[asyncio.Task[Any]] = set()

    def _refuse(self, kind: str, text: str) -> None:
        self._stats.fail(kind, text)
        self._log.log(logging.ERROR, "fetch:" + kind, text)

    async def fetch(self, user_id: str, options: Collection[str] | None = None) -> list[str] | None:
        """Qualified segments of ``user_id``, or None on failure; never raises."""
        stats = self._stats
        stats.fetches += 1
        try:
            settings = self._settings
            if settings.fetching_closed:  # tasks started before close still fetch meanwhile
                self._refuse("closed", FETCH_SEGMENTS_FAILED.format("client closed"))
                return None
            if settings.disabled:
                self._refuse("not_enabled", ODP_NOT_ENABLED)
                return None
            host, key, segments = settings.current or (None, None, ())
            if not host or not key:
                text = FETCH_SEGMENTS_FAILED.format("api_key/api_host not defined")
                self._refuse("not_integrated", text)
                return None
            if not segments:
                logger.debug(NO_SEGMENTS)
                stats.no_segments += 1
                stats.succeeded += 1
                return []
            opts = frozenset((options,) if isinstance(options, str) else options or ())
            use_cache = OdpOption.IGNORE_CACHE not in opts
            cache_key = f"{USER_ID_KEY}-$-{user_id}"
            shared = self.shared_cache
            if shared is not None:
                cache_key = settings_digest(host, key, segments) + ":" + cache_key
            if OdpOption.RESET_CACHE in opts:
                await self._reset(shared)
            elif use_cache:
                hit = (
                    self.cache.lookup(cache_key)
                    if shared is None
                    else await self._get(shared, cache_key)
                )
                if hit is not None:
                    logger.debug("ODP cache hit. Returning segments from cache.")
                    stats.cache_hits += 1
                    stats.succeeded += 1
                    return hit
            saver = self._saver(cache_key, shared) if use_cache else None
            result = await self._fetcher.fetch(host, key, user_id, segments, saver)
            if result is not None:
                stats.succeeded += 1
            return result
        except Exception:
            stats.fail("internal_error", "internal error")
            logger.exception(FETCH_SEGMENTS_FAILED.format("internal error"))
            return None

    def _saver(self, cache_key: str, shared: AsyncSegmentCache | None) -> Saver:
        """Save an answer under ``cache_key`` unless the settings changed meanwhile."""
        settings = self._settings
        epoch = settings.epoch

        def save(segments: tuple[str, ...]) -> Awaitable[None] | None:
            if epoch != settings.epoch:
                return None
            if shared is None:
                self.cache.save(cache_key, segments)
                return None
            return self._put(shared, cache_key, segments)

        return save

    async def _get(self, shared: AsyncSegmentCache, cache_key: str) -> list[str] | None:
        try:
            return await shared.lookup(cache_key)
        except Exception:  # a shared cache that fails is a miss, never a failed fetch
            self._cache_error("lookup")
            return None

    async def _put(
        self, shared: AsyncSegmentCache, cache_key: str, segments: tuple[str, ...]
    ) -> None:
        try:
            await shared.save(cache_key, segments)
        except Exception:
            self._cache_error("save")

    async def _reset(self, shared: AsyncSegmentCache | None) -> None:
        if shared is None:
            self.cache.reset()
            return
        try:
            await shared.reset()
        except Exception:
            self._cache_error("reset")

    def _cache_error(self, what: str) -> None:
        self._stats.cache_errors += 1
        self._log.log(
            logging.WARNING, "cache:" + what, "the shared segments cache failed (%s)", what
        )

    def register_task(self, task: asyncio.Task[Any]) -> None:
        """Keep ``task`` referenced until it ends; ``aclose`` waits for it."""
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def aclose(self, deadline: float) -> None:
        """Wait for the fetch tasks until ``deadline`` (loop time), cancel the rest, then
        refuse later fetches and close the fetcher."""
        loop = asyncio.get_running_loop()
        tasks = set(self._tasks)
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=max(0.0, deadline - loop.time()))
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending)
                logger.warning("%d segment fetch(es) cancelled at the close deadline", len(pending))
        self._settings.fetching_closed = True
        await self._fetcher.aclose()
