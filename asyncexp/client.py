"""``Client``: lifecycle, wiring and the entry points of asyncexp.

Construction does no I/O: a static datafile is parsed on the spot (a few
milliseconds for a 50-flag datafile) and nothing else happens until
``start()`` (or ``async with``), which starts the collector.

The client wires parts that hold their own state and only delegates to them:

* :class:`~asyncexp.flags.current_config.CurrentConfig`: the datafile in use;
* :class:`~asyncexp.flags.outbox.Outbox`: clock, ids, the collector's
  ``submit`` and the DECISION/TRACK/LOG_EVENT notifications;
* :class:`~asyncexp.flags.decider.Decider`: what user contexts call;
* shared state for many workers (see ``docs-drafts/many-workers.md``): the
  :class:`~asyncexp.flags.profile_store.ProfileLoader` and the write-behind
  :class:`~asyncexp.aio.profile_saver.ProfileSaver` of ``profile_store=``, the
  :class:`~asyncexp.aio.shared_datafile.SharedDatafile` of ``datafile_store=`` /
  ``poll_leader=``, and the :class:`~asyncexp.aio.store_parts.StoreParts`
  that start and close the stores themselves;
* :class:`~asyncexp.analytics.Analytics`, :class:`~asyncexp.aio.odp.OdpManager`,
  :class:`~asyncexp.aio.appconfig.AppConfigExperiments`, the datafile source,
  the collector and the HTTP transport.

Lifecycle rules:

* ``start()`` starts the collector, polling, AppConfig and ODP, then waits for a
  first datafile. If it fails or is cancelled, everything started is closed
  before the exception propagates, and the client is closed.
* ``aclose()`` runs one ordered close in its own task (sources first, the
  collector's drain within ``timeout``, the owned session last) and awaits it
  through ``asyncio.shield``: a cancelled or timed-out ``aclose`` re-raises the
  cancellation while the close goes on, and every later ``aclose`` (concurrent
  or not) waits for that same task.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, Self

from asyncexp.aio.cmab import DEFAULT_PREDICTION_ENDPOINT, HttpCmabPredictor
from asyncexp.aio.collectors.base import Collector, CollectorStats
from asyncexp.aio.collectors.http_sender import HttpSender
from asyncexp.aio.datafile_source import DatafileSource, datafile_url_for
from asyncexp.aio.datafile_store import FileDatafileStore
from asyncexp.aio.http import HttpSettings, HttpTransport
from asyncexp.aio.ids import new_event_id
from asyncexp.aio.odp import OdpManager
from asyncexp.aio.plan_warmup import PlanWarmup
from asyncexp.aio.profile_saver import ProfileSaver
from asyncexp.aio.refresh_result import RefreshResult
from asyncexp.aio.shared_datafile import SharedDatafile
from asyncexp.aio.store_parts import StoreParts
from asyncexp.analytics.api import Analytics
from asyncexp.analytics.assignments import AssignmentRecords
from asyncexp.errors import ArgumentTypeError, ClientClosedError, ClientStateError, ConfigError
from asyncexp.flags.cmab import (
    DEFAULT_CMAB_CACHE_SIZE,
    DEFAULT_CMAB_CACHE_TTL,
    CmabCache,
    CmabResolver,
)
from asyncexp.flags.current_config import CurrentConfig
from asyncexp.flags.decider import Decider, UserProfileService, normalize_options
from asyncexp.flags.notifications import NotificationCenter, NotificationType
from asyncexp.flags.outbox import Outbox
from asyncexp.flags.parsing import parse_datafile_fast
from asyncexp.flags.profile_store import ProfileLoader
from asyncexp.flags.user_context import UserContext
from asyncexp.options import (
    AppConfigOptions,
    OdpOptions,
    ProfileOptions,
    Vendor,
    check_client_settings,
    check_collector_fit,
    check_options,
)

if TYPE_CHECKING:
    from collections.abc import Awaitable

    from asyncexp.aio.appconfig import AppConfigExperiments, RunSource
    from asyncexp.aio.datafile_source import DatafileStats
    from asyncexp.aio.datafile_status import DatafileStatus
    from asyncexp.aio.datafile_store import DatafileStore, PollLeader
    from asyncexp.analytics.profiles import XWhen
    from asyncexp.core.flags.datafile import ProjectConfig
    from asyncexp.flags.config_view import ProjectConfigView
    from asyncexp.flags.profile_store import AsyncProfileStore

__all__ = ["Client"]

logger = logging.getLogger("asyncexp.client")


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
        vendor: Vendor = "optimizely",
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
        http: HttpSettings | None = None,
        appconfig_sources: Sequence[RunSource] = (),
        appconfig_options: AppConfigOptions | None = None,
        app_key: str | None = None,
        debug: int = 0,
        on_invalid: Literal["raise", "drop"] = "raise",
        record_ids: bool = True,
        odp_disabled: bool = False,
        odp_options: OdpOptions | None = None,
        profile_store: AsyncProfileStore | None = None,
        profile_options: ProfileOptions | None = None,
        datafile_store: str | os.PathLike[str] | DatafileStore | None = None,
        poll_leader: PollLeader | None = None,
        cmab_prediction_endpoint: str = DEFAULT_PREDICTION_ENDPOINT,
        cmab_cache_size: int = DEFAULT_CMAB_CACHE_SIZE,
        cmab_cache_ttl: float = DEFAULT_CMAB_CACHE_TTL,
    ) -> None:
        if isinstance(default_decide_options, Iterator):
            # a one-shot iterator: the check below and the decider both read it
            default_decide_options = list(default_decide_options)
        if collector is not None and not callable(getattr(collector, "submit", None)):
            raise ArgumentTypeError("collector must have a submit(item) method")
        # Every setting is checked here, before anything is built: ConfigError names it.
        check_client_settings(
            {
                "datafile": datafile,
                "sdk_key": sdk_key,
                "datafile_url": datafile_url,
                "datafile_access_token": datafile_access_token,
                "vendor": vendor,
                "url_template": url_template,
                "update_interval": update_interval,
                "request_timeout": request_timeout,
                "ready_timeout": ready_timeout,
                "clock": clock,
                "id_factory": id_factory,
                "app_key": app_key,
                "debug": debug,
                "record_ids": record_ids,
                "odp_disabled": odp_disabled,
                "default_decide_options": default_decide_options,
            }
        )
        odp_settings = check_options("odp_options", odp_options, OdpOptions)
        appconfig_settings = check_options("appconfig_options", appconfig_options, AppConfigOptions)
        profile_settings = check_options("profile_options", profile_options, ProfileOptions)
        check_collector_fit(
            collector,
            app_key=app_key,
            assignments=bool(appconfig_sources)
            and appconfig_settings.get("record_assignments", True) is not False,
        )
        self.notifications = NotificationCenter()
        self._collector = collector
        self._outbox = Outbox(
            sink=collector,
            notifications=self.notifications,
            clock=clock,
            id_factory=id_factory or new_event_id,
        )
        if collector is not None and hasattr(collector, "on_log_event"):
            collector.on_log_event = self._outbox.log_event
        self._state = "new"
        self._closing: asyncio.Task[None] | None = None
        self._ready_timeout = ready_timeout
        self._transport = transport
        self._owns_transport = transport is None
        if http is not None and (transport is not None or not isinstance(http, HttpSettings)):
            raise ConfigError("http= takes an HttpSettings for the client's own transport")
        self._http_settings = http
        # Before the first revision is applied: every new one updates ODP's host, key
        # and segments.
        self._odp = OdpManager(self._http, disabled=odp_disabled, **odp_settings)
        self._stores = StoreParts()
        self._stores.add(odp_settings.get("segments_cache"))
        self._plans = PlanWarmup()
        self._current = CurrentConfig(
            vendor=vendor, notifications=self.notifications, on_update=self._config_updated
        )
        self._shared = self._shared_datafile(datafile_store, poll_leader, update_interval)
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
                self._current.apply,
                access_token=datafile_access_token,
                sdk_key=sdk_key,
                update_interval=update_interval,
                request_timeout=request_timeout,
                current_revision=lambda: self._current.revision,
                parse=parse_datafile_fast,
                gate=self._shared.may_poll if self._shared and poll_leader else None,
                on_new_body=self._shared.persist if self._shared else None,
            )
        if datafile is not None:
            self._current.apply(parse_datafile_fast(datafile))
        self._analytics: Analytics | None = None
        if collector is not None and app_key is not None:
            self._analytics = Analytics(
                collector,
                app_key=app_key,
                debug=debug,
                on_invalid=on_invalid,
                clock=self._outbox.clock_ms,
                record_ids=record_ids,
            )
        # AppConfig experiment runs share the collector and the clock; polling starts
        # with the client only when sources are given.
        # Start-up and requests are bounded by the client's settings unless the options say.
        bounds = {"ready_timeout": ready_timeout, "request_timeout": request_timeout}
        # Assignments travel with the analytics records, so they are Analysys records too
        # (an Analysys receiver cannot read the bare assignment-log shape).
        recorder = AssignmentRecords(self._analytics) if self._analytics is not None else None
        if recorder is None and appconfig_sources and collector is not None:
            logger.warning(
                "AppConfig assignments are recorded as Analysys records: pass app_key= to "
                "record them; none will be sent"
            )
        self._appconfig_args: tuple[Any, Callable[[], float], dict[str, Any]] = (
            recorder,
            clock,
            {**bounds, **appconfig_settings},
        )
        self._appconfig: AppConfigExperiments | None = None
        if appconfig_sources or appconfig_settings:
            self._appconfig = self._build_appconfig(appconfig_sources)
        # Async sticky bucketing: contexts load profiles before deciding; changed ones are
        # saved write-behind by the saver.
        self._profiles: ProfileLoader | None = None
        self._saver: ProfileSaver | None = None
        if profile_store is not None:
            options = profile_settings
            self._profiles = ProfileLoader(
                profile_store,
                load_timeout=float(options.pop("load_timeout", 0.5)),
                batch_size=int(options.pop("load_batch_size", 100)),
            )
            self._saver = ProfileSaver(profile_store.save, **options)
            self._stores.add(profile_store)
        self._decider = Decider(
            current=self._current,
            outbox=self._outbox,
            user_profile_service=user_profile_service,
            default_options=normalize_options(default_decide_options),
            profile_loader=self._profiles,
            profile_sink=self._saver,
            cmab=self._cmab_resolver(
                cmab_prediction_endpoint, cmab_cache_size, cmab_cache_ttl, clock, id_factory
            ),
        )

    @property
    def appconfig(self) -> AppConfigExperiments:
        """AppConfig experiment runs (:class:`~asyncexp.aio.appconfig.AppConfigExperiments`).

        Built at construction when ``appconfig_sources`` or ``appconfig_options`` are
        given, else on first use: a client that never evaluates a run never imports
        the AppConfig rule engine (about 25 ms of import)."""
        if self._appconfig is None:
            self._appconfig = self._build_appconfig(())
        return self._appconfig

    def _build_appconfig(self, sources: Sequence[RunSource]) -> AppConfigExperiments:
        from asyncexp.aio.appconfig import AppConfigExperiments

        recorder, clock, settings = self._appconfig_args
        return AppConfigExperiments(recorder, sources=sources, clock=clock, **settings)

    def _cmab_resolver(
        self,
        endpoint: object,
        size: object,
        ttl: object,
        clock: Callable[[], float],
        id_factory: Callable[[], str] | None,
    ) -> CmabResolver:
        """CMAB predictions for ``decide_async`` (asyncexp.flags.cmab), over this client's
        HTTP transport; ``{}`` in the endpoint stands for the rule id."""
        if not isinstance(endpoint, str) or "{}" not in endpoint:
            raise ConfigError("cmab_prediction_endpoint: must be a str with {} for the rule id")
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise ConfigError("cmab_cache_size: must be an int >= 0")
        if isinstance(ttl, bool) or not isinstance(ttl, int | float) or ttl < 0:
            raise ConfigError("cmab_cache_ttl: must be a number of seconds >= 0")
        return CmabResolver(
            HttpCmabPredictor(self._http, endpoint=endpoint),
            clock=clock,
            id_factory=id_factory or new_event_id,
            cache=CmabCache(capacity=size, ttl=float(ttl), clock=clock),
        )

    def _shared_datafile(
        self,
        store: str | os.PathLike[str] | DatafileStore | None,
        leader: PollLeader | None,
        update_interval: float,
    ) -> SharedDatafile | None:
        if store is None:
            if leader is not None:
                raise ConfigError("poll_leader= needs a datafile_store= to share revisions")
            return None
        if isinstance(store, str | os.PathLike):
            store = FileDatafileStore(store)
        self._stores.add(store)
        self._stores.add(leader)
        notifications = self.notifications

        def stored(revision: str, age: float) -> None:
            notifications.send(NotificationType.STORED_DATAFILE, revision, age)

        return SharedDatafile(
            store,
            apply=self._current.apply,
            parse=parse_datafile_fast,
            current_revision=lambda: self._current.revision,
            on_stored=stored,
            leader=leader,
            follow_interval=update_interval,
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
        If starting fails or is cancelled, the client closes what it started and is
        closed when the exception propagates.
        """
        if self._state == "closed":
            raise ClientClosedError("the client is closed")
        if self._state == "started":
            return
        self._state = "started"
        try:
            await self._start_parts()
        except BaseException:
            # Nothing started may outlive a failed start: no task, socket or session.
            await self.aclose()
            raise

    def _config_updated(self, config: ProjectConfig) -> None:
        self._odp.update_config(config)
        self._plans.schedule(config)  # once started: every flag's plan, off the first decides

    async def _start_parts(self) -> None:
        self._plans.start(self._current.config)
        await self._stores.start()
        if self._saver is not None:
            self._saver.start()
        if self._shared is not None:
            await self._shared.start()  # the stored datafile, before the first CDN request
        if self._collector is None:
            logger.info("no collector configured: impressions and conversions are not sent")
        else:
            self._warn_events_endpoint()
            await self._collector.start(self._http())
        if self._source is not None:
            self._source.start(self._http())
        if self._appconfig is not None:
            await self._appconfig.start()
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
        event = self._current.ready_event
        if event.is_set():
            return True
        try:
            await asyncio.wait_for(event.wait(), timeout)
        except TimeoutError:
            return False
        return True

    async def aclose(self, timeout: float | None = None) -> None:
        """Stop polling and intake, drain the collector within ``timeout`` seconds, close
        the HTTP session; idempotent, and a concurrent second call waits for the first.

        Cancelling the caller (or ``wait_for`` timing out) does not stop the close: it
        runs in its own task, shielded, and the cancellation is re-raised here."""
        self._state = "closed"
        closing = self._closing
        if closing is None:
            closing = self._closing = asyncio.create_task(
                self._close_parts(timeout), name="asyncexp-client-close"
            )
        elif closing.done():
            return
        try:
            await asyncio.shield(closing)
        except asyncio.CancelledError:
            if not closing.done():
                # This caller will not see how the close ends; a failure is logged.
                closing.add_done_callback(_log_close_failure)
            raise

    async def _close_parts(self, timeout: float | None) -> None:
        """The ordered close; a part that fails is logged and the next ones still close."""
        steps: list[tuple[str, Callable[[], Awaitable[None]]]] = []
        steps.append(("plan warm-up", self._plans.aclose))
        if self._source is not None:
            steps.append(("datafile source", self._source.aclose))
        if self._shared is not None:
            steps.append(("shared datafile", self._shared.aclose))
        if self._appconfig is not None:
            steps.append(("AppConfig", self._appconfig.aclose))
        steps.append(("ODP", lambda: self._odp.aclose(timeout)))
        if self._saver is not None:
            saver = self._saver
            steps.append(("profile saver", lambda: saver.aclose(timeout)))
        steps.append(("notifications", self.notifications.drain))
        if self._collector is not None:
            collector = self._collector
            steps.append(("collector", lambda: collector.aclose(timeout)))
        steps.append(("stores", self._stores.aclose))
        if self._transport is not None and self._owns_transport:
            steps.append(("HTTP session", self._transport.aclose))
        first: Exception | None = None
        for name, close in steps:
            try:
                await close()
            except Exception as exc:
                logger.exception("closing the %s failed", name)
                first = first or exc
        if first is not None:
            raise first

    @property
    def closed(self) -> bool:
        return self._state == "closed"

    async def refresh(self) -> RefreshResult:
        """Fetch the datafile now, outside the polling schedule, and say what happened.

        A :class:`~asyncexp.aio.refresh_result.RefreshResult`: ``UPDATED``,
        ``UNCHANGED`` (same revision), ``NOT_MODIFIED`` (304), ``REJECTED`` (the body
        did not parse or validate; the current datafile stays) or ``FAILED``
        (network, timeout, HTTP error). It is truthy for the first three only.
        Raises ``ClientStateError`` without a source or before ``start()``."""
        if self._source is None:
            raise ClientStateError("no datafile source: pass sdk_key= or datafile_url=")
        if self._state != "started":
            raise ClientStateError("start the client before refreshing")
        return await self._source.refresh()

    def _warn_events_endpoint(self) -> None:
        """Once per client: an HTTP collector pointed at the user's own server, without
        ``optimizely_events_url``, still sends flag impressions to Optimizely."""
        collector = self._collector
        if not isinstance(collector, HttpSender) or collector.events_url is not None:
            return
        if not collector.accepts_records:
            return  # no url of its own: Optimizely's endpoint is the only destination
        if self._source is None and self._current.config is None:
            return  # no flags: no impressions
        logger.warning(
            "%s sends analytics records to its url, but flag impressions and conversions "
            "go to the endpoint the datafile names (Optimizely's event API); pass "
            "optimizely_events_url= to send them elsewhere",
            type(collector).__name__,
        )

    def _http(self) -> HttpTransport:
        if self._transport is None:
            self._transport = HttpTransport(settings=self._http_settings)
        return self._transport

    @property
    def collector_stats(self) -> CollectorStats | None:
        """The collector's counters (queued, sent, dropped by reason, spooled, ...), or
        None without a collector (or with one that keeps no ``stats``)."""
        stats = getattr(self._collector, "stats", None)
        return stats if isinstance(stats, CollectorStats) else None

    async def flush(self) -> None:
        """Send everything queued so far; returns when the collector acknowledged it."""
        if self._collector is not None:
            await self._collector.flush()

    # -- the datafile in use (CurrentConfig's) ------------------------------
    @property
    def config(self) -> ProjectConfig | None:
        """The parsed datafile in use, or None before the first one arrives."""
        return self._current.config

    def get_config(self) -> ProjectConfigView | None:
        """The project-config view of the current revision, built once, on first use."""
        return self._current.view()

    @property
    def datafile_stats(self) -> DatafileStats | None:
        """Polling counters (fetches, 304s, updates, errors by kind), when polling."""
        return self._source.stats if self._source is not None else None

    @property
    def datafile_status(self) -> DatafileStatus | None:
        """The polling source's health (valid / interrupted, listeners), when polling."""
        return self._source.status if self._source is not None else None

    # -- decisions ----------------------------------------------------------
    def create_user_context(
        self, user_id: str, attributes: Mapping[str, Any] | None = None
    ) -> UserContext:
        """A user context for decisions; a plain call that never awaits."""
        if self._state == "closed":
            raise ClientClosedError("the client is closed")
        # No ODP identify here: since 5.6 the reference sends one only with two or more
        # identifiers, and a new context has just the user id.
        return UserContext(self._decider, self._odp, user_id, attributes)

    async def create_user_context_async(
        self, user_id: str, attributes: Mapping[str, Any] | None = None
    ) -> UserContext:
        """``create_user_context``, then ``await user.load_profile()`` (with a
        ``profile_store``): the context's decisions are sticky and never await."""
        user = self.create_user_context(user_id, attributes)
        await user.load_profile()
        return user

    async def load_profiles(self, users: Sequence[UserContext]) -> int:
        """Load the profiles of many contexts with one batched lookup; how many loaded."""
        if self._profiles is None:
            return 0
        return await self._profiles.load_into(users)

    @property
    def profile_stats(self) -> dict[str, Any] | None:
        """Profile loads and write-behind saves (counters), with a ``profile_store``."""
        if self._profiles is None or self._saver is None:
            return None
        loads = self._profiles.stats
        return {
            "loads": loads.loads,
            "found": loads.found,
            "missing": loads.missing,
            "invalid": loads.invalid,
            "failed": loads.failed,
            "unloaded_decides": loads.unloaded_decides,
            "saves": self._saver.stats.as_dict(),
        }

    @property
    def profile_saver(self) -> ProfileSaver | None:
        return self._saver

    @property
    def shared_datafile(self) -> SharedDatafile | None:
        """The stored datafile and leader polling (``stats``), with a ``datafile_store``."""
        return self._shared

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

    # -- analytics (Analytics's; each call needs collector= and app_key=) -------------
    @property
    def analytics(self) -> Analytics:
        """The Analysys-style analytics API; needs ``collector=`` and ``app_key=``."""
        if self._analytics is None:
            raise ClientStateError("analytics needs Client(collector=..., app_key=...)")
        return self._analytics

    def track(
        self,
        distinct_id: str,
        event_name: str,
        properties: Mapping[str, Any] | None = None,
        *,
        platform: str | None = "python",
        is_login: bool = False,
        xwhen: XWhen = None,
    ) -> None:
        """An event; registered super properties are merged under ``properties``."""
        self.analytics.track(
            distinct_id, event_name, properties, platform=platform, is_login=is_login, xwhen=xwhen
        )

    def alias(
        self,
        alias_id: str,
        distinct_id: str,
        properties: Mapping[str, Any] | None = None,
        *,
        platform: str | None = "python",
        xwhen: XWhen = None,
    ) -> None:
        """Links the anonymous ``distinct_id`` to the login id ``alias_id``."""
        self.analytics.alias(alias_id, distinct_id, properties, platform=platform, xwhen=xwhen)

    def profile_set(
        self,
        distinct_id: str,
        properties: Mapping[str, Any],
        *,
        platform: str | None = "python",
        is_login: bool = False,
        xwhen: XWhen = None,
    ) -> None:
        """Sets user properties (overwriting); nothing is sent for an empty dict."""
        self.analytics.profile_set(
            distinct_id, properties, platform=platform, is_login=is_login, xwhen=xwhen
        )

    def profile_set_once(
        self,
        distinct_id: str,
        properties: Mapping[str, Any],
        *,
        platform: str | None = "python",
        is_login: bool = False,
        xwhen: XWhen = None,
    ) -> None:
        """Sets user properties that are not set yet."""
        self.analytics.profile_set_once(
            distinct_id, properties, platform=platform, is_login=is_login, xwhen=xwhen
        )

    def profile_increment(
        self,
        distinct_id: str,
        properties: Mapping[str, int | float],
        *,
        platform: str | None = "python",
        is_login: bool = False,
        xwhen: XWhen = None,
    ) -> None:
        """Adds numbers to numeric user properties."""
        self.analytics.profile_increment(
            distinct_id, properties, platform=platform, is_login=is_login, xwhen=xwhen
        )

    def profile_append(
        self,
        distinct_id: str,
        properties: Mapping[str, list[str] | tuple[str, ...]],
        *,
        platform: str | None = "python",
        is_login: bool = False,
        xwhen: XWhen = None,
    ) -> None:
        """Appends strings to list user properties."""
        self.analytics.profile_append(
            distinct_id, properties, platform=platform, is_login=is_login, xwhen=xwhen
        )

    def profile_unset(
        self,
        distinct_id: str,
        keys: Iterable[str],
        *,
        platform: str | None = "python",
        is_login: bool = False,
        xwhen: XWhen = None,
    ) -> None:
        """Removes the named user properties."""
        self.analytics.profile_unset(
            distinct_id, keys, platform=platform, is_login=is_login, xwhen=xwhen
        )

    def profile_delete(
        self,
        distinct_id: str,
        *,
        platform: str | None = "python",
        is_login: bool = False,
        xwhen: XWhen = None,
    ) -> None:
        """Deletes every property of the user."""
        self.analytics.profile_delete(
            distinct_id, platform=platform, is_login=is_login, xwhen=xwhen
        )

    def register_super_properties(self, properties: Mapping[str, Any]) -> None:
        """Merges ``properties`` into every later ``track`` (at most 100; always raises)."""
        self.analytics.register_super_properties(properties)

    def unregister_super_property(self, key: str) -> None:
        self.analytics.unregister_super_property(key)

    def clear_super_properties(self) -> None:
        self.analytics.clear_super_properties()

    def get_super_property(self, key: str) -> Any:
        """The registered value (lists come back as new lists), or ``None``."""
        return self.analytics.get_super_property(key)

    def get_super_properties(self) -> dict[str, Any]:
        """A copy of every registered super property."""
        return self.analytics.get_super_properties()


def _log_close_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.error("closing the client failed", exc_info=task.exception())
