"""The collector contract the client relies on, and the counters every collector keeps.

A collector takes two kinds of item:

* a ``dict``: one Analysys record, already built and validated
  (:mod:`asyncexp.core.analytics`);
* a :class:`~asyncexp.core.events.UserEvent`: an Optimizely impression or conversion.

``submit`` is a plain call that never awaits and never blocks; everything slow
happens in background tasks started by ``start``. Each item ends in exactly one
counter: ``delivered``, or ``dropped[reason]`` with one of the ``DROP_*`` reasons.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from asyncexp.aio.http import HttpTransport
    from asyncexp.core.events import UserEvent

__all__ = [
    "DROP_COLLECTOR_FAILED",
    "DROP_INTERNAL_ERROR",
    "DROP_QUEUE_FULL",
    "DROP_REJECTED",
    "DROP_RETRIES_EXHAUSTED",
    "DROP_SHUTDOWN_TIMEOUT",
    "DROP_UNENCODABLE",
    "Collector",
    "CollectorStats",
]

DROP_QUEUE_FULL = "queue_full"
"""The queue held ``max_queue_size`` items when the item arrived."""
DROP_REJECTED = "rejected"
"""The server refused the batch (a 4xx other than 429, or an Analysys error code)."""
DROP_RETRIES_EXHAUSTED = "retries_exhausted"
"""Every retry failed (connection errors, timeouts, 5xx, 429, write errors)."""
DROP_SHUTDOWN_TIMEOUT = "shutdown_timeout"
"""Still queued or in flight when the close deadline passed."""
DROP_UNENCODABLE = "unencodable"
"""The item could not be serialised to JSON."""
DROP_INTERNAL_ERROR = "internal_error"
"""A bug in a sender; the exception is logged and kept in ``stats.last_error``."""
DROP_COLLECTOR_FAILED = "collector_failed"
"""The background task kept crashing and was given up; see ``stats.last_error``."""


@dataclass(slots=True)
class CollectorStats:
    """Counters, readable at any time (``as_dict()`` for a snapshot)."""

    produced: int = 0
    """Items accepted by ``submit``."""
    delivered: int = 0
    """Items acknowledged by the server (or written to disk)."""
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

    def drop(self, reason: str, count: int = 1) -> None:
        self.dropped[reason] = self.dropped.get(reason, 0) + count

    @property
    def total_dropped(self) -> int:
        return sum(self.dropped.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "produced": self.produced,
            "delivered": self.delivered,
            "dropped": dict(self.dropped),
            "retried": self.retried,
            "requests": self.requests,
            "failed_requests": self.failed_requests,
            "queued": self.queued,
            "in_flight": self.in_flight,
            "crashes": self.crashes,
            "last_error": self.last_error,
        }


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
