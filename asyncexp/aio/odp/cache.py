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
* ``max_bytes`` bounds the estimated memory of all entries (default
  ``DEFAULT_CACHE_BYTES``, 32 MiB; ``None`` for no byte bound): saving beyond it
  evicts least recently used entries until the total fits. An entry whose own
  cost exceeds ``max_bytes`` is not cached (counted in ``stats.oversized``; any
  older entry under that key is dropped, so a lookup never returns stale data).
  The cost of an entry (:func:`entry_cost`) is what CPython allocates for the
  key, the tuple and each segment string plus a fixed per-entry overhead, so it
  is an upper estimate: segment strings shared with the datafile are counted
  once per entry. With the 10,000-entry default, 32 MiB leaves about 3.3 KB per
  user, some 60 segment names of 30 characters each.
* Values are stored as tuples and handed out as new lists, so no caller can
  change what another one reads.
* Departure: an empty segment list is a value like any other. The reference
  neither saves nor returns ``[]``, so a user who qualifies for nothing costs a
  request on every fetch; here that answer is cached for ``timeout`` too.

The cache is a plain object used from one event loop; it never awaits.
"""

from __future__ import annotations

import sys
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from asyncexp.errors import ConfigError

__all__ = [
    "DEFAULT_CACHE_BYTES",
    "DEFAULT_CACHE_SIZE",
    "DEFAULT_CACHE_TIMEOUT",
    "CacheStats",
    "SegmentsCache",
    "check_limit",
    "entry_cost",
]

DEFAULT_CACHE_SIZE = 10_000
DEFAULT_CACHE_TIMEOUT = 600.0
DEFAULT_CACHE_BYTES = 32 * 1024 * 1024
# the OrderedDict slot and link, the (saved_at, segments) pair and its float
_ENTRY_OVERHEAD = 200


def entry_cost(key: str, segments: tuple[str, ...]) -> int:
    """The estimated bytes one entry holds (see the module docstring)."""
    return (
        _ENTRY_OVERHEAD
        + sys.getsizeof(key)
        + sys.getsizeof(segments)
        + sum(sys.getsizeof(name) for name in segments)
    )


@dataclass(slots=True)
class CacheStats:
    """Counters of the cache, readable at any time."""

    evicted: int = 0
    """Entries evicted to stay within ``capacity`` or ``max_bytes``."""
    oversized: int = 0
    """Answers not cached because one entry would cost more than ``max_bytes``."""


def check_limit(name: str, value: object, *, integer: bool = False) -> None:
    """Raise ``ConfigError`` unless ``value`` is a number >= 0 (an int if ``integer``)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
        raise ConfigError(f"{name}: must be a number >= 0, got {value!r}")
    if integer and not isinstance(value, int):
        raise ConfigError(f"{name}: must be an int >= 0, got {value!r}")


class SegmentsCache:
    """``lookup`` / ``save`` / ``reset`` over an ordered dict of
    ``key -> (saved_at, segments, cost)``."""

    __slots__ = ("_bytes", "_capacity", "_clock", "_entries", "_max_bytes", "_timeout", "stats")

    def __init__(
        self,
        capacity: int = DEFAULT_CACHE_SIZE,
        timeout: float = DEFAULT_CACHE_TIMEOUT,
        *,
        max_bytes: int | None = DEFAULT_CACHE_BYTES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        check_limit("cache_size", capacity, integer=True)
        check_limit("cache_timeout", timeout)
        if max_bytes is not None:
            check_limit("cache_bytes", max_bytes, integer=True)
        self._capacity = capacity
        self._timeout = float(timeout)
        self._max_bytes = max_bytes
        self._clock = clock
        self._entries: OrderedDict[str, tuple[float, tuple[str, ...], int]] = OrderedDict()
        self._bytes = 0
        self.stats = CacheStats()

    def __repr__(self) -> str:  # sizes only: keys hold user ids
        return (
            f"<SegmentsCache entries={len(self._entries)}/{self._capacity} "
            f"bytes={self._bytes}/{self._max_bytes}>"
        )

    @property
    def capacity(self) -> int:
        return self._capacity

    @property
    def max_bytes(self) -> int | None:
        return self._max_bytes

    @property
    def bytes(self) -> int:
        """The estimated bytes of the entries held now (see :func:`entry_cost`)."""
        return self._bytes

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
        saved_at, segments, cost = entry
        if self._timeout > 0 and self._clock() - saved_at >= self._timeout:
            del self._entries[key]
            self._bytes -= cost
            return None
        self._entries.move_to_end(key)
        return list(segments)

    def save(self, key: str, segments: Iterable[str]) -> None:
        """Keep ``segments`` under ``key`` as most recently used; evict beyond the bounds."""
        if self._capacity <= 0:
            return
        entries = self._entries
        old = entries.pop(key, None)
        if old is not None:
            self._bytes -= old[2]
        value = tuple(segments)
        cost = entry_cost(key, value)
        limit = self._max_bytes
        if limit is not None and cost > limit:
            self.stats.oversized += 1
            return
        entries[key] = (self._clock(), value, cost)
        self._bytes += cost
        while len(entries) > self._capacity or (limit is not None and self._bytes > limit):
            _, (_, _, evicted_cost) = entries.popitem(last=False)
            self._bytes -= evicted_cost
            self.stats.evicted += 1

    def reset(self) -> None:
        """Forget every entry."""
        self._entries.clear()
        self._bytes = 0
