"""The pluggable segments cache: an async protocol, and the in-process cache behind it.

Rules:

* :class:`AsyncSegmentCache` is what a shared cache implements (``lookup``,
  ``save``, ``reset``, all awaitable; ``asyncexp.stores.RedisSegmentCache`` is
  one). A failing call must not fail a fetch: ``OdpSegments`` treats a failed
  lookup as a miss and a failed save as not cached, counted in
  ``SegmentStats.cache_errors``.
* Without one, the manager keeps its in-process
  :class:`~asyncexp.aio.odp.cache.SegmentsCache` (LRU + TTL + byte budget),
  called synchronously as before.
* Keys given to a shared cache carry a digest of the ODP settings (host, key,
  segments), so a worker on another datafile revision never reads an answer
  to another question; the settings changing therefore needs no reset of a
  cache other workers use.
* Concurrent fetches for one user still coalesce within a process: the
  shared request saves (awaiting the cache) before any caller resumes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Protocol

__all__ = ["AsyncSegmentCache", "settings_digest"]


class AsyncSegmentCache(Protocol):
    async def lookup(self, key: str) -> list[str] | None: ...

    async def save(self, key: str, segments: Sequence[str]) -> None: ...

    async def reset(self) -> None: ...


def settings_digest(host: str, api_key: str, segments: Sequence[str]) -> str:
    """A short digest naming one ODP question (never the key itself)."""
    text = "\x00".join([host, api_key, *segments])
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).hexdigest()
