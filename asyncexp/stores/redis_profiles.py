"""``RedisProfileStore``: sticky-bucketing profiles in Redis, in the Optimizely profile shape.

Rules:

* One string key per user, ``{prefix}{user_id}`` (default prefix
  ``asyncexp:ups:``), holding the profile as JSON:
  ``{"user_id": ..., "experiment_bucket_map": {experiment_id: {"variation_id": ...}}}``,
  exactly what the reference SDK hands its ``UserProfileService.save``; a UPS
  that stores ``json.dumps(profile)`` under the same key is read unchanged,
  and reads what this store writes.
* ``save`` merges on the server (one Lua script, atomic): entries stored by
  another worker for other experiments are kept, the saved entries win. A
  merged document over ``max_bytes`` is not written (counted in ``oversized``).
* Reads are bounded: a value over ``max_bytes`` is not transferred (the script
  answers its length only) and reads as invalid, as does JSON that is not an
  object; the caller then decides without a profile (a warning, never a crash).
* ``ttl`` seconds of life for a profile (refreshed by each save); 0 keeps it.
* Every call runs under the connection's timeout; failures raise
  :class:`~asyncexp.stores.redis_connection.StoreUnavailableError`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any

from asyncexp.stores.redis_connection import RedisConnection

__all__ = ["DEFAULT_PROFILE_PREFIX", "RedisProfileStore"]

logger = logging.getLogger("asyncexp.stores")

DEFAULT_PROFILE_PREFIX = "asyncexp:ups:"
_INVALID: dict[str, Any] = {"invalid": True}  # a value that is not the profile shape

# KEYS: the profile keys. ARGV[1]: the byte cap. Each answer: the value, or its length
# when over the cap (an integer), or false when missing.
_READ = """
local cap = tonumber(ARGV[1])
local out = {}
for i, key in ipairs(KEYS) do
  local n = redis.call('STRLEN', key)
  if n == 0 then out[i] = false
  elseif n > cap then out[i] = n
  else out[i] = redis.call('GET', key) end
end
return out
"""

# KEYS[1]: the profile key. ARGV: the new document (JSON), the byte cap, the ttl.
_MERGE = """
local doc = cjson.decode(ARGV[1])
local cap = tonumber(ARGV[2])
local cur = redis.call('GET', KEYS[1])
if cur and string.len(cur) <= cap then
  local ok, old = pcall(cjson.decode, cur)
  if ok and type(old) == 'table' and type(old['experiment_bucket_map']) == 'table' then
    for k, v in pairs(old['experiment_bucket_map']) do
      if doc['experiment_bucket_map'][k] == nil then doc['experiment_bucket_map'][k] = v end
    end
  end
end
local out = cjson.encode(doc)
if string.len(out) > cap then return 0 end
if tonumber(ARGV[3]) > 0 then
  redis.call('SET', KEYS[1], out, 'EX', ARGV[3])
else
  redis.call('SET', KEYS[1], out)
end
return 1
"""


class RedisProfileStore:
    """An :class:`~asyncexp.flags.profile_store.AsyncProfileStore` on Redis."""

    def __init__(
        self,
        connection: RedisConnection | str,
        *,
        prefix: str = DEFAULT_PROFILE_PREFIX,
        ttl: int = 0,
        max_bytes: int = 64 * 1024,
    ) -> None:
        self.connection = RedisConnection(connection) if isinstance(connection, str) else connection
        self.prefix = prefix
        self._ttl = int(ttl)
        self._max_bytes = int(max_bytes)
        self._read: Any = None
        self._merge: Any = None
        self.oversized = 0
        self.invalid = 0

    def __repr__(self) -> str:
        return f"RedisProfileStore({self.connection!r}, prefix={self.prefix!r})"

    def key(self, user_id: str) -> str:
        return self.prefix + user_id

    async def start(self) -> None:
        await self.connection.start()
        client = self.connection.client
        self._read = client.register_script(_READ)
        self._merge = client.register_script(_MERGE)

    async def aclose(self) -> None:
        await self.connection.aclose()

    async def lookup(self, user_id: str) -> dict[str, Any] | None:
        return (await self.lookup_many([user_id]))[user_id]

    async def lookup_many(self, user_ids: Sequence[str]) -> dict[str, dict[str, Any] | None]:
        if not user_ids:
            return {}
        keys = [self.key(uid) for uid in user_ids]
        script = self._read
        answers = await self.connection.call(
            "profile lookup", lambda _: script(keys=keys, args=[self._max_bytes])
        )
        return {uid: self._decode(uid, raw) for uid, raw in zip(user_ids, answers, strict=True)}

    def _decode(self, user_id: str, raw: object) -> dict[str, Any] | None:
        if raw is None:
            return None
        if isinstance(raw, int):  # longer than the cap: never transferred
            self.invalid += 1
            logger.warning(
                "the stored profile of a user is %d bytes (cap %d); ignored", raw, self._max_bytes
            )
            return _INVALID
        try:
            doc = json.loads(raw) if isinstance(raw, bytes | str) else None
        except ValueError:
            doc = None
        if not isinstance(doc, dict):
            self.invalid += 1
            return _INVALID
        return doc

    async def save(self, profile: dict[str, Any]) -> None:
        user_id = profile["user_id"]
        doc = {"user_id": user_id, "experiment_bucket_map": profile["experiment_bucket_map"]}
        text = json.dumps(doc, separators=(",", ":"))
        key = self.key(user_id)
        script = self._merge
        written = await self.connection.call(
            "profile save", lambda _: script(keys=[key], args=[text, self._max_bytes, self._ttl])
        )
        if not written:
            self.oversized += 1
            logger.warning("a user profile over %d bytes was not saved", self._max_bytes)
