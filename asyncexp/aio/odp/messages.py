"""Fixed ODP message texts and the throttled logger every ODP module shares.

The texts are the reference's (so log scrapers and support docs keep working);
the reasons inside ``Audience segments fetch failed (...)`` are listed in
:mod:`asyncexp.aio.odp.segments`.

Logging goes only to ``logging.getLogger("asyncexp.odp")``. A failure that can
repeat per request (a network error during an outage, a full queue) is logged
once per ``interval`` seconds for each distinct key and counted in the stats
every time, so an outage costs a few log lines, not one per call. The ODP
public key is never part of a message.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

__all__ = [
    "FETCH_SEGMENTS_FAILED",
    "IDENTIFY_SKIPPED",
    "NO_SEGMENTS",
    "ODP_EVENT_FAILED",
    "ODP_INVALID_ACTION",
    "ODP_INVALID_DATA",
    "ODP_MISSING_IDENTIFIERS",
    "ODP_NOT_ENABLED",
    "ODP_NOT_INTEGRATED",
    "ThrottledLog",
    "logger",
]

logger = logging.getLogger("asyncexp.odp")

FETCH_SEGMENTS_FAILED = "Audience segments fetch failed ({})."
ODP_EVENT_FAILED = "ODP event send failed ({})."
ODP_NOT_INTEGRATED = "ODP is not integrated."
ODP_NOT_ENABLED = "ODP is not enabled."
ODP_INVALID_DATA = "ODP data is not valid."
ODP_INVALID_ACTION = "ODP action is not valid (cannot be empty)."
ODP_MISSING_IDENTIFIERS = "ODP events must have at least one key-value pair in identifiers."
NO_SEGMENTS = "No segments are used in the project. Returning empty list."
IDENTIFY_SKIPPED = "ODP identify event is not dispatched (fewer than 2 valid identifiers)."


class ThrottledLog:
    """Log a message at most once per ``interval`` seconds for each ``key``."""

    __slots__ = ("_clock", "_interval", "_last", "suppressed")

    def __init__(self, clock: Callable[[], float], interval: float = 10.0) -> None:
        self._clock = clock
        self._interval = interval
        self._last: dict[str, float] = {}
        self.suppressed = 0
        """Messages not logged because their key was logged less than ``interval`` ago."""

    def log(self, level: int, key: str, message: str, *args: object) -> None:
        if not logger.isEnabledFor(level):
            return
        now = self._clock()
        last = self._last.get(key)
        if last is not None and now - last < self._interval:
            self.suppressed += 1
            return
        self._last[key] = now
        logger.log(level, message, *args)
