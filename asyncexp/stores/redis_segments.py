"""``RedisSegmentCache``: ODP segment answers shared by every worker through Redis.

Rules:

* One string per answer, ``{prefix}{key}`` (default prefix
  ``asyncexp:segments:``), a JSON list of segment names, expiring after
  ``timeout`` seconds (default 600, the in-process cache's; 0 keeps it).
* Reads are bounded: a value over ``max_bytes`` (default 64 KiB) is not
  transferred and reads as a miss, as does anything that is not a JSON list
  of at most ``max_segments`` strings (counted in ``invalid``).
* ``reset`` deletes this prefix's keys, ``SCAN`` by ``SCAN`` (bounded work per
  call), each call under the connection's timeout.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from asyncexp.stores.redis_connection import RedisConnection

__all__ = ["RedisSegmentCache"]

# KEYS[1]: the key. ARGV[1]: the byte cap. The value, false (missing) or its length.
_READ = """
local n = redis.call('STRLEN', KEYS[1])
if n == 0 then return false end
if n > tonumber(ARGV[1]) then return n end
return redis.call('GET', KEYS[1])
"""


class RedisSegmentCache:
    """An :class:`~asyncexp.aio.odp.segment_cache.AsyncSegmentCache` on Redis."""

    def __init__(
        self,
        connection: RedisConnection | str,
        *,
        prefix: str = "asyncexp:segments:",
        timeout: float = 600.0,
        max_bytes: int = 64 * 1024,
        max_segments: int = 1000,
    ) -> None:
        self.connection = RedisConnection(connection) if isinstance(connection, str) else connection
        self.prefix = prefix
        self._ttl_ms = int(timeout * 1000)
        self._max_bytes = max_bytes
        self._max_segments = max_segments
        self._read: Any = None
        self.invalid = 0

    def __repr__(self) -> str:
        return f"RedisSegmentCache({self.connection!r}, prefix={self.prefix!r})"

    async def start(self) -> None:
        await self.connection.start()
        self._read = self.connection.client.register_script(_READ)

    async def aclose(self) -> None:
        await self.connection.aclose()

    async def lookup(self, key: str) -> list[str] | None:
        script = self._read
        full = self.prefix + key
        raw = await self.connection.call(
            "segments lookup", lambda _: script(keys=[full], args=[self._max_bytes])
        )
        if raw is None or isinstance(raw, int):
            if isinstance(raw, int):
                self.invalid += 1
            return None
        try:
            value = json.loads(raw)
        except ValueError:
            value = None
        if (
            not isinstance(value, list)
            or len(value) > self._max_segments
            or not all(isinstance(item, str) for item in value)
        ):
            self.invalid += 1
            return None
        return value

    async def save(self, key: str, segments: Sequence[str]) -> None:
        text = json.dumps(list(segments), separators=(",", ":"))
        if len(text) > self._max_bytes:
            return
        full = self.prefix + key
        ttl = self._ttl_ms
        await self.connection.call(
            "segments save",
            lambda client: client.set(full, text, px=ttl) if ttl > 0 else client.set(full, text),
        )

    async def reset(self) -> None:
        pattern = self.prefix.replace("*", r"\*") + "*"
        cursor: Any = 0
        while True:
            cursor, keys = await self.connection.call("segments reset", _scan(cursor, pattern))
            if keys:
                await self.connection.call("segments reset", _unlink(keys))
            if not cursor:
                return


def _scan(cursor: Any, pattern: str) -> Any:
    return lambda client: client.scan(cursor=cursor, match=pattern, count=500)


def _unlink(keys: list[Any]) -> Any:
    return lambda client: client.unlink(*keys)
