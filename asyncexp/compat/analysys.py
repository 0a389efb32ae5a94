"""The Analysys Python SDK's names over asyncexp: port a program by changing its imports.

``AnalysysPythonSdk(collector)``, ``setAppId``, ``setDebugMode``, ``track``,
``alias``, ``profile_*``, the super-property calls, ``flush`` and ``close`` keep
the reference's names and positional argument orders; ``DefaultCollecter``,
``BatchCollecter`` and ``LogCollecter`` build the asyncexp collectors from the
reference's parameter names. Everything runs on the event loop, so the program
runs inside one wrapper::

    async def main() -> None:
        async with analysys_session():      # waits for every SDK made inside it
            Demo().pythonsdkdemo()           # the reference program, unchanged

    asyncio.run(main())

Where asyncexp differs, on purpose:

* a record that breaks a rule is dropped and logged, as the reference drops
  it, and counted in ``sdk.analytics.stats.dropped_invalid``;
* calls before ``setAppId`` raise ``ClientStateError`` (the reference requires
  the call too, but fails later, at the receiver);
* ``flush()`` and ``close()`` are plain calls that return an ``asyncio.Task``
  (await it, or let ``analysys_session`` wait for it); nothing blocks the loop;
* ``queue_max_size`` caps the items held in memory; beyond it records go to the
  disk spool instead of being dropped (see README "Nothing lost").
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager
from contextvars import ContextVar
from typing import Any, Literal

from asyncexp.aio.collectors import BatchCollector, LogCollector, RealtimeCollector
from asyncexp.aio.http import HttpTransport
from asyncexp.analytics import Analytics
from asyncexp.errors import ArgumentTypeError, ClientClosedError, ClientStateError

__all__ = [
    "AnalysysPythonSdk",
    "BatchCollecter",
    "Collecter",
    "DefaultCollecter",
    "LogCollecter",
    "analysys_session",
]

logger = logging.getLogger("asyncexp.compat.analysys")

Collecter = RealtimeCollector | BatchCollector | LogCollector
"""What ``AnalysysPythonSdk`` takes: one of the three collectors below."""

# The SDKs made inside the current ``analysys_session`` (per task context, not global).
_SESSION: ContextVar[list[AnalysysPythonSdk] | None] = ContextVar(
    "asyncexp_analysys_session", default=None
)


def DefaultCollecter(  # noqa: N802 - the reference's class name
    server_url: str, request_timeout: float | None = None
) -> RealtimeCollector:
    """The reference's real-time collector: each record sent at once (in the background)."""
    return RealtimeCollector(server_url, request_timeout=request_timeout)


def BatchCollecter(  # noqa: N802 - the reference's class name
    server_url: str,
    max_interval_time: float = 15,
    queue_cache_max_size: int = 10,
    collecter_max_size: int = 100,
    queue_max_size: int = 1000,
    request_timeout: float | None = None,
) -> BatchCollector:
    """The reference's batch collector, with its parameter names and positional order."""
    return BatchCollector(
        server_url,
        max_interval=max_interval_time,
        batch_size=queue_cache_max_size,
        max_request_size=collecter_max_size,
        max_queue_size=queue_max_size,
        request_timeout=request_timeout,
    )


def LogCollecter(  # noqa: N802 - the reference's class name
    log_path: str,
    is_batch: bool = False,
    batch_num: int = 20,
    general_rule: Literal["hour", "day"] = "hour",
) -> LogCollector:
    """The reference's log-file collector: JSON lines per hour or per day."""
    return LogCollector(log_path, batch=is_batch, batch_size=batch_num, rotation=general_rule)


