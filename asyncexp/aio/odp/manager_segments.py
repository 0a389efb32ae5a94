"""``OdpSegmentsMixin``: ``OdpManager.fetch_segments`` with its cache and refusals."""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection

from asyncexp.aio.odp.cache import SegmentsCache
from asyncexp.aio.odp.messages import (
    FETCH_SEGMENTS_FAILED,
    NO_SEGMENTS,
    ODP_NOT_ENABLED,
    ThrottledLog,
    logger,
)
from asyncexp.aio.odp.payload import USER_ID_KEY
from asyncexp.aio.odp.segments import OdpOption, SegmentFetcher, SegmentStats

__all__ = ["OdpSegmentsMixin"]


class OdpSegmentsMixin:
    """Answers from the cache, else one (coalesced) GraphQL request; never raises."""

    # Set by OdpManager.__init__.
    cache: SegmentsCache
    _disabled: bool
    _log: ThrottledLog
    _segment_stats: SegmentStats
    _fetcher: SegmentFetcher
    _settings: tuple[str | None, str | None, tuple[str, ...]] | None
    _epoch: int
    _fetching_closed: bool

    def _refuse(self, kind: str, text: str) -> None:
        self._segment_stats.fail(kind, text)
        self._log.log(logging.ERROR, "fetch:" + kind, text)

    async def fetch_segments(
        self, user_id: str, options: Collection[str] | None = None
    ) -> list[str] | None:
        """Qualified segments of ``user_id``, or None on failure; never raises."""
        stats = self._segment_stats
        stats.fetches += 1
        try:
            if self._fetching_closed:  # tasks started before close still fetch while it waits
                self._refuse("closed", FETCH_SEGMENTS_FAILED.format("client closed"))
                return None
            if self._disabled:
                self._refuse("not_enabled", ODP_NOT_ENABLED)
                return None
            host, key, segments = self._settings or (None, None, ())
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
            if OdpOption.RESET_CACHE in opts:
                self.cache.reset()
            elif use_cache:
                hit = self.cache.lookup(cache_key)
                if hit is not None:
                    logger.debug("ODP cache hit. Returning segments from cache.")
                    stats.cache_hits += 1
                    stats.succeeded += 1
                    return hit
            saver = self._saver(cache_key) if use_cache else None
            result = await self._fetcher.fetch(host, key, user_id, segments, saver)
            if result is not None:
                stats.succeeded += 1
            return result
        except Exception:
            stats.fail("internal_error", "internal error")
            logger.exception(FETCH_SEGMENTS_FAILED.format("internal error"))
            return None

    def _saver(self, cache_key: str) -> Callable[[tuple[str, ...]], None]:
        """Save an answer under ``cache_key`` unless the settings changed meanwhile."""
        epoch = self._epoch

        def save(segments: tuple[str, ...]) -> None:
            if epoch == self._epoch:
                self.cache.save(cache_key, segments)

        return save
