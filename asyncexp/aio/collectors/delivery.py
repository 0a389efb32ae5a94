"""``Delivery``: what a collector's sender hands chunks to (HTTP or log files).

The seam between the queue machinery (:mod:`.pipeline`, :mod:`.dispatch`) and
a destination. Every method counts each item it is given in the collector's
stats: delivered, spooled, or dropped with a reason.
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

from asyncexp.aio.collectors.lanes import LaneKey

__all__ = ["Delivery"]


class Delivery(Protocol):
    async def deliver(self, lane: LaneKey, items: list[Any]) -> None:
        """Send ``items``; count every one."""

    async def spill(self, lane: LaneKey, items: list[Any]) -> None:
        """Keep ``items`` on disk for later (awaited, off the loop); count every one."""

    def spill_now(self, lane: LaneKey, items: list[Any]) -> bool:
        """Keep one request-sized chunk on disk from ``submit`` (synchronous, small).

        False when there is nowhere to put it (the caller drops it as ``queue_full``).
        """

    def diverting(self) -> bool:
        """True while due chunks should go straight to the spool (outage mode)."""

    def backlogged(self) -> bool:
        """True while the spool holds enough that producers able to wait should wait."""

    def abandon(self) -> None:
        """The close gave up waiting: every send stops at its next step and spools."""

    async def wait_idle(self) -> None:
        """Return once every disk write started so far has finished."""

    async def drain_spool(self, timeout: float, stop: asyncio.Event) -> None:
        """At close, when the destination is healthy: re-send what this run spooled,
        oldest first, for at most ``timeout`` seconds or until ``stop`` is set."""

    def start(self) -> None:
        """Start the delivery's own tasks (with the sender)."""

    async def release(self) -> None:
        """Stop those tasks and close what the delivery holds open."""
