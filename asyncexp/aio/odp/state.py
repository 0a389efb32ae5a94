"""The ODP manager's integration state and its live counters."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from asyncexp.aio.collectors.base import CollectorStats
    from asyncexp.aio.odp.segments import SegmentStats

__all__ = ["OdpState", "OdpStats"]


class OdpState(StrEnum):
    UNDETERMINED = "undetermined"
    INTEGRATED = "integrated"
    NOT_INTEGRATED = "not_integrated"
    DISABLED = "disabled"


@dataclass(frozen=True, slots=True)
class OdpStats:
    """Live counters: ``segments`` (fetching) and ``events`` (the event queue)."""

    segments: SegmentStats
    events: CollectorStats

    def as_dict(self) -> dict[str, Any]:
        return {"segments": self.segments.as_dict(), "events": self.events.as_dict()}
