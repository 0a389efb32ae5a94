"""The segments cache: least-recently-used, with a time to live.

Rules (the reference's LRU semantics, with one documented departure):

* ``capacity`` entries at most (default 10,000); saving beyond it evicts the
  least recently used entry. ``capacity == 0`` disables the cache: nothing is
  kept and every lookup misses.
* ``timeout`` seconds of life (default 600), measured with the injected
  ``clock`` from the save. An entry is stale once ``now - saved_at >= timeout``;
  a lookup that finds a stale entry deletes it and misses. ``timeout == 0``
  means entries never expire (the reference's meaning of a zero timeout).
* ``lookup`` moves a live entry to most-recently-used.
* Values are stored as tuples and handed out as new lists, so no caller can
  change what another one reads.
* Departure: an empty segment list is a value like any other. The reference
  neither saves nor returns ``[]``, so a user who qualifies for nothing costs a
  request on every fetch; here that answer is cached for ``timeout`` too.

The cache is a plain object used from one event loop; it never awaits.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Iterable

from asyncexp.errors import ConfigError

__all__ = ["DEFAULT_CACHE_SIZE", "DEFAULT_CACHE_TIMEOUT", "SegmentsCache", "check_limit"]

DEFAULT_CACHE_SIZE = 10_000
DEFAULT_CACHE_TIMEOUT = 600.0


def check_limit(name: str, value: object, *, integer: bool = False) -> None:
    """Raise ``ConfigError`` unless ``value`` is a number >= 0 (an int if ``integer``)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
        raise ConfigError(f"{name}: must be a number >= 0, got {value!r}")
    if integer and not isinstance(value, int):
        raise ConfigError(f"{name}: must be an int >= 0, got {value!r}")


class SegmentsCache:
    """``lookup`` / ``save`` / ``reset`` over an ordered dict of ``key -> (saved_at, segments)``."""

    __slots__ = ("_capacity", "_clock", "_entries", "_timeout")

    def __init__(
        self,
        capacity: int = DEFAULT_CACHE_SIZE,
        timeout: float = DEFAULT_CACHE_TIMEOUT,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        check_limit("cache_size", capacity, integer=True)
        check_limit("cache_timeout", timeout)
        self._capacity = capacity
        self._timeout = float(timeout)
        self._clock = clock
        self._entries: OrderedDict[str, tuple[float, tuple[str, ...]]] = OrderedDict()

    @property
    def capacity(self) -> int:
        return self._capacity

    @property
    def timeout(self) -> float:
        return self._timeout

    def __len__(self) -> int:
        return len(self._entries)

    def lookup(self, key: str) -> list[str] | None:
        """The live segments saved under ``key``, or None (missing, stale or disabled)."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        saved_at, segments = entry
        if self._timeout > 0 and self._clock() - saved_at >= self._timeout:
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return list(segments)

    def save(self, key: str, segments: Iterable[str]) -> None:
        """Keep ``segments`` under ``key`` as most recently used; evict beyond capacity."""
        if self._capacity <= 0:
            return
        entries = self._entries
        entries[key] = (self._clock(), tuple(segments))
        entries.move_to_end(key)
        while len(entries) > self._capacity:
            entries.popitem(last=False)

    def reset(self) -> None:
        """Forget every entry."""
        self._entries.clear()
