"""``Client``: lifecycle, wiring and the entry points of asyncexp.

Construction does no I/O: a static datafile is parsed on the spot (a few
milliseconds for a 50-flag datafile) and nothing else happens until
``start()`` (or ``async with``), which starts the collector. ``aclose()`` stops
intake and lets the collector drain within the deadline; a second close is a
no-op.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from types import TracebackType
from typing import Any, Protocol, Self, runtime_checkable

from asyncexp.core.datafile import ProjectConfig, parse_datafile
from asyncexp.core.events import UserEvent
from asyncexp.decider import Decider, UserProfileService, normalize_options
from asyncexp.decision import Decision
from asyncexp.errors import ArgumentTypeError, ClientClosedError
from asyncexp.ids import new_event_id
from asyncexp.user_context import UserContext

__all__ = ["Client", "Collector"]

logger = logging.getLogger("asyncexp.client")


@runtime_checkable
class Collector(Protocol):
    """What the client needs of a collector; the collectors in ``asyncexp.aio`` implement it."""

    def submit(self, item: Any) -> None: ...

    async def start(self) -> None: ...

    async def flush(self) -> None: ...

    async def aclose(self, timeout: float | None = None) -> None: ...


class Client:
    """One client per process (or per worker): decisions, events and lifecycle.

    >>> async with Client(datafile=text, collector=collector) as client:
    ...     user = client.create_user_context("u1", {"country": "US"})
    ...     decision = user.decide("checkout")      # a plain call, never awaits
    """

    def __init__(
        self,
        *,
        datafile: str | bytes | Mapping[str, Any] | None = None,
        collector: Collector | None = None,
        user_profile_service: UserProfileService | None = None,
        default_decide_options: Iterable[str] | None = None,
        clock: Callable[[], float] = time.time,
        id_factory: Callable[[], str] | None = None,
    ) -> None:
        self._config: ProjectConfig | None = None
        if datafile is not None:
            self._config = parse_datafile(datafile)
            for warning in self._config.warnings:
                logger.warning("datafile: %s", warning)
        if collector is not None and not callable(getattr(collector, "submit", None)):
            raise ArgumentTypeError("collector must have a submit(item) method")
        self._collector = collector
        self._clock = clock
        self._new_id: Callable[[], str] = id_factory or new_event_id
        self._state = "new"
        self._decider = Decider(
            sink=collector,
            user_profile_service=user_profile_service,
            default_options=normalize_options(default_decide_options),
            clock_ms=self._clock_ms,
            new_id=self._new_id,
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
        """Start background work; idempotent. Raises ``ClientClosedError`` after close."""
        if self._state == "closed":
            raise ClientClosedError("the client is closed")
        if self._state == "started":
            return
        self._state = "started"
        if self._collector is None:
            logger.info("no collector configured: impressions and conversions are not sent")
        elif hasattr(self._collector, "start"):
            await self._collector.start()

    async def aclose(self, timeout: float | None = None) -> None:
        """Stop intake and drain the collector within ``timeout`` seconds; idempotent."""
        if self._state == "closed":
            return
        self._state = "closed"
        if self._collector is not None and hasattr(self._collector, "aclose"):
            await self._collector.aclose(timeout)

    @property
    def closed(self) -> bool:
        return self._state == "closed"

    # -- decisions ----------------------------------------------------------
    def create_user_context(
        self, user_id: str, attributes: Mapping[str, Any] | None = None
    ) -> UserContext:
        """A user context for decisions; a plain call that never awaits."""
        if self._state == "closed":
            raise ClientClosedError("the client is closed")
        return UserContext(self, user_id, attributes)

    @property
    def config(self) -> ProjectConfig | None:
        """The parsed datafile in use, or None before the first one arrives."""
        return self._config

    def _current_config(self) -> ProjectConfig | None:
        return self._config

    def _decide_one(self, user: UserContext, key: str, options: Iterable[str] | None) -> Decision:
        return self._decider.decide_one(self._config, user, key, options)

    def _decide_many(
        self, user: UserContext, keys: Iterable[str] | None, options: Iterable[str] | None
    ) -> dict[str, Decision]:
        return self._decider.decide_many(self._config, user, keys, options)

    # -- events -------------------------------------------------------------
    def _clock_ms(self) -> int:
        return round(self._clock() * 1000)

    def _submit_event(
        self, event: UserEvent, user: UserContext, tags: Mapping[str, Any] | None
    ) -> None:
        if self._collector is not None:
            self._collector.submit(event)
