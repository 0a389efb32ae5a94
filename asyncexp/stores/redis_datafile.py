"""``RedisDatafileStore`` and ``RedisPollLeader``: one datafile, one poller, many workers.

Rules:

* :class:`RedisDatafileStore` keeps the last good datafile in one hash,
  ``asyncexp:datafile:{name}`` (fields ``body``, ``revision``, ``saved_at``),
  written with one ``HSET`` (a reader never sees a body with another
  revision). ``load(if_not=rev)`` answers None without transferring the body
  when the stored revision is ``rev``; a body over ``max_bytes`` is never
  transferred (it reads as a failure). Use one ``name`` per project and
  environment (not the SDK key: key names show up in Redis tooling).
* :class:`RedisPollLeader` is a lease, ``asyncexp:datafile:{name}:leader``,
  holding a random token for ``lease_ttl`` seconds (which must be longer than
  the client's ``update_interval``, as the holder renews it once per round).
  ``acquire`` takes it when free or renews it when held (one Lua script);
  when the holder dies the lease expires and the next worker to ask takes it.
  ``release`` drops it only when held. New revisions are announced on the
  pub/sub channel ``asyncexp:datafile:{name}:revisions``; a subscription made
  (or remade after a lost connection) first answers None at once, so the
  follower checks the store for what it may have missed.
* Every call has the connection's timeout; an announcement longer than 256
  characters is ignored.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

from asyncexp.aio.datafile_store import MAX_STORED_BYTES, StoredDatafile
from asyncexp.stores.redis_connection import RedisConnection, StoreUnavailableError

__all__ = ["RedisDatafileStore", "RedisPollLeader"]

logger = logging.getLogger("asyncexp.stores")

MAX_REVISION_CHARS = 256

# KEYS[1]: the hash. ARGV: if_not (or ''), the byte cap.
_LOAD = """
local rev = redis.call('HGET', KEYS[1], 'revision')
if not rev then return false end
if ARGV[1] ~= '' and rev == ARGV[1] then return {rev} end
local n = redis.call('HSTRLEN', KEYS[1], 'body')
if n > tonumber(ARGV[2]) then return {rev, n} end
return {rev, redis.call('HGET', KEYS[1], 'body'), redis.call('HGET', KEYS[1], 'saved_at')}
"""

# KEYS[1]: the lease. ARGV: token, ttl in ms.
_ACQUIRE = """
local cur = redis.call('GET', KEYS[1])
if cur == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if not cur then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
"""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def _connection(connection: RedisConnection | str) -> RedisConnection:
    return RedisConnection(connection) if isinstance(connection, str) else connection


class RedisDatafileStore:
    """A :class:`~asyncexp.aio.datafile_store.DatafileStore` on a Redis hash."""

    def __init__(
        self,
        connection: RedisConnection | str,
        *,
        name: str = "default",
        max_bytes: int = MAX_STORED_BYTES,
    ) -> None:
        self.connection = _connection(connection)
        self.key = f"asyncexp:datafile:{name}"
        self._max_bytes = max_bytes
        self._load: Any = None

    def __repr__(self) -> str:
        return f"RedisDatafileStore({self.connection!r}, key={self.key!r})"

    async def start(self) -> None:
        await self.connection.start()
        self._load = self.connection.client.register_script(_LOAD)

    async def aclose(self) -> None:
        await self.connection.aclose()

    async def load(self, if_not: str | None = None) -> StoredDatafile | None:
        script = self._load
        answer = await self.connection.call(
            "datafile load",
            lambda _: script(keys=[self.key], args=[if_not or "", self._max_bytes]),
        )
        if not answer or len(answer) == 1:
            return None
        if len(answer) == 2:
            raise StoreUnavailableError(f"the stored datafile is over {self._max_bytes} bytes")
        revision, body, saved_at = answer
        try:
            when = float(saved_at)
        except (TypeError, ValueError):
            when = 0.0
        rev = revision.decode("utf-8", "replace") if isinstance(revision, bytes) else None
        return StoredDatafile(bytes(body), rev, when)

    async def save(self, stored: StoredDatafile) -> None:
        mapping = {
            "body": stored.body,
            "revision": stored.revision or "",
            "saved_at": repr(stored.saved_at),
        }
        await self.connection.call(
            "datafile save", lambda client: client.hset(self.key, mapping=mapping)
        )


class RedisPollLeader:
    """A :class:`~asyncexp.aio.datafile_store.PollLeader`: a Redis lease and a channel."""

    def __init__(
        self,
        connection: RedisConnection | str,
        *,
        name: str = "default",
        lease_ttl: float = 600.0,
    ) -> None:
        self.connection = _connection(connection)
        self.key = f"asyncexp:datafile:{name}:leader"
        self.channel = f"asyncexp:datafile:{name}:revisions"
        self.lease_ttl = lease_ttl
        self._token = uuid.uuid4().hex
        self._acquire: Any = None
        self._release: Any = None
        self._pubsub: Any = None

    def __repr__(self) -> str:
        return f"RedisPollLeader({self.connection!r}, key={self.key!r})"

    async def start(self) -> None:
        await self.connection.start()
        client = self.connection.client
        self._acquire = client.register_script(_ACQUIRE)
        self._release = client.register_script(_RELEASE)

    async def aclose(self) -> None:
        await self._drop_pubsub()
        await self.connection.aclose()

    async def acquire(self) -> bool:
        script = self._acquire
        ttl_ms = max(1, int(self.lease_ttl * 1000))
        held = await self.connection.call(
            "lease", lambda _: script(keys=[self.key], args=[self._token, ttl_ms])
        )
        return bool(held)

    async def release(self) -> None:
        script = self._release
        await self.connection.call(
            "lease release", lambda _: script(keys=[self.key], args=[self._token])
        )

    async def announce(self, revision: str) -> None:
        await self.connection.call(
            "announce", lambda client: client.publish(self.channel, revision)
        )

    async def next_announcement(self, timeout: float) -> str | None:
        if self._pubsub is None:
            pubsub = self.connection.client.pubsub(ignore_subscribe_messages=True)
            try:
                await asyncio.wait_for(pubsub.subscribe(self.channel), self.connection.op_timeout)
            except BaseException as exc:
                await _close_quietly(pubsub)
                if isinstance(exc, asyncio.CancelledError):
                    raise
                self.connection.count_failure(
                    "pubsub", f"subscribing at {self.connection.url} failed"
                )
                raise StoreUnavailableError("subscribing failed") from None
            self._pubsub = pubsub
            return None  # the caller checks the store for what it may have missed
        try:
            message = await asyncio.wait_for(
                self._pubsub.get_message(ignore_subscribe_messages=True, timeout=timeout),
                timeout + self.connection.op_timeout,
            )
        except asyncio.CancelledError:
            raise
        except Exception:
            await self._drop_pubsub()
            self.connection.count_failure(
                "pubsub", f"the subscription at {self.connection.url} was lost"
            )
            raise StoreUnavailableError("the subscription was lost") from None
        if not message or message.get("type") != "message":
            return None
        data = message.get("data")
        if not isinstance(data, bytes) or len(data) > MAX_REVISION_CHARS:
            return None
        return data.decode("utf-8", "replace")

    async def _drop_pubsub(self) -> None:
        pubsub, self._pubsub = self._pubsub, None
        if pubsub is not None:
            await _close_quietly(pubsub)


async def _close_quietly(pubsub: Any) -> None:
    try:
        await asyncio.wait_for(pubsub.aclose(), 1.0)
    except Exception as exc:
        logger.debug("closing a subscription failed: %r", exc)
