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

  Cache key ``fs_user_id-$-<user id>``. ``RESET_CACHE`` empties the cache, skips
  the read and saves the answer; ``IGNORE_CACHE`` skips read and save. A fetch
  with either option may still join an identical request already in flight: that
  answer comes from the server, not from the cache. Unknown options are ignored.
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

``fetch_segments`` is in :mod:`.manager_segments`, the event methods in
:mod:`.manager_events`, ``OdpState`` and ``OdpStats`` in :mod:`.state`.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from asyncexp.aio.http import HttpTransport, RetryPolicy
from asyncexp.aio.odp.cache import DEFAULT_CACHE_SIZE, DEFAULT_CACHE_TIMEOUT, SegmentsCache
from asyncexp.aio.odp.events import DEFAULT_EVENT_RETRY, OdpEventManager, WaitFn, wait_event
from asyncexp.aio.odp.manager_events import DROP_DISABLED, DROP_NO_CONFIG, OdpEventsMixin
from asyncexp.aio.odp.manager_segments import OdpSegmentsMixin
from asyncexp.aio.odp.messages import ThrottledLog, logger
from asyncexp.aio.odp.segments import SegmentFetcher, SegmentStats
from asyncexp.aio.odp.state import OdpState, OdpStats
from asyncexp.errors import ClientClosedError

if TYPE_CHECKING:
    from asyncexp.core.flags.datafile import ProjectConfig

__all__ = ["DROP_DISABLED", "DROP_NO_CONFIG", "OdpManager", "OdpState", "OdpStats"]


def _new_id() -> str:
    return str(uuid.uuid4())


class OdpManager(OdpSegmentsMixin, OdpEventsMixin):
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
    ) -> None:
        self._disabled = bool(disabled)
        self._host_override = host
        self._key_override = public_key
        self._close_timeout = close_timeout
        self._new_id = id_factory
        self._log = ThrottledLog(clock, log_interval)
        self.cache = SegmentsCache(cache_size, cache_timeout, clock=clock)
        self._segment_stats = SegmentStats()
        self._fetcher = SegmentFetcher(
            transport_getter, self._segment_stats, self._log, timeout=segments_timeout
        )
        self._events = OdpEventManager(
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
            log=self._log,
        )
        self._stats = OdpStats(self._segment_stats, self._events.stats)
        # (host, key, segments) of the current config; None until one is seen
        self._settings: tuple[str | None, str | None, tuple[str, ...]] | None = None
        self._epoch = 0
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closing: asyncio.Future[None] | None = None
        self._fetching_closed = False  # set once the fetch tasks were waited for at close

    # -- state ----------------------------------------------------------------------
    @property
    def state(self) -> OdpState:
        if self._disabled:
            return OdpState.DISABLED
        if self._settings is None:
            return OdpState.UNDETERMINED
        host, key, _ = self._settings
        return OdpState.INTEGRATED if host and key else OdpState.NOT_INTEGRATED

    @property
    def stats(self) -> OdpStats:
        return self._stats

    @property
    def closed(self) -> bool:
        return self._closing is not None

    def update_config(self, config: ProjectConfig | None) -> None:
        """Take host, key and segments from a new config; None is ignored."""
        if config is None:
            return
        host = self._host_override or config.odp_host
        key = self._key_override or config.odp_public_key
        settings = (host, key, tuple(config.segments))
        if settings == self._settings:
            return
        self._settings = settings
        self._epoch += 1
        self.cache.reset()
        if not self._disabled:
            self._events.update_config(host, key)
        logger.debug(
            "ODP settings: host %s, %d segment(s), state %s", host, len(settings[2]), self.state
        )

    # -- lifecycle ------------------------------------------------------------------
    async def start(self) -> None:
        """Start the event sender (not when disabled); idempotent."""
        if self._closing is not None:
            raise ClientClosedError("the ODP manager is closed")
        if not self._disabled:
            await self._events.start()

    def register_task(self, task: asyncio.Task[Any]) -> None:
        """Keep ``task`` referenced until it ends; ``aclose`` waits for it."""
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def aclose(self, timeout: float | None = None) -> None:
        """Finish fetch tasks and drain events within ``timeout`` seconds; idempotent."""
        if self._closing is not None:
            await asyncio.wait([self._closing])
            return
        self._closing = asyncio.get_running_loop().create_future()
        try:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + (self._close_timeout if timeout is None else timeout)
            tasks = set(self._tasks)
            if tasks:
                _, pending = await asyncio.wait(tasks, timeout=max(0.0, deadline - loop.time()))
                for task in pending:
                    task.cancel()
                if pending:
                    await asyncio.wait(pending)
                    logger.warning(
                        "%d segment fetch(es) cancelled at the close deadline", len(pending)
                    )
            self._fetching_closed = True
            await self._fetcher.aclose()
            await self._events.aclose(max(0.0, deadline - loop.time()))
        finally:
            self._closing.set_result(None)
