"""``OdpEvents``: the ODP manager's events part: ``send_event``, ``identify``, flushing.

Rules: ``send_event`` builds the event (bad input raises, see :mod:`.payload`)
and queues it in the :class:`~asyncexp.aio.odp.events.OdpEventManager` this
part owns, or drops and counts it as ``disabled`` or ``no_config`` when ODP
cannot send; after close it raises ``ClientClosedError``. ``identify`` never
raises and queues an ``identified`` event only with two or more identifiers.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from asyncexp.aio.odp.events import OdpEventManager
from asyncexp.aio.odp.messages import IDENTIFY_SKIPPED, ODP_NOT_ENABLED, ThrottledLog, logger
from asyncexp.aio.odp.payload import IDENTIFY_ACTION, USER_ID_KEY, build_odp_event
from asyncexp.aio.odp.state import OdpSettings, OdpState
from asyncexp.errors import ClientClosedError

__all__ = ["DROP_DISABLED", "DROP_NO_CONFIG", "OdpEvents"]

DROP_DISABLED = "disabled"
DROP_NO_CONFIG = "no_config"
_NO_CONFIG_TEXT = "ODP event queue: cannot send before the datafile has loaded."


class OdpEvents:
    """Builds ODP events and queues them, or drops and counts them when ODP cannot send."""

    def __init__(
        self,
        settings: OdpSettings,
        queue: OdpEventManager,
        *,
        id_factory: Callable[[], str],
        log: ThrottledLog,
    ) -> None:
        self._settings = settings
        self.queue = queue
        self._new_id = id_factory
        self._log = log

    def send_event(
        self,
        *,
        action: str,
        type: str = "fullstack",  # the reference's parameter name
        identifiers: Mapping[str, str] | None,
        data: Mapping[str, Any] | None = None,
    ) -> None:
        """Queue one ODP event; raises on bad input (see :mod:`.payload`), never blocks."""
        settings = self._settings
        if settings.closed:
            raise ClientClosedError("the ODP manager is closed")
        event = build_odp_event(
            action=action,
            type=type,
            identifiers=identifiers,
            data=data,
            idempotence_id=self._new_id(),
        )
        if settings.disabled:
            self.queue.stats.drop(DROP_DISABLED)
            self._log.log(logging.ERROR, "event:disabled", ODP_NOT_ENABLED)
        elif settings.current is None:
            self.queue.stats.drop(DROP_NO_CONFIG)
            self._log.log(logging.DEBUG, "event:no_config", _NO_CONFIG_TEXT)
        else:
            self.queue.submit(event)

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
        state = self._settings.state
        if self._settings.closed or state is not OdpState.INTEGRATED:
            logger.debug("ODP identify event is not dispatched (ODP %s).", state)
            return False
        self.send_event(action=IDENTIFY_ACTION, identifiers=found)
        return True
