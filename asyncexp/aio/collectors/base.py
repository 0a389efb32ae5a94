"""The collector contract the client relies on, and the counters every collector keeps.

A collector takes two kinds of item:

* a ``dict``: one Analysys record, already built and validated
  (:mod:`asyncexp.core.analytics.records`);
* a :class:`~asyncexp.core.flags.events.UserEvent`: an Optimizely impression or conversion.

``submit`` is a plain call that never awaits and never blocks for long;
everything slow happens in background tasks started by ``start``. Each item
ends in exactly one counter: ``delivered``, ``spooled`` (kept on disk for a
later re-send), or ``dropped[reason]`` with one of the ``DROP_*`` reasons.
Spooled items re-sent later are counted again in ``replayed`` (acknowledged)
or ``replay_dropped`` (given up, by reason in ``replay_dropped_by``). Once a collector is
closed, ``produced == delivered + spooled + total_dropped`` (:meth:`CollectorStats.settled`);
while it runs, the difference is ``queued + in_flight``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from asyncexp.aio.http import HttpTransport
    from asyncexp.core.flags.events import UserEvent

__all__ = [
    "DROP_COLLECTOR_FAILED",
    "DROP_INTERNAL_ERROR",
    "DROP_QUEUE_FULL",
    "DROP_REJECTED",
    "DROP_RETRIES_EXHAUSTED",
    "DROP_SHUTDOWN_TIMEOUT",
    "DROP_SPOOL_ERROR",
    "DROP_SPOOL_FULL",
    "DROP_UNCONFIRMED",
    "DROP_UNENCODABLE",
    "Collector",
    "CollectorStats",
]

DROP_QUEUE_FULL = "queue_full"
"""The memory budget was used up **and the spool is turned off** (``spool=False``).
With the spool on (the default) a full queue overflows to the spool instead."""
DROP_REJECTED = "rejected"
"""The server refused the batch (a 4xx other than 429, or an Analysys error code)."""
DROP_RETRIES_EXHAUSTED = "retries_exhausted"
"""Every retry failed (connection errors, timeouts, 5xx, 429, write errors)."""
DROP_SHUTDOWN_TIMEOUT = "shutdown_timeout"
"""Still queued or in flight when the close deadline passed, and not spooled."""
DROP_SPOOL_FULL = "spool_full"
"""Would have been spooled, but the spool was at its size cap. (Items evicted
later by ``on_full="drop_oldest"`` are counted in ``stats.replay_dropped``.)"""
DROP_SPOOL_ERROR = "spool_error"
"""Would have been spooled, but writing the spool file failed (see the log)."""
DROP_UNENCODABLE = "unencodable"
"""The item could not be serialised to JSON."""
DROP_INTERNAL_ERROR = "internal_error"
"""A bug in a sender; the exception is logged and kept in ``stats.last_error``."""
DROP_UNCONFIRMED = "unconfirmed"
"""The server answered HTTP 2xx with a body other than ``{"code":200}`` to the
last request allowed (``MAX_UNCONFIRMED_COPIES``): it has the records that
many times; sending them again would only add copies."""
DROP_COLLECTOR_FAILED = "collector_failed"
"""The background task kept crashing and was given up; see ``stats.last_error``."""


@dataclass(slots=True)
class CollectorStats:
    """Counters, readable at any time (``as_dict()`` for a snapshot)."""

    produced: int = 0
    """Items given to ``submit`` (including those it dropped at once)."""
    delivered: int = 0
    """Items acknowledged by the server (or written to disk)."""
    spooled: int = 0
    """Items written to the disk spool, to be re-sent later (by any process using it)."""
    dropped: dict[str, int] = field(default_factory=dict)
    """Items given up, by reason (see the ``DROP_*`` constants)."""
    retried: int = 0
    """Requests (or writes) repeated after a retryable failure."""
    requests: int = 0
    """Requests (or writes) attempted, retries included."""
    failed_requests: int = 0
    """Attempts that did not succeed."""
    queued: int = 0
    """Items waiting to be sent now."""
    in_flight: int = 0
    """Items in a request (or write) now."""
    crashes: int = 0
    """Times the background task died of an unexpected error and was restarted."""
    last_error: str | None = None
    """The most recent delivery or crash error, as text."""
    replayed: int = 0
    """Spooled items (from this run or an earlier one) re-sent and acknowledged."""
    replay_dropped: int = 0
    """Spooled items the server refused on re-send, or evicted for room; files removed."""
    spool_corrupt: int = 0
    """Spool files found unreadable and moved to ``corrupt/``."""
    replay_dropped_by: dict[str, int] = field(default_factory=dict)
    """``replay_dropped`` by reason (``rejected``, ``unconfirmed``, ``spool_full``)."""
    overflowed: int = 0
    """Items ``submit`` wrote to disk at once because the memory budget was used up
    (also counted in ``spooled``, or in ``delivered`` for a ``LogCollector``)."""
    diverted: int = 0
    """Items sent to the spool without a request because the destination was failing."""
    spool_skipped: int = 0
    """Entries of the spool directory that are not spool files (skipped, never deleted)."""
    spool_tmp_removed: int = 0
    """Temporary files of an interrupted spool write, found and removed."""
    outages: int = 0
    """Times the destination failed ``OUTAGE_AFTER`` requests in a row (outage mode)."""

    def drop(self, reason: str, count: int = 1) -> None:
        self.dropped[reason] = self.dropped.get(reason, 0) + count

    def replay_drop(self, reason: str, count: int) -> None:
        self.replay_dropped += count
        self.replay_dropped_by[reason] = self.replay_dropped_by.get(reason, 0) + count

    @property
    def total_dropped(self) -> int:
        return sum(self.dropped.values())

    @property
    def settled(self) -> bool:
        """Every produced item is delivered, spooled or dropped (true after close)."""
        return self.produced == self.delivered + self.spooled + self.total_dropped

    def as_dict(self) -> dict[str, Any]:
        return {
            "produced": self.produced,
            "delivered": self.delivered,
            "spooled": self.spooled,
            "dropped": dict(self.dropped),
            "retried": self.retried,
            "requests": self.requests,
            "failed_requests": self.failed_requests,
            "queued": self.queued,
            "in_flight": self.in_flight,
            "crashes": self.crashes,
            "last_error": self.last_error,
            "replayed": self.replayed,
            "replay_dropped": self.replay_dropped,
            "spool_corrupt": self.spool_corrupt,
            "replay_dropped_by": dict(self.replay_dropped_by),
            "overflowed": self.overflowed,
            "diverted": self.diverted,
            "spool_skipped": self.spool_skipped,
            "spool_tmp_removed": self.spool_tmp_removed,
            "outages": self.outages,
        }

    def summary(self) -> str:
        """One line: produced, delivered, spooled, replayed and dropped by reason."""
        dropped = ", ".join(f"{k}={v}" for k, v in sorted(self.dropped.items())) or "none"
        line = (
            f"produced={self.produced} delivered={self.delivered} spooled={self.spooled} "
            f"replayed={self.replayed} dropped={self.total_dropped} ({dropped})"
        )
        if self.replay_dropped:
            by = ", ".join(f"{k}={v}" for k, v in sorted(self.replay_dropped_by.items()))
            line += f" replay_dropped={self.replay_dropped} ({by})"
        return line


class Collector(Protocol):
    """What the client needs from a collector."""

    def submit(self, item: UserEvent | dict[str, Any]) -> None:
        """Queue one item; never awaits. Raises ``ClientClosedError`` after close."""

    async def start(self, transport: HttpTransport | None = None) -> None:
        """Start the background task(s); a collector given no transport makes its own."""

    async def flush(self) -> None:
        """Return once every item submitted so far is delivered or counted as dropped."""

    async def aclose(self, timeout: float | None = None) -> None:
        """Stop intake, drain within ``timeout`` seconds, release resources; idempotent."""

    @property
    def stats(self) -> CollectorStats:
        """The counters."""
