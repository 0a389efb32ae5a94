"""Optimizely impression and conversion payloads, built as pure functions.

Rules this module keeps (Optimizely event API v1, as sent by optimizely-sdk 5.7):

* One user event is one visitor with exactly one snapshot; a batch only
  concatenates visitors, and a batch never mixes revisions or projects, so
  ``build_event_batch`` takes the context of its first event.
* Visitor attributes come from the user's attributes at event time, in insertion
  order: a datafile attribute is sent under its id, an unknown ``$opt_`` key
  under its own name, anything else is left out; only strings, bools and finite
  numbers with ``|v| <= 2**53`` are sent. ``$opt_bot_filtering`` goes last when
  the datafile's ``botFiltering`` is a bool.
* ``campaign_id`` is the rule's layer id, else the rule id, else ``""``; for a
  holdout the caller passes no layer id, so it is the holdout id (as the reference);
  ``variation_id`` is sent only when it is a string of ASCII digits (5.6+).
* ``revenue`` is taken only from an int tag (not bool); ``value`` from a number or
  numeric string that is finite, always sent as a float; ``tags`` are sent as given.

Time and ids are arguments: the caller supplies ``uuid`` and ``timestamp`` (ms).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

from asyncexp.errors import ValidationError

__all__ = [
    "CLIENT_NAME",
    "CLIENT_VERSION",
    "EU_EVENTS_URL",
    "EYEOFCLOUD_EVENTS_URL",
    "US_EVENTS_URL",
    "EventContext",
    "ImpressionParts",
    "UserEvent",
    "build_conversion",
    "build_event_batch",
    "build_impression",
    "build_visitor_attributes",
    "campaign_id_for",
    "impression_from_parts",
    "impression_parts",
    "log_event_dict",
    "normalize_variation_id",
]

US_EVENTS_URL = "https://logx.optimizely.com/v1/events"
EU_EVENTS_URL = "https://eu.logx.optimizely.com/v1/events"
EYEOFCLOUD_EVENTS_URL = "https://event.eyeofcloud.com/v1/events"
# The event API identifies the sender by these; asyncexp sends the reference's
# values so payloads stay byte-compatible with what the backend already accepts.
CLIENT_NAME = "python-sdk"
CLIENT_VERSION = "5.7.0"

_MAX_SAFE = 2.0**53
BOT_FILTERING_KEY = "$opt_bot_filtering"


@dataclass(frozen=True, slots=True)
class EventContext:
    """The project-level fields copied into every event batch."""

    account_id: str
    project_id: str
    revision: str
    anonymize_ip: bool = False
    region: str = "US"
    client_name: str = CLIENT_NAME
    client_version: str = CLIENT_VERSION
    endpoint_override: str | None = None  # e.g. the Eyeofcloud events URL

    @property
    def endpoint(self) -> str:
        if self.endpoint_override:
            return self.endpoint_override
        return EU_EVENTS_URL if self.region.upper() == "EU" else US_EVENTS_URL

    @property
    def batch_key(self) -> tuple[str, str]:
        """Events with different keys must not share a batch."""
        return (self.revision, self.project_id)


class UserEvent:
    """One impression or conversion: a visitor ready to be put in a batch. Read-only.

    An impression made from shared parts (``impression_from_parts``) builds its
    ``visitor`` dict on first read (when its batch is encoded): until then the
    event is one GC-tracked object instead of five, so a queue of them costs the
    cyclic collector little."""

    __slots__ = (
        "_attributes",
        "_parts",
        "_visitor",
        "_visitor_id",
        "context",
        "kind",
        "timestamp",
        "uuid",
    )

    def __init__(
        self,
        context: EventContext,
        visitor: dict[str, Any],
        kind: Literal["impression", "conversion"],
        uuid: str,
        timestamp: int,
    ) -> None:
        self.context = context
        self._visitor: dict[str, Any] | None = visitor
        self.kind: Literal["impression", "conversion"] = kind
        self.uuid = uuid
        self.timestamp = timestamp
        self._parts: ImpressionParts | None = None
        self._visitor_id = ""
        self._attributes: list[dict[str, Any]] | None = None

    @property
    def visitor(self) -> dict[str, Any]:
        visitor = self._visitor
        if visitor is None:
            parts = self._parts
            assert parts is not None
            event = {
                "entity_id": parts.campaign_id,
                "uuid": self.uuid,
                "key": "campaign_activated",
                "timestamp": self.timestamp,
            }
            visitor = self._visitor = {
                # The reference's order.
                "snapshots": [{"events": [event], "decisions": parts.decisions}],
                "attributes": self._attributes,
                "visitor_id": self._visitor_id,
            }
            self._parts = self._attributes = None
        return visitor

    def _key(self) -> tuple[object, ...]:
        return (self.context, self.visitor, self.kind, self.uuid, self.timestamp)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, UserEvent):
            return NotImplemented
        return self._key() == other._key()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (
            f"UserEvent(context={self.context!r}, visitor={self.visitor!r}, kind={self.kind!r}, "
            f"uuid={self.uuid!r}, timestamp={self.timestamp!r})"
        )


def _sendable(value: object) -> bool:
    if isinstance(value, str | bool):
        return True
    if isinstance(value, int):
        return abs(value) <= _MAX_SAFE
    if isinstance(value, float):
        return math.isfinite(value) and abs(value) <= _MAX_SAFE
    return False


def build_visitor_attributes(
    attributes: Mapping[str, object],
    attribute_ids: Mapping[str, str],
    bot_filtering: bool | None,
) -> list[dict[str, Any]]:
    """The ``attributes`` list of a visitor (see the module rules)."""
    out: list[dict[str, Any]] = []
    for key, value in attributes.items():
        if not isinstance(key, str) or not _sendable(value):
            continue
        entity_id = attribute_ids.get(key)
        if entity_id is None:
            if not key.startswith("$opt_"):
                continue
            entity_id = key
        out.append({"entity_id": entity_id, "key": key, "type": "custom", "value": value})
    if isinstance(bot_filtering, bool):
        out.append(
            {
                "entity_id": BOT_FILTERING_KEY,
                "key": BOT_FILTERING_KEY,
                "type": "custom",
                "value": bot_filtering,
            }
        )
    return out


def campaign_id_for(layer_id: str | None, experiment_id: str | None) -> str:
    return layer_id or experiment_id or ""


def normalize_variation_id(variation_id: str | None) -> str | None:
    if variation_id and variation_id.isascii() and variation_id.isdigit():
        return variation_id
    return None


class ImpressionParts(NamedTuple):
    """What every impression of one decision outcome shares: the campaign id and the
    ``decisions`` list (read-only once built; events of the outcome all point to it)."""

    campaign_id: str
    decisions: list[dict[str, Any]]


def impression_parts(
    *,
    layer_id: str | None,
    experiment_id: str | None,
    variation_id: str | None,
    flag_key: str,
    rule_key: str,
    rule_type: str,
    variation_key: str,
    enabled: bool,
    cmab_uuid: str | None = None,
) -> ImpressionParts:
    """The outcome-level part of an impression (see ``build_impression``)."""
    campaign_id = campaign_id_for(layer_id, experiment_id)
    metadata: dict[str, Any] = {
        "flag_key": flag_key,
        "rule_key": rule_key,
        "rule_type": rule_type,
        "variation_key": variation_key,
        "enabled": enabled,
    }
    if cmab_uuid:
        metadata["cmab_uuid"] = cmab_uuid
    decision = {
        "campaign_id": campaign_id,
        "experiment_id": experiment_id or "",
        "variation_id": normalize_variation_id(variation_id),
        "metadata": metadata,
    }
    return ImpressionParts(campaign_id, [decision])


def impression_from_parts(
    context: EventContext,
    parts: ImpressionParts,
    user_id: str,
    attributes: list[dict[str, Any]],
    uuid: str,
    timestamp: int,
) -> UserEvent:
    """An impression of a user from its shared parts; its visitor is built when read."""
    event = UserEvent.__new__(UserEvent)
    event.context = context
    event._visitor = None
    event.kind = "impression"
    event.uuid = uuid
    event.timestamp = timestamp
    event._parts = parts
    event._visitor_id = user_id
    event._attributes = attributes
    return event


def build_impression(
    context: EventContext,
    *,
    user_id: str,
    attributes: list[dict[str, Any]],
    layer_id: str | None,
    experiment_id: str | None,
    variation_id: str | None,
    flag_key: str,
    rule_key: str,
    rule_type: str,
    variation_key: str,
    enabled: bool,
    uuid: str,
    timestamp: int,
    cmab_uuid: str | None = None,
) -> UserEvent:
    """An impression (``campaign_activated``) for one decision; a CMAB decision's
    metadata ends with its ``cmab_uuid`` (absent otherwise, as the reference)."""
    parts = impression_parts(
        layer_id=layer_id,
        experiment_id=experiment_id,
        variation_id=variation_id,
        flag_key=flag_key,
        rule_key=rule_key,
        rule_type=rule_type,
        variation_key=variation_key,
        enabled=enabled,
        cmab_uuid=cmab_uuid,
    )
    return impression_from_parts(context, parts, user_id, attributes, uuid, timestamp)


def _revenue(tags: Mapping[str, Any]) -> int | None:
    value = tags.get("revenue")
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return None


def _numeric_value(tags: Mapping[str, Any]) -> float | None:
    value = tags.get("value")
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = float(value)
    except (ValueError, OverflowError):
        return None
    return number if math.isfinite(number) else None


def build_conversion(
    context: EventContext,
    *,
    user_id: str,
    attributes: list[dict[str, Any]],
    event_id: str,
    event_key: str,
    event_tags: Mapping[str, Any] | None,
    uuid: str,
    timestamp: int,
) -> UserEvent:
    """A conversion for ``track_event``; the tags dict is copied, never kept."""
    event: dict[str, Any] = {
        "entity_id": event_id,
        "uuid": uuid,
        "key": event_key,
        "timestamp": timestamp,
    }
    if event_tags is not None:
        revenue = _revenue(event_tags)
        if revenue is not None:
            event["revenue"] = revenue
        value = _numeric_value(event_tags)
        if value is not None:
            event["value"] = value
        event["tags"] = dict(event_tags)
    visitor = {"snapshots": [{"events": [event]}], "attributes": attributes, "visitor_id": user_id}
    return UserEvent(context, visitor, "conversion", uuid, timestamp)


def build_event_batch(events: Sequence[UserEvent]) -> dict[str, Any]:
    """The JSON body for ``POST /v1/events``; all events must share ``batch_key``."""
    if not events:
        raise ValidationError("an event batch needs at least one event")
    ctx = events[0].context
    key = ctx.batch_key
    for event in events:
        if event.context.batch_key != key:
            raise ValidationError("an event batch cannot mix revisions or projects")
    return {
        "account_id": ctx.account_id,
        "project_id": ctx.project_id,
        "revision": ctx.revision,
        "client_name": ctx.client_name,
        "client_version": ctx.client_version,
        "anonymize_ip": ctx.anonymize_ip,
        "enrich_decisions": True,
        "visitors": [event.visitor for event in events],
    }


def log_event_dict(events: Sequence[UserEvent], url: str | None = None) -> dict[str, Any]:
    """The reference's ``LogEvent`` as a dict: what a TRACK or LOG_EVENT listener gets."""
    return {
        "url": url or events[0].context.endpoint,
        "params": build_event_batch(events),
        "http_verb": "POST",
        "headers": {"Content-Type": "application/json"},
    }
