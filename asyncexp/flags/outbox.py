"""``Outbox``: what decisions and conversions send out, and the notifications that follow.

Rules:

* Events are stamped here (``clock_ms``, ``new_id``: the client's clock and id
  factory) and handed to the sink's non-blocking ``submit``; without a sink
  nothing is sent, but notifications still go out.
* ``DECISION``, ``TRACK`` and ``LOG_EVENT`` notifications are built only when
  someone listens (the check is one dict lookup on the hot path).
* Nothing here awaits; ``log_event`` is the hook a collector calls after it
  has sent a batch.
* An event whose user id, attribute keys or values, or tags hold text that is
  not valid Unicode (a lone surrogate) cannot be sent as JSON: it is dropped
  here, before it reaches a batch, counted in ``dropped["unencodable"]`` and
  logged (the 1st, 2nd, 4th, 8th… time); the decision is still returned and
  its notifications still go out. ASCII text costs one ``isascii()``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from asyncexp.core.flags.events import UserEvent, log_event_dict
from asyncexp.flags.notifications import NotificationCenter, NotificationType

if TYPE_CHECKING:
    from asyncexp.core.flags.decision_types import FlagResult
    from asyncexp.flags.decider import EventSink
    from asyncexp.flags.decision import Decision
    from asyncexp.flags.user_context import UserContext

__all__ = ["UNENCODABLE", "Outbox", "encodable", "visitor_encodable"]

logger = logging.getLogger("asyncexp.events")

UNENCODABLE = "unencodable"  # the drop reason, as the collectors name it
_MAX_DEPTH = 32  # nested tags deeper than this are left to the collector's own check


def _text_ok(text: str) -> bool:
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: orjson refuses it
        return False
    return True


def _tags_ok(value: object, depth: int = 0) -> bool:
    if isinstance(value, str):
        return _text_ok(value)
    if depth > _MAX_DEPTH:
        return True
    if isinstance(value, Mapping):
        return all(
            (not isinstance(k, str) or _text_ok(k)) and _tags_ok(v, depth + 1)
            for k, v in value.items()
        )
    if isinstance(value, list | tuple):
        return all(_tags_ok(item, depth + 1) for item in value)
    return True


def visitor_encodable(user_id: object, attributes: Sequence[Mapping[str, Any]]) -> bool:
    """Whether a visitor's id and attributes can be encoded as JSON (UTF-8)."""
    if isinstance(user_id, str) and not _text_ok(user_id):
        return False
    for attribute in attributes:
        for text in (attribute.get("key"), attribute.get("value")):
            if isinstance(text, str) and not _text_ok(text):
                return False
    return True


def encodable(event: UserEvent) -> bool:
    """Whether the user-supplied text of ``event`` can be encoded as JSON (UTF-8)."""
    visitor = event.visitor
    if not visitor_encodable(visitor["visitor_id"], visitor["attributes"]):
        return False
    if event.kind == "conversion":
        tags = visitor["snapshots"][0]["events"][0].get("tags")
        if tags is not None and not _tags_ok(tags):
            return False
    return True


class Outbox:
    """Submits impressions and conversions to the sink and notifies listeners."""

    __slots__ = ("_clock", "_new_id", "_notifications", "_sink", "decision_listeners", "dropped")

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
        self.dropped: dict[str, int] = {}  # events refused before the sink, by reason
        # Read on every decide: a live view of the DECISION listeners, so "anyone
        # listening?" is one truth test.
        self.decision_listeners: Mapping[int, Any] = notifications.listeners_view(
            NotificationType.DECISION
        )

    @property
    def has_sink(self) -> bool:
        return self._sink is not None

    def clock_ms(self) -> int:
        """The client's clock in whole milliseconds (event timestamps)."""
        return round(self._clock() * 1000)

    def new_id(self) -> str:
        """A new event uuid from the client's id factory."""
        return self._new_id()

    def submit_impression(self, event: UserEvent, visitor_ok: bool | None = None) -> None:
        """``visitor_ok``: whether the visitor's text was already found encodable (the
        decider checks it once per user snapshot); None checks it here."""
        if self._sink is not None and self._sendable(event, visitor_ok):
            self._sink.submit(event)

    def _sendable(self, event: UserEvent, visitor_ok: bool | None = None) -> bool:
        """False (counted, logged) for an event that would fail the batch's JSON encoding."""
        if visitor_ok if visitor_ok is not None else encodable(event):
            return True
        count = self.dropped[UNENCODABLE] = self.dropped.get(UNENCODABLE, 0) + 1
        if count & (count - 1) == 0:  # 1st, 2nd, 4th, 8th…: a flood logs ~log2(n) lines
            logger.warning(
                "dropped %d %s event(s) so far: a user id, attribute or tag holds text "
                "that is not valid Unicode (a lone surrogate) and cannot be sent as JSON",
                count,
                event.kind,
            )
        return False

    def submit_conversion(
        self, event: UserEvent, user: UserContext, tags: Mapping[str, Any] | None
    ) -> None:
        """Send a conversion, then ``TRACK`` to listeners."""
        if self._sink is not None and self._sendable(event):
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
        if not self.decision_listeners:
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
