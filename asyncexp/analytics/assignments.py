"""AppConfig assignments as Analysys records, so an Analysys receiver can read them.

An AppConfig assignment-log event (``AWS.AppConfig.TreatmentAssignment``, built
by :func:`asyncexp.core.appconfig.build_assignment_event`) has no Analysys
envelope. In a client it travels in the same ``/up`` stream (or log file) as
the analytics records, so :class:`AssignmentRecords` sends each one as an
Analysys event instead: ``xwhat`` is :data:`ASSIGNMENT_EVENT`, ``xwho`` the
entity id, and the assignment's fields (``type``, ``timestamp``, ``region``,
``accountId``, ``applicationId``, ``experimentDefinitionId``,
``experimentRunNumber``, ``treatmentKey``, ``entityId``) are its properties;
``appid``, ``xwhen``, ``$record_id`` and the library's keys come from
:class:`~asyncexp.analytics.Analytics` like any record.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from asyncexp.analytics.api import Analytics

__all__ = ["ASSIGNMENT_EVENT", "AssignmentRecords"]

ASSIGNMENT_EVENT = "AppConfigTreatmentAssignment"
"""The Analysys event name (``xwhat``) of an AppConfig assignment."""


class AssignmentRecords:
    """An AppConfig assignment sink that records each assignment with ``Analytics.track``."""

    __slots__ = ("_analytics",)

    def __init__(self, analytics: Analytics) -> None:
        self._analytics = analytics

    def submit(self, item: dict[str, Any], /) -> None:
        # A record that breaks a rule (an entity id over 255 characters, say) raises
        # here; AppConfigExperiments counts it as a dropped assignment.
        self._analytics.track(str(item["entityId"]), ASSIGNMENT_EVENT, item)
