"""``CapturingCollector``: records what a client would send, in memory and in order."""

from __future__ import annotations

from typing import Any

from asyncexp.aio.collectors.base import CollectorStats
from asyncexp.core.flags.events import UserEvent, build_event_batch

__all__ = ["CapturingCollector"]


class CapturingCollector:
    """A collector that keeps every submitted item in memory, in order."""

    def __init__(self) -> None:
        self.items: list[UserEvent | dict[str, Any]] = []
        self.started = False
        self.closed = False
        self.flushes = 0
        self.stats = CollectorStats()

    def submit(self, item: UserEvent | dict[str, Any]) -> None:
        self.items.append(item)
        self.stats.produced += 1
        self.stats.delivered += 1

    @property
    def events(self) -> list[UserEvent]:
        """The Optimizely impressions and conversions, in order."""
        return [i for i in self.items if isinstance(i, UserEvent)]

    @property
    def records(self) -> list[dict[str, Any]]:
        """The analytics records, in order."""
        return [i for i in self.items if isinstance(i, dict)]

    def payloads(self) -> list[dict[str, Any]]:
        """Each event as the one-visitor batch the events API would receive."""
        return [build_event_batch([e]) for e in self.events]

    async def start(self, transport: object = None) -> None:
        self.started = True

    async def flush(self) -> None:
        self.flushes += 1

    async def aclose(self, timeout: float | None = None) -> None:
        self.closed = True