class AnalysysPythonSdk:
    """``AnalysysPythonSdk(collector)``: the reference's API over :class:`Analytics`.

    Needs a running event loop (construct it inside ``analysys_session`` or any
    coroutine): the collector's background task starts at once.
    """

    def __init__(self, collector: Collecter) -> None:
        if not isinstance(collector, RealtimeCollector | BatchCollector | LogCollector):
            raise ArgumentTypeError(
                "collector must be DefaultCollecter, BatchCollecter or LogCollecter, "
                f"not {type(collector).__name__}"
            )
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            raise ClientStateError(
                "AnalysysPythonSdk needs a running event loop: construct it inside "
                "`async with analysys_session():`"
            ) from None
        self._collector = collector
        self._transport = None if isinstance(collector, LogCollector) else HttpTransport()
        self._analytics: Analytics | None = None
        self._debug = 0
        self._super: dict[str, Any] = {}
        self._closing: asyncio.Task[None] | None = None
        self._started = loop.create_task(collector.start(self._transport))
        session = _SESSION.get()
        if session is not None:
            session.append(self)

    # -- settings -------------------------------------------------------------------
    def setAppId(self, appkey: str) -> None:  # noqa: N802 - the reference's name
        self._analytics = self._build(appkey, self._debug)

    def setDebugMode(self, debug: int) -> None:  # noqa: N802
        self._debug = debug
        if self._analytics is not None:
            self._analytics = self._build(self._analytics.app_key, debug)

    def _build(self, appkey: str, debug: int) -> Analytics:
        analytics = Analytics(self._collector, app_key=appkey, debug=debug, on_invalid="drop")
        if self._super:
            analytics.register_super_properties(self._super)
        return analytics

    @property
    def analytics(self) -> Analytics:
        """The asyncexp API underneath (``stats``, and every call with keywords)."""
        if self._analytics is None:
            raise ClientStateError("call setAppId(appkey) first")
        return self._analytics

    def _api(self) -> Analytics:
        if self._closing is not None:
            raise ClientClosedError("the SDK is closed")
        return self.analytics

    # -- events ---------------------------------------------------------------------
    def track(
        self,
        distinct_id: str,
        event_name: str,
        event_properties: Mapping[str, Any] | None = None,
        data_platform: str = "python",
        is_login: bool = False,
        xwhen: int | None = None,
    ) -> None:
        self._api().track(
            distinct_id,
            event_name,
            event_properties,
            platform=data_platform,
            is_login=is_login,
            xwhen=xwhen,
        )

    def alias(
        self,
        alias_id: str,
        distinct_id: str,
        data_platform: str = "python",
        alias_properties: Mapping[str, Any] | None = None,
        is_login: bool = True,  # the reference's parameter; an alias is always a login
        xwhen: int | None = None,
    ) -> None:
        self._api().alias(
            alias_id, distinct_id, alias_properties, platform=data_platform, xwhen=xwhen
        )

    def profile_set(
        self,
        distinct_id: str,
        profile_properties: Mapping[str, Any],
        data_platform: str = "python",
        is_login: bool = False,
        xwhen: int | None = None,
    ) -> None:
        self._api().profile_set(
            distinct_id, profile_properties, platform=data_platform, is_login=is_login, xwhen=xwhen
        )

    def profile_set_once(
        self,
        distinct_id: str,
        profile_properties: Mapping[str, Any],
        data_platform: str = "python",
        is_login: bool = False,
        xwhen: int | None = None,
    ) -> None:
        self._api().profile_set_once(
            distinct_id, profile_properties, platform=data_platform, is_login=is_login, xwhen=xwhen
        )

    def profile_increment(
        self,
        distinct_id: str,
        profile_properties: Mapping[str, int | float],
        data_platform: str = "python",
        is_login: bool = False,
        xwhen: int | None = None,
    ) -> None:
        self._api().profile_increment(
            distinct_id, profile_properties, platform=data_platform, is_login=is_login, xwhen=xwhen
        )

    def profile_append(
        self,
        distinct_id: str,
        profile_properties: Mapping[str, list[str] | tuple[str, ...]],
        data_platform: str = "python",
        is_login: bool = False,
        xwhen: int | None = None,
    ) -> None:
        self._api().profile_append(
            distinct_id, profile_properties, platform=data_platform, is_login=is_login, xwhen=xwhen
        )

    def profile_unset(
        self,
        distinct_id: str,
        profile_properties_keys: Iterable[str],
        data_platform: str = "python",
        is_login: bool = False,
        xwhen: int | None = None,
    ) -> None:
        self._api().profile_unset(
            distinct_id,
            profile_properties_keys,
            platform=data_platform,
            is_login=is_login,
            xwhen=xwhen,
        )

    def profile_delete(
        self,
        distinct_id: str,
        data_platform: str = "python",
        is_login: bool = False,
        xwhen: int | None = None,
    ) -> None:
        self._api().profile_delete(
            distinct_id, platform=data_platform, is_login=is_login, xwhen=xwhen
        )

    # -- super properties (kept here too, so setAppId/setDebugMode carry them over) --
    def registerSuperProperties(self, super_properties: Mapping[str, Any]) -> None:  # noqa: N802
        self._api().register_super_properties(super_properties)
        self._super = self.analytics.get_super_properties()

    def unregisterSuperProperties(self, super_properties_key: str) -> None:  # noqa: N802
        self._api().unregister_super_property(super_properties_key)
        self._super.pop(super_properties_key, None)

    unregisterSuperProperty = unregisterSuperProperties  # noqa: N815 - the page uses both

    def clearSuperProperties(self) -> None:  # noqa: N802
        self._api().clear_super_properties()
        self._super = {}

    def getSingleSuperProperties(self, super_properties_key: str) -> Any:  # noqa: N802
        return self.analytics.get_super_property(super_properties_key)

    def getAllSuperProperties(self) -> dict[str, Any]:  # noqa: N802
        return self.analytics.get_super_properties()

    # -- delivery -------------------------------------------------------------------
    def flush(self) -> asyncio.Task[None]:
        """Send everything queued so far; await the task to wait for the acknowledgement."""
        return asyncio.get_running_loop().create_task(self._flush())

    async def _flush(self) -> None:
        await self._started
        await self._collector.flush()

    def close(self) -> asyncio.Task[None]:
        """Drain (or spool) everything and release the connection; idempotent."""
        if self._closing is None:
            self._closing = asyncio.get_running_loop().create_task(self._close())
        return self._closing

    async def _close(self) -> None:
        try:
            await self._started
        finally:
            try:
                await self._collector.aclose()
            finally:
                if self._transport is not None:
                    await self._transport.aclose()


@asynccontextmanager
async def analysys_session() -> AsyncIterator[list[AnalysysPythonSdk]]:
    """Run reference-style code inside; at exit, every SDK made inside is closed and
    awaited (what it queued is delivered, or spooled within the close deadline)."""
    made: list[AnalysysPythonSdk] = []
    token = _SESSION.set(made)
    try:
        yield made
    finally:
        _SESSION.reset(token)
        for sdk in made:
            await sdk.close()
