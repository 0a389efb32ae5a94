"""``OdpManager``: ODP settings from each datafile, segment fetching with a cache, events.

Rules:

* Settings: host and public key come from the datafile's ``odp`` integration
  (``ProjectConfig.odp_host`` / ``odp_public_key``) unless given as ``host=`` /
  ``public_key=``; the segments to ask for are ``ProjectConfig.segments``. Until
  a config is seen the state is ``undetermined``; then ``integrated`` when both
  host and key are set, else ``not_integrated``. ``disabled=True`` overrides all.
* ``update_config`` is cheap when nothing changed; when host, key or segments
  change the segment cache is emptied, fetches in flight no longer save their
  answer, and events queued for the old host are sent there at once.
* ``fetch_segments`` never raises (a cancelled caller excepted) and returns None
  on failure, with one log line (throttled per reason):

  - disabled: ``ODP is not enabled.``;
  - no host/key yet: ``Audience segments fetch failed (api_key/api_host not defined).``;
  - no segments in the datafile: ``[]`` without a request (debug log);
  - otherwise the cache, then one GraphQL request (see :mod:`.segments`).

  Cache key ``fs_user_id-$-<user id>``; with ``segments_cache=`` (an
  :class:`~.segment_cache.AsyncSegmentCache`, e.g. shared through Redis) that
  cache is used instead, under a key prefixed by the settings' digest.
  ``RESET_CACHE`` empties the cache, skips the read and saves the answer;
  ``IGNORE_CACHE`` skips read and save. A fetch with either option may still
  join an identical request already in flight: that answer comes from the
  server, not from the cache. Unknown options are ignored.
* ``send_event`` is a plain call that never blocks: bad input raises
  (:mod:`.payload`); a valid event is queued, or dropped and counted in
  ``stats.events.dropped`` as ``disabled``, ``no_config`` (before the first
  datafile) or ``not_integrated``. After ``aclose`` it raises ``ClientClosedError``.
* ``identify(user_id, identifiers)`` follows SDK 5.6+: the ``identified`` event is
  queued only with at least two non-empty identifiers, ``fs_user_id`` counted.
  A client calling ``identify(user_id)`` for each new user context therefore
  sends nothing, exactly as the reference 5.6+ does.
* ``aclose(timeout)``: waits for registered fetch tasks (they may still fetch
  meanwhile), then drains the event queue, both within the one deadline; what
  is left is cancelled and counted. Later fetches fail with the reason
  ``client closed``; ``send_event`` raises ``ClientClosedError``. Close the
  manager before the transport it uses.

* ``start_fetch`` starts a segment fetch task for a user context (the
  :class:`~asyncexp.flags.segment_source.SegmentSource` the client hands to
  its user contexts); see :mod:`.fetch_task`.

The manager owns two parts that share one :class:`~.state.OdpSettings`: the
segments part (:class:`~.manager_segments.OdpSegments`: cache, fetcher, fetch
tasks) and the events part (:class:`~.manager_events.OdpEvents`, which owns
the event queue). ``OdpState`` and ``OdpStats`` are in :mod:`.state`.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from asyncexp.aio.http import HttpTransport, RetryPolicy
from asyncexp.aio.odp.cache import (
    DEFAULT_CACHE_BYTES,
    DEFAULT_CACHE_SIZE,
    DEFAULT_CACHE_TIMEOUT,
    SegmentsCache,
)
from asyncexp.aio.odp.events import DEFAULT_EVENT_RETRY, OdpEventManager, WaitFn, wait_event
from asyncexp.aio.odp.fetch_task import FetchCallback, start_segment_fetch
from asyncexp.aio.odp.manager_events import DROP_DISABLED, DROP_NO_CONFIG, OdpEvents
from asyncexp.aio.odp.manager_segments import OdpSegments
from asyncexp.aio.odp.messages import ThrottledLog, logger
from asyncexp.aio.odp.segment_cache import AsyncSegmentCache
from asyncexp.aio.odp.segments import SegmentFetcher, SegmentStats
from asyncexp.aio.odp.state import OdpSettings, OdpState, OdpStats
from asyncexp.aio.redaction import safe_url
from asyncexp.errors import ClientClosedError

if TYPE_CHECKING:
    from asyncexp.core.flags.datafile import ProjectConfig

__all__ = ["DROP_DISABLED", "DROP_NO_CONFIG", "OdpManager", "OdpState", "OdpStats"]


def _new_id() -> str:
    return str(uuid.uuid4())


class OdpManager:
    """Segments and events of Optimizely Data Platform for one client."""

    def __init__(
        self,
        transport_getter: Callable[[], HttpTransport],
        *,
        disabled: bool = False,
        host: str | None = None,
        public_key: str | None = None,
        cache_size: int = DEFAULT_CACHE_SIZE,
        cache_timeout: float = DEFAULT_CACHE_TIMEOUT,
        cache_bytes: int | None = DEFAULT_CACHE_BYTES,
        segments_timeout: float = 10.0,
        event_batch_size: int = 10,
        event_flush_interval: float = 1.0,
        event_queue_size: int = 1000,
        event_request_timeout: float = 10.0,
        event_retry_policy: RetryPolicy = DEFAULT_EVENT_RETRY,
        close_timeout: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
        wait: WaitFn = wait_event,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        jitter: Callable[[], float] = random.random,
        id_factory: Callable[[], str] = _new_id,
        log_interval: float = 10.0,
        segments_cache: AsyncSegmentCache | None = None,
    ) -> None:
        self._settings = OdpSettings(disabled=bool(disabled), host=host, public_key=public_key)
        self._close_timeout = close_timeout
        log = ThrottledLog(clock, log_interval)
        segment_stats = SegmentStats()
        self._segments = OdpSegments(
            self._settings,
            SegmentsCache(cache_size, cache_timeout, max_bytes=cache_bytes, clock=clock),
            SegmentFetcher(transport_getter, segment_stats, log, timeout=segments_timeout),
            segment_stats,
            log,
            shared_cache=segments_cache,
        )
        queue = OdpEventManager(
            transport_getter,
            batch_size=event_batch_size,
            flush_interval=event_flush_interval,
            queue_size=event_queue_size,
            request_timeout=event_request_timeout,
            close_timeout=close_timeout,
            retry_policy=event_retry_policy,
            clock=clock,
            wait=wait,
            sleep=sleep,
            jitter=jitter,
            log=log,
        )
        self._events = OdpEvents(self._settings, queue, id_factory=id_factory, log=log)
        self._stats = OdpStats(segment_stats, queue.stats)
        self._closing: asyncio.Future[None] | None = None

    # -- state ----------------------------------------------------------------------
    @property
    def state(self) -> OdpState:
        return self._settings.state

    @property
    def stats(self) -> OdpStats:
        return self._stats

    @property
    def cache(self) -> SegmentsCache:
        """The segments part's cache; assignable, as when it was a plain attribute."""
        return self._segments.cache

    @cache.setter
    def cache(self, cache: SegmentsCache) -> None:
        self._segments.cache = cache

    @property
    def closed(self) -> bool:
        return self._closing is not None

    def update_config(self, config: ProjectConfig | None) -> None:
        """Take host, key and segments from a new config; None is ignored."""
        if config is None:
            return
        settings = self._settings
        if not settings.update(config.odp_host, config.odp_public_key, tuple(config.segments)):
            return
        host, key, segments = settings.current or (None, None, ())
        self.cache.reset()
        if not settings.disabled:
            self._events.queue.update_config(host, key)
        logger.debug(
            "ODP settings: host %s, %d segment(s), state %s",
            safe_url(host) if host else host,
            len(segments),
            self.state,
        )

    # -- segments (the segments part's) ---------------------------------------------
    async def fetch_segments(
        self, user_id: str, options: Collection[str] | None = None
    ) -> list[str] | None:
        """Qualified segments of ``user_id``, or None on failure; never raises."""
        return await self._segments.fetch(user_id, options)

    def start_fetch(
        self,
        user_id: str,
        on_segments: Callable[[list[str]], None],
        callback: FetchCallback | None = None,
        options: Iterable[str] | None = None,
    ) -> asyncio.Task[bool]:
        """Fetch ``user_id``'s segments in a task that ``on_segments`` stores them from;
        see :mod:`.fetch_task`. A plain call."""
        return start_segment_fetch(self, user_id, on_segments, callback, options)

    def register_task(self, task: asyncio.Task[Any]) -> None:
        """Keep ``task`` referenced until it ends; ``aclose`` waits for it."""
        self._segments.register_task(task)

    # -- events (the events part's) -------------------------------------------------
    def send_event(
        self,
        *,
        action: str,
        type: str = "fullstack",  # the reference's parameter name
        identifiers: Mapping[str, str] | None,
        data: Mapping[str, Any] | None = None,
    ) -> None:
        """Queue one ODP event; raises on bad input (see :mod:`.payload`), never blocks."""
        self._events.send_event(action=action, type=type, identifiers=identifiers, data=data)

    def identify(self, user_id: str, identifiers: Mapping[str, str] | None = None) -> bool:
        """Queue an ``identified`` event when there are >= 2 non-empty identifiers.

        Returns True when queued. Never raises: this runs on every new user context.
        """
        return self._events.identify(user_id, identifiers)

    async def flush_events(self) -> None:
        """Return once every event queued so far is delivered or dropped."""
        await self._events.queue.flush()

    # -- lifecycle ------------------------------------------------------------------
    async def start(self) -> None:
        """Start the event sender (not when disabled); idempotent."""
        if self._closing is not None:
            raise ClientClosedError("the ODP manager is closed")
        if not self._settings.disabled:
            await self._events.queue.start()

    async def aclose(self, timeout: float | None = None) -> None:
        """Finish fetch tasks and drain events within ``timeout`` seconds; idempotent."""
        if self._closing is not None:
            await asyncio.wait([self._closing])
            return
        self._closing = asyncio.get_running_loop().create_future()
        self._settings.closed = True
        try:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + (self._close_timeout if timeout is None else timeout)
            await self._segments.aclose(deadline)
            await self._events.queue.aclose(max(0.0, deadline - loop.time()))
        finally:
            self._closing.set_result(None)
