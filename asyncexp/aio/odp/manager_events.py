"""``OdpEventsMixin``: ``OdpManager.send_event``, ``identify`` and ``flush_events``."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from asyncexp.aio.odp.events import OdpEventManager
from asyncexp.aio.odp.messages import IDENTIFY_SKIPPED, ODP_NOT_ENABLED, ThrottledLog, logger
from asyncexp.aio.odp.payload import IDENTIFY_ACTION, USER_ID_KEY, build_odp_event
from asyncexp.aio.odp.state import OdpState
from asyncexp.errors import ClientClosedError

__all__ = ["DROP_DISABLED", "DROP_NO_CONFIG", "OdpEventsMixin"]

DROP_DISABLED = "disabled"
DROP_NO_CONFIG = "no_config"
_NO_CONFIG_TEXT = "ODP event queue: cannot send before the datafile has loaded."


class OdpEventsMixin:
    """Builds ODP events and queues them, or drops and counts them when ODP cannot send."""

    # Set by OdpManager.__init__.
    _disabled: bool
    _new_id: Callable[[], str]
    _log: ThrottledLog
    _events: OdpEventManager
    _settings: tuple[str | None, str | None, tuple[str, ...]] | None
    _closing: asyncio.Future[None] | None

    if TYPE_CHECKING:  # defined by OdpManager

        @property
        def state(self) -> OdpState: ...

    def send_event(
        self,
        *,
        action: str,
        type: str = "fullstack",  # the reference's parameter name
        identifiers: Mapping[str, str] | None,
        data: Mapping[str, Any] | None = None,
    ) -> None:
        """Queue one ODP event; raises on bad input (see :mod:`.payload`), never blocks."""
        if self._closing is not None:
            raise ClientClosedError("the ODP manager is closed")
        event = build_odp_event(
            action=action,
            type=type,
            identifiers=identifiers,
            data=data,
            idempotence_id=self._new_id(),
        )
        if self._disabled:
            self._events.stats.drop(DROP_DISABLED)
            self._log.log(logging.ERROR, "event:disabled", ODP_NOT_ENABLED)
        elif self._settings is None:
            self._events.stats.drop(DROP_NO_CONFIG)
            self._log.log(logging.DEBUG, "event:no_config", _NO_CONFIG_TEXT)
        else:
            self._events.submit(event)

    def identify(self, user_id: str, identifiers: Mapping[str, str] | None = None) -> bool:
        """Queue an ``identified`` event when there are >= 2 non-empty identifiers.

        Returns True when queued. Never raises: this runs on every new user context.
        """
        found: dict[str, str] = {}
        if isinstance(user_id, str) and user_id:
            found[USER_ID_KEY] = user_id
        for key, value in (identifiers or {}).items():
            if isinstance(key, str) and key and isinstance(value, str) and value:
                found.setdefault(key, value)
        if len(found) < 2:
            logger.debug(IDENTIFY_SKIPPED)
            return False
        if self._closing is not None or self.state is not OdpState.INTEGRATED:
            logger.debug("ODP identify event is not dispatched (ODP %s).", self.state)
            return False
        self.send_event(action=IDENTIFY_ACTION, identifiers=found)
        return True

    async def flush_events(self) -> None:
        """Return once every event queued so far is delivered or dropped."""
        await self._events.flush()
