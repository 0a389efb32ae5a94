"""The ODP manager's integration state, the settings its parts share, and its live counters.

Rules: :class:`OdpSettings` is the one mutable state the manager's segments
part and events part share; only the manager changes it (``update`` from a
new config, ``closed`` / ``fetching_closed`` at close). The parts read it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from asyncexp.aio.collectors.base import CollectorStats
    from asyncexp.aio.odp.segments import SegmentStats

__all__ = ["OdpSettings", "OdpState", "OdpStats"]


class OdpState(StrEnum):
    UNDETERMINED = "undetermined"
    INTEGRATED = "integrated"
    NOT_INTEGRATED = "not_integrated"
    DISABLED = "disabled"


class OdpSettings:
    """Host, key and segments of the current config, their epoch, and the closing flags."""

    __slots__ = ("closed", "current", "disabled", "epoch", "fetching_closed", "host", "key")

    def __init__(self, *, disabled: bool, host: str | None, public_key: str | None) -> None:
        self.disabled = disabled
        self.host = host  # overrides of the datafile's values, when given
        self.key = public_key
        # (host, key, segments) of the current config; None until one is seen
        self.current: tuple[str | None, str | None, tuple[str, ...]] | None = None
        self.epoch = 0  # bumped on every change: fetches in flight no longer save
        self.closed = False
        self.fetching_closed = False  # set once the fetch tasks were waited for at close

    @property
    def state(self) -> OdpState:
        if self.disabled:
            return OdpState.DISABLED
        if self.current is None:
            return OdpState.UNDETERMINED
        host, key, _ = self.current
        return OdpState.INTEGRATED if host and key else OdpState.NOT_INTEGRATED

    def update(self, host: str | None, key: str | None, segments: tuple[str, ...]) -> bool:
        """Take the values of a new config (overrides win); True when they changed."""
        settings = (self.host or host, self.key or key, segments)
        if settings == self.current:
            return False
        self.current = settings
        self.epoch += 1
        return True


@dataclass(frozen=True, slots=True)
class OdpStats:
    """Live counters: ``segments`` (fetching) and ``events`` (the event queue)."""

    segments: SegmentStats
    events: CollectorStats

    def as_dict(self) -> dict[str, Any]:
        return {"segments": self.segments.as_dict(), "events": self.events.as_dict()}
