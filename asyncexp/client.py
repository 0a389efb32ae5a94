"""``Client``: lifecycle, wiring and the entry points of asyncexp.

Construction does no I/O: a static datafile is parsed on the spot (a few
milliseconds for a 50-flag datafile) and nothing else happens until
``start()`` (or ``async with``), which starts the collector. ``aclose()`` stops
intake and lets the collector drain within the deadline; a second close is a
no-op.

The analytics API, the datafile in use and what the client sends out are
mixins: :mod:`asyncexp.client_analytics`, :mod:`asyncexp.client_config` and
:mod:`asyncexp.client_events`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, Self

from asyncexp.aio.appconfig import AppConfigExperiments, RunSource
from asyncexp.aio.collectors.base import Collector
from asyncexp.aio.datafile_source import DatafileSource, datafile_url_for
from asyncexp.aio.http import HttpTransport
from asyncexp.aio.ids import new_event_id
from asyncexp.aio.odp import OdpManager
from asyncexp.analytics.api import Analytics
from asyncexp.client_analytics import ClientAnalyticsMixin
from asyncexp.client_config import ClientConfigMixin
from asyncexp.client_events import ClientEventsMixin
from asyncexp.core.flags.datafile import ProjectConfig
from asyncexp.errors import ArgumentTypeError, ClientClosedError, ClientStateError
from asyncexp.flags.decider import Decider, UserProfileService, normalize_options
from asyncexp.flags.notifications import NotificationCenter
from asyncexp.flags.parsing import parse_datafile_fast
from asyncexp.flags.user_context import UserContext

if TYPE_CHECKING:
    from asyncexp.flags.config_view import ProjectConfigView

__all__ = ["Client"]

logger = logging.getLogger("asyncexp.client")


class Client(ClientAnalyticsMixin, ClientConfigMixin, ClientEventsMixin):
    """One client per process (or per worker): decisions, events and lifecycle.

    Config sources, in order of precedence: ``datafile_url``; ``sdk_key`` (polled
    from the ``vendor``'s CDN, or its authenticated URL with
    ``datafile_access_token``); ``datafile`` alone is static, and together with a
    source it is the first config while polling continues.

    >>> async with Client(datafile=text, collector=collector) as client:
    ...     user = client.create_user_context("u1", {"country": "US"})
    ...     decision = user.decide("checkout")      # a plain call, never awaits
    """

    def __init__(
        self,
        *,
        datafile: str | bytes | Mapping[str, Any] | None = None,
        sdk_key: str | None = None,
        datafile_url: str | None = None,
        datafile_access_token: str | None = None,
        vendor: str = "optimizely",
        url_template: str | None = None,
        update_interval: float = 300.0,
        request_timeout: float = 10.0,
        ready_timeout: float = 10.0,
        collector: Collector | None = None,
        user_profile_service: UserProfileService | None = None,
        default_decide_options: Iterable[str] | None = None,
        clock: Callable[[], float] = time.time,
        id_factory: Callable[[], str] | None = None,
        transport: HttpTransport | None = None,
        appconfig_sources: Sequence[RunSource] = (),
        appconfig_options: Mapping[str, Any] | None = None,
        app_key: str | None = None,
        debug: int = 0,
        on_invalid: Literal["raise", "drop"] = "raise",
        record_ids: bool = True,
        odp_disabled: bool = False,
        odp_options: Mapping[str, Any] | None = None,
    ) -> None:
        if collector is not None and not callable(getattr(collector, "submit", None)):
            raise ArgumentTypeError("collector must have a submit(item) method")
        self._config: ProjectConfig | None = None
        self._view: ProjectConfigView | None = None
        self.notifications = NotificationCenter()
        self._vendor = vendor
        self._collector = collector
        if collector is not None and hasattr(collector, "on_log_event"):
            collector.on_log_event = self._notify_log_event
        self._clock = clock
        self._new_id: Callable[[], str] = id_factory or new_event_id
        self._state = "new"
        self._ready = asyncio.Event()
        self._ready_timeout = ready_timeout
        self._transport = transport
        self._owns_transport = transport is None
        # Before the first _apply_config: every new revision updates ODP's host, key
        # and segments.
        self._odp = OdpManager(self._http, disabled=odp_disabled, **dict(odp_options or {}))
        self._source: DatafileSource | None = None
        if datafile_url or sdk_key:
            url = datafile_url or datafile_url_for(
                sdk_key,
                vendor=vendor,
                url_template=url_template,
                authenticated=datafile_access_token is not None,
            )
            self._source = DatafileSource(
                url,
                self._apply_config,
                access_token=datafile_access_token,
                update_interval=update_interval,
                request_timeout=request_timeout,
                current_revision=lambda: self._config.revision if self._config else None,
                parse=parse_datafile_fast,
            )
        if datafile is not None:
            self._apply_config(parse_datafile_fast(datafile))
        self._analytics: Analytics | None = None
        if collector is not None and app_key is not None:
            self._analytics = Analytics(
                collector,
                app_key=app_key,
                debug=debug,
                on_invalid=on_invalid,
                clock=self._clock_ms,
                record_ids=record_ids,
            )
        # AppConfig experiment runs share the collector and the clock; polling starts
        # with the client only when sources are given.
        self.appconfig = AppConfigExperiments(
            collector, sources=appconfig_sources, clock=clock, **dict(appconfig_options or {})
        )
        self._decider = Decider(
            sink=collector,
            user_profile_service=user_profile_service,
            default_options=normalize_options(default_decide_options),
            clock_ms=self._clock_ms,
            new_id=self._new_id,
            on_decision=self._notify_decision,
        )

    # -- lifecycle ----------------------------------------------------------
    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def start(self) -> None:
        """Start the collector and polling, then wait up to ``ready_timeout`` for a config.

        Idempotent; raises ``ClientClosedError`` after close. Not having a config by
        then is logged, not raised: decisions say "not configured" until one arrives.
        """
        if self._state == "closed":
            raise ClientClosedError("the client is closed")
        if self._state == "started":
            return
        self._state = "started"
        if self._collector is None:
            logger.info("no collector configured: impressions and conversions are not sent")
        else:
            await self._collector.start(self._http())
        if self._source is not None:
            self._source.start(self._http())
        await self.appconfig.start()
        await self._odp.start()
        if self._source is not None and not await self.ready(self._ready_timeout):
            logger.warning(
                "no datafile from %s within %.1fs; decisions report not configured until one "
                "arrives",
                self._source.url,
                self._ready_timeout,
            )

    async def ready(self, timeout: float | None = None) -> bool:
        """Wait until a config is available; False when ``timeout`` passed first."""
        if self._ready.is_set():
            return True
        try:
            await asyncio.wait_for(self._ready.wait(), timeout)
        except TimeoutError:
            return False
        return True

    async def aclose(self, timeout: float | None = None) -> None:
        """Stop polling and intake, drain the collector within ``timeout`` seconds, close
        the HTTP session; idempotent."""
        if self._state == "closed":
            return
        self._state = "closed"
        if self._source is not None:
            await self._source.aclose()
        await self.appconfig.aclose()
        await self._odp.aclose(timeout)
        await self.notifications.drain()
        if self._collector is not None:
            await self._collector.aclose(timeout)
        if self._transport is not None and self._owns_transport:
            await self._transport.aclose()

    @property
    def closed(self) -> bool:
        return self._state == "closed"

    async def refresh(self) -> bool:
        """Fetch the datafile now, outside the polling schedule; True if the request
        succeeded. Raises ``ClientStateError`` without a source or before ``start()``."""
        if self._source is None:
            raise ClientStateError("no datafile source: pass sdk_key= or datafile_url=")
        if self._state != "started":
            raise ClientStateError("start the client before refreshing")
        return await self._source.fetch_once()

    def _http(self) -> HttpTransport:
        if self._transport is None:
            self._transport = HttpTransport()
        return self._transport

    async def flush(self) -> None:
        """Send everything queued so far; returns when the collector acknowledged it."""
        if self._collector is not None:
            await self._collector.flush()

    # -- decisions ----------------------------------------------------------
    def create_user_context(
        self, user_id: str, attributes: Mapping[str, Any] | None = None
    ) -> UserContext:
        """A user context for decisions; a plain call that never awaits."""
        if self._state == "closed":
            raise ClientClosedError("the client is closed")
        # No ODP identify here: since 5.6 the reference sends one only with two or more
        # identifiers, and a new context has just the user id.
        return UserContext(self, user_id, attributes)
