"""``PendingEvents``: the ODP event queue's state, shared by the manager and its sender.

Rules: :class:`~asyncexp.aio.odp.events.OdpEventManager` appends entries and
registers ``flush`` waiters; :class:`~asyncexp.aio.odp.event_sender.EventSender`
takes batches from the front and settles them. Every entry gets a sequence
number; ``settled`` is the first one not yet delivered or dropped, and a
waiter for target ``n`` is released once ``settled >= n``. The counters in
``stats`` always add up: ``produced == delivered + dropped + queued + in_flight``.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any, NamedTuple

from asyncexp.aio.collectors.base import CollectorStats

__all__ = ["Entry", "PendingEvents"]


class Entry(NamedTuple):
    """One queued event, stamped with the destination current when it was queued."""

    seq: int
    queued_at: float
    url: str
    api_key: str
    event: dict[str, Any]


class PendingEvents:
    """What is queued, where it goes, how far it is settled and who waits for that."""

    __slots__ = (
        "closing",
        "destination",
        "entries",
        "flush_upto",
        "seq",
        "settled",
        "stats",
        "waiters",
        "wakeup",
    )

    def __init__(self) -> None:
        self.stats = CollectorStats()
        self.entries: deque[Entry] = deque()
        self.destination: tuple[str, str] | None = None
        self.seq = 0
        self.settled = 0  # every seq below this is delivered or dropped
        self.flush_upto = 0
        self.waiters: list[tuple[int, asyncio.Future[None]]] = []
        self.wakeup = asyncio.Event()
        self.closing = False

    def drop_queued(self, reason: str) -> int:
        """Drop (and count) everything still queued; returns how many."""
        count = len(self.entries)
        if count:
            self.stats.drop(reason, count)
            self.stats.queued -= count
            self.entries.clear()
        return count

    def settle_all(self) -> None:
        self.settled = self.seq
        self.release_waiters()

    def release_waiters(self) -> None:
        if not self.waiters:
            return
        keep: list[tuple[int, asyncio.Future[None]]] = []
        for target, future in self.waiters:
            if target <= self.settled:
                if not future.done():
                    future.set_result(None)
            else:
                keep.append((target, future))
        self.waiters = keep
