"""The health of a datafile source, observable: what an OpenFeature provider maps to
READY / STALE / ERROR (``client.datafile_status``).

Rules:

* ``current`` is a :class:`DatafileHealth` snapshot: ``state`` is ``"initializing"``
  until the first fetch ends, then ``"valid"`` after a fetch that succeeded (200
  applied, same revision, or 304), ``"interrupted"`` after one that failed (no
  response, an error status, or a body that did not parse: the working config is
  kept); ``failures`` counts consecutive failed fetches; ``error`` is the kind of
  the last failure as counted in ``DatafileStats.errors`` (``"network"``,
  ``"timeout"``, ``"http_503"``, ``"invalid_datafile"``…), never a URL or a key.
* Listeners (``add_listener(callback)`` → id, ``remove_listener(id)``) get the new
  snapshot after each fetch that changed it (every failure does: ``failures``
  grows), on the event loop thread. A listener that raises is logged.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

__all__ = ["DatafileHealth", "DatafileState", "DatafileStatus"]

logger = logging.getLogger("asyncexp.datafile")

DatafileState = Literal["initializing", "valid", "interrupted"]


@dataclass(frozen=True, slots=True)
class DatafileHealth:
    state: DatafileState = "initializing"
    failures: int = 0
    error: str | None = None


class DatafileStatus:
    """The current :class:`DatafileHealth` of one source and its listeners."""

    def __init__(self) -> None:
        self._current = DatafileHealth()
        self._listeners: dict[int, Callable[[DatafileHealth], None]] = {}
        self._next_id = 1

    @property
    def current(self) -> DatafileHealth:
        return self._current

    def add_listener(self, callback: Callable[[DatafileHealth], None]) -> int:
        listener_id = self._next_id
        self._next_id += 1
        self._listeners[listener_id] = callback
        return listener_id

    def remove_listener(self, listener_id: int) -> None:
        self._listeners.pop(listener_id, None)

    def record(self, errors_before: Mapping[str, int], errors_after: Mapping[str, int]) -> None:
        """One fetch ended; it failed when it counted an error (the kind it counted)."""
        kind = next((k for k, n in errors_after.items() if n > errors_before.get(k, 0)), None)
        if kind is None:
            new = DatafileHealth("valid")
        else:
            new = DatafileHealth("interrupted", self._current.failures + 1, kind)
        if new == self._current:
            return
        self._current = new
        for callback in list(self._listeners.values()):
            try:
                callback(new)
            except Exception:
                logger.exception("a datafile status listener failed")
