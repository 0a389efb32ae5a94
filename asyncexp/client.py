"""``Client``: lifecycle, wiring and the entry points of asyncexp.

Construction does no I/O: a static datafile is parsed on the spot (a few
milliseconds for a 50-flag datafile) and nothing else happens until
``start()`` (or ``async with``), which starts the collector. ``aclose()`` stops
intake and lets the collector drain within the deadline; a second close is a
no-op.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from types import TracebackType
from typing import (
    TYPE_CHECKING,
    Any,
    Concatenate,
    Generic,
    Literal,
    ParamSpec,
    Self,
    TypeVar,
    overload,
)

from asyncexp.aio.appconfig import AppConfigExperiments, RunSource
from asyncexp.aio.collectors.base import Collector
from asyncexp.aio.datafile_source import DatafileSource, DatafileStats, datafile_url_for
from asyncexp.aio.http import HttpTransport
from asyncexp.aio.odp import OdpManager
from asyncexp.analytics import Analytics
from asyncexp.core.datafile import ProjectConfig
from asyncexp.core.decision_types import FlagResult
from asyncexp.core.events import EYEOFCLOUD_EVENTS_URL, UserEvent, log_event_dict
from asyncexp.decider import Decider, UserProfileService, normalize_options
from asyncexp.decision import Decision
from asyncexp.errors import ArgumentTypeError, ClientClosedError, ClientStateError
from asyncexp.ids import new_event_id
from asyncexp.notifications import NotificationCenter, NotificationType
from asyncexp.parsing import parse_datafile_fast
from asyncexp.user_context import UserContext

if TYPE_CHECKING:
    from asyncexp.config_view import ProjectConfigView

__all__ = ["Client"]

logger = logging.getLogger("asyncexp.client")


P = ParamSpec("P")
R = TypeVar("R")


class _analytics_method(Generic[P, R]):  # noqa: N801 - used like a decorator name
    """Exposes an ``Analytics`` method on ``Client`` with its exact signature."""

    def __init__(self, method: Callable[Concatenate[Analytics, P], R]) -> None:
        self._name = method.__name__
        self.__doc__ = method.__doc__

    @overload
    def __get__(self, client: None, owner: type[Client]) -> Self: ...

    @overload
    def __get__(self, client: Client, owner: type[Client]) -> Callable[P, R]: ...

    def __get__(self, client: Client | None, owner: type[Client]) -> Self | Callable[P, R]:
        if client is None:
            return self
        method: Callable[P, R] = getattr(client.analytics, self._name)
        return method


class Client:
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

    # -- analytics (Analysys API) -------------------------------------------
    @property
    def analytics(self) -> Analytics:
        """The Analysys-style analytics API; needs ``collector=`` and ``app_key=``."""
        if self._analytics is None:
            raise ClientStateError("analytics needs Client(collector=..., app_key=...)")
        return self._analytics

    track = _analytics_method(Analytics.track)
    alias = _analytics_method(Analytics.alias)
    profile_set = _analytics_method(Analytics.profile_set)
    profile_set_once = _analytics_method(Analytics.profile_set_once)
    profile_increment = _analytics_method(Analytics.profile_increment)
    profile_append = _analytics_method(Analytics.profile_append)
    profile_unset = _analytics_method(Analytics.profile_unset)
    profile_delete = _analytics_method(Analytics.profile_delete)
    register_super_properties = _analytics_method(Analytics.register_super_properties)
    unregister_super_property = _analytics_method(Analytics.unregister_super_property)
    clear_super_properties = _analytics_method(Analytics.clear_super_properties)
    get_super_property = _analytics_method(Analytics.get_super_property)
    get_super_properties = _analytics_method(Analytics.get_super_properties)

    async def flush(self) -> None:
        """Send everything queued so far; returns when the collector acknowledged it."""
        if self._collector is not None:
            await self._collector.flush()

    # -- config -------------------------------------------------------------
    @property
    def config(self) -> ProjectConfig | None:
        """The parsed datafile in use, or None before the first one arrives."""
        return self._config

    @property
    def datafile_stats(self) -> DatafileStats | None:
        """Polling counters (fetches, 304s, updates, errors by kind), when polling."""
        return self._source.stats if self._source is not None else None

    def get_config(self) -> ProjectConfigView | None:
        """The project-config view of the current revision, built once, on first use."""
        config = self._config
        if config is None:
            return None
        view = self._view
        if view is None or view.revision != config.revision:
            from asyncexp.config_view import build_config_view  # only paid for when used

            view = self._view = build_config_view(config)
        return view

    def _apply_config(self, config: ProjectConfig) -> None:
        if self._config is not None and self._config.revision == config.revision:
            return
        if self._vendor == "eyeofcloud":
            context = replace(config.event_context, endpoint_override=EYEOFCLOUD_EVENTS_URL)
            config = replace(config, event_context=context)
        old = self._config.revision if self._config else None
        for warning in config.warnings:
            logger.warning("datafile revision %s: %s", config.revision, warning)
        self._config = config
        self._odp.update_config(config)
        self._ready.set()
        logger.debug("datafile updated: revision %s -> %s", old, config.revision)
        if self.notifications.has_listeners(NotificationType.CONFIG_UPDATE):
            self.notifications.send(NotificationType.CONFIG_UPDATE)

    def _current_config(self) -> ProjectConfig | None:
        return self._config

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

    # -- ODP ----------------------------------------------------------------
    @property
    def odp(self) -> OdpManager:
        """Real-time segments and ODP events (host and key from the datafile)."""
        return self._odp

    def send_odp_event(
        self,
        action: str,
        type: str = "fullstack",
        identifiers: Mapping[str, str] | None = None,
        data: Mapping[str, Any] | None = None,
    ) -> None:
        """Queue an ODP event; a plain call. Invalid input raises ``ValidationError``."""
        if self._state == "closed":
            raise ClientClosedError("the client is closed")
        self._odp.send_event(action=action, type=type, identifiers=identifiers, data=data)

    def _decide_one(self, user: UserContext, key: str, options: Iterable[str] | None) -> Decision:
        return self._decider.decide_one(self._config, user, key, options)

    def _decide_many(
        self, user: UserContext, keys: Iterable[str] | None, options: Iterable[str] | None
    ) -> dict[str, Decision]:
        return self._decider.decide_many(self._config, user, keys, options)

    def _notify_decision(
        self, user: UserContext, decision: Decision, sent: bool, result: FlagResult | None
    ) -> None:
        if not self.notifications.has_listeners(NotificationType.DECISION):
            return
        rule = result.rule if result is not None else None
        variation = result.variation if result is not None else None
        info = {
            "flag_key": decision.flag_key,
            "enabled": decision.enabled,
            "variables": decision.variables,
            "variation_key": decision.variation_key,
            "rule_key": decision.rule_key,
            "reasons": list(decision.reasons),
            "decision_event_dispatched": sent,
            "experiment_id": rule.id if rule is not None else None,
            "variation_id": variation.id if variation is not None else None,
        }
        attributes = user.get_user_attributes()
        self.notifications.send(NotificationType.DECISION, "flag", user.user_id, attributes, info)

    # -- events -------------------------------------------------------------
    def _notify_log_event(self, url: str, events: Sequence[UserEvent]) -> None:
        if events and self.notifications.has_listeners(NotificationType.LOG_EVENT):
            self.notifications.send(NotificationType.LOG_EVENT, log_event_dict(events, url))

    def _clock_ms(self) -> int:
        return round(self._clock() * 1000)

    def _submit_event(
        self, event: UserEvent, user: UserContext, tags: Mapping[str, Any] | None
    ) -> None:
        if self._collector is not None:
            self._collector.submit(event)
        if self.notifications.has_listeners(NotificationType.TRACK):
            key = event.visitor["snapshots"][0]["events"][0]["key"]
            self.notifications.send(
                NotificationType.TRACK,
                key,
                user.user_id,
                user.get_user_attributes(),
                dict(tags) if tags is not None else None,
                log_event_dict([event]),
            )
