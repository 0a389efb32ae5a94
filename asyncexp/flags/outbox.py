"""``Outbox``: what decisions and conversions send out, and the notifications that follow.

Rules:

* Events are stamped here (``clock_ms``, ``new_id``: the client's clock and id
  factory) and handed to the sink's non-blocking ``submit``; without a sink
  nothing is sent, but notifications still go out.
* ``DECISION``, ``TRACK`` and ``LOG_EVENT`` notifications are built only when
  someone listens (the check is one dict lookup on the hot path).
* Nothing here awaits; ``log_event`` is the hook a collector calls after it
  has sent a batch.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from asyncexp.core.flags.events import UserEvent, log_event_dict
from asyncexp.flags.notifications import NotificationCenter, NotificationType

if TYPE_CHECKING:
    from asyncexp.core.flags.decision_types import FlagResult
    from asyncexp.flags.decider import EventSink
    from asyncexp.flags.decision import Decision
    from asyncexp.flags.user_context import UserContext

__all__ = ["Outbox"]


class Outbox:
    """Submits impressions and conversions to the sink and notifies listeners."""

    __slots__ = ("_clock", "_new_id", "_notifications", "_sink")

    def __init__(
        self,
        *,
        sink: EventSink | None,
        notifications: NotificationCenter,
        clock: Callable[[], float],
        id_factory: Callable[[], str],
    ) -> None:
        self._sink = sink
        self._notifications = notifications
        self._clock = clock
        self._new_id = id_factory

    @property
    def has_sink(self) -> bool:
        return self._sink is not None

    def clock_ms(self) -> int:
        """The client's clock in whole milliseconds (event timestamps)."""
        return round(self._clock() * 1000)

    def new_id(self) -> str:
        """A new event uuid from the client's id factory."""
        return self._new_id()

    def submit_impression(self, event: UserEvent) -> None:
        if self._sink is not None:
            self._sink.submit(event)

    def submit_conversion(
        self, event: UserEvent, user: UserContext, tags: Mapping[str, Any] | None
    ) -> None:
        """Send a conversion, then ``TRACK`` to listeners."""
        if self._sink is not None:
            self._sink.submit(event)
        notifications = self._notifications
        if notifications.has_listeners(NotificationType.TRACK):
            key = event.visitor["snapshots"][0]["events"][0]["key"]
            notifications.send(
                NotificationType.TRACK,
                key,
                user.user_id,
                user.get_user_attributes(),
                dict(tags) if tags is not None else None,
                log_event_dict([event]),
            )

    def decision(
        self, user: UserContext, decision: Decision, sent: bool, result: FlagResult | None
    ) -> None:
        """``DECISION`` to listeners, after a flag was decided."""
        if not self._notifications.has_listeners(NotificationType.DECISION):
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
        self._notifications.send(NotificationType.DECISION, "flag", user.user_id, attributes, info)

    def log_event(self, url: str, events: Sequence[UserEvent]) -> None:
        """``LOG_EVENT`` to listeners: a collector sent ``events`` to ``url``."""
        if events and self._notifications.has_listeners(NotificationType.LOG_EVENT):
            self._notifications.send(NotificationType.LOG_EVENT, log_event_dict(events, url))
