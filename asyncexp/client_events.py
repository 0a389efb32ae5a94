"""``ClientEventsMixin``: decisions, conversions and ODP events a ``Client`` sends out."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from asyncexp.core.flags.events import UserEvent, log_event_dict
from asyncexp.errors import ClientClosedError
from asyncexp.flags.notifications import NotificationCenter, NotificationType

if TYPE_CHECKING:
    from asyncexp.aio.collectors.base import Collector
    from asyncexp.aio.odp import OdpManager
    from asyncexp.core.flags.datafile import ProjectConfig
    from asyncexp.core.flags.decision_types import FlagResult
    from asyncexp.flags.decider import Decider
    from asyncexp.flags.decision import Decision
    from asyncexp.flags.user_context import UserContext

__all__ = ["ClientEventsMixin"]


class ClientEventsMixin:
    """What user contexts call to decide and track, and the notifications that follow."""

    # Set by Client.__init__.
    notifications: NotificationCenter
    _state: str
    _config: ProjectConfig | None
    _collector: Collector | None
    _clock: Callable[[], float]
    _decider: Decider
    _odp: OdpManager

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

    # -- decisions ----------------------------------------------------------
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
