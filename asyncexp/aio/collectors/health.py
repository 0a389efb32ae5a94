"""``Health``: whether a collector's destination is answering, and outage mode.

One per HTTP collector, shared by its delivery (the in-memory sends) and its
spool re-sender (composition: both hold the same object, neither reaches into
the other).

* Every request outcome is recorded. ``OUTAGE_AFTER`` failed requests in a row
  (connection errors, timeouts, 5xx, 429, a 2xx without ``{"code":200}``)
  switch outage mode on: the sends stop retrying in memory and write their
  chunks to the spool, new chunks go straight to the spool (``diverted``), and
  the re-sender probes the destination with the oldest spool file, backing off
  from ``probe_base`` to ``probe_max`` seconds between probes.
* The first success switches it off again and calls ``on_recover`` (the
  re-sender then drains the spool, oldest first, and the sends resume).
* With nothing in the spool to probe with, the re-sender sets ``want_probe``
  and the next due chunk is sent once as the probe (a spool that cannot be
  written must not keep outage mode on after the destination recovered).
* ``interrupt`` is set while in outage mode or while a close is abandoning the
  sends; retry sleeps and requests in flight race it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from asyncexp.aio.collectors.base import CollectorStats

__all__ = ["OUTAGE_AFTER", "Health"]

logger = logging.getLogger("asyncexp.aio.collectors")

OUTAGE_AFTER = 3
"""Failed requests in a row that switch outage mode on."""


class Health:
    """Consecutive failures, outage mode and the probe backoff (see the module docstring)."""

    def __init__(
        self,
        stats: CollectorStats,
        name: str,
        *,
        outage_after: int = OUTAGE_AFTER,
        probe_base: float = 0.5,
        probe_max: float = 10.0,
    ) -> None:
        self._stats = stats
        self._name = name
        self._outage_after = outage_after
        self.probe_base = probe_base
        self.probe_max = probe_max
        self.failures = 0
        self.outage = False
        self.abandoning = False
        self.interrupt = asyncio.Event()
        self.abandoned = asyncio.Event()
        self.posting: set[asyncio.Task[Any]] = set()
        """Send tasks inside a request now (a close that gives up cancels them)."""
        self.cancels_sent: dict[asyncio.Task[Any], int] = {}
        self.want_probe = False
        """Outage mode with nothing in the spool to probe with (the spool cannot be
        written, or another process drained it): the next due chunk is sent once as
        the probe instead of being diverted."""
        self.on_recover: Callable[[], None] | None = None
        self.on_outage: Callable[[], None] | None = None

    def record(self, ok: bool, detail: str = "") -> None:
        if ok:
            self.failures = 0
            if self.outage:
                self.outage = False
                self.want_probe = False
                if not self.abandoning:
                    self.interrupt.clear()
                logger.warning("%s: the destination answers again; draining the spool", self._name)
                if self.on_recover is not None:
                    self.on_recover()
            return
        self.failures += 1
        if not self.outage and self.failures >= self._outage_after:
            self.outage = True
            self._stats.outages += 1
            self.interrupt.set()
            logger.warning(
                "%s: %d requests in a row failed (%s); outage mode: new chunks go to the "
                "spool, the destination is probed with backoff",
                self._name,
                self.failures,
                detail,
            )
            if self.on_outage is not None:
                self.on_outage()  # the re-sender starts probing now

    def abandon(self) -> None:
        """A close gave up waiting: every send stops and spools what it holds."""
        self.abandoning = True
        self.interrupt.set()
        self.abandoned.set()
        for task in list(self.posting):
            if not task.done():
                self.cancels_sent[task] = self.cancels_sent.get(task, 0) + 1
                task.cancel()

    def probe_delay(self, attempt: int, jitter: float) -> float:
        """Seconds before probe ``attempt`` (0-based): doubling, capped, equal jitter."""
        ceiling = min(self.probe_max, self.probe_base * (2.0 ** min(attempt, 30)))
        return ceiling / 2 + jitter * ceiling / 2
