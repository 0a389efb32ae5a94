"""``RedisConnection``: one redis-py asyncio pool shared by a client's stores.

Rules:

* Construction does no I/O and imports nothing: redis-py is imported by
  ``start()``; without it ``MissingExtraError`` names ``asyncexp[redis]``.
* One pool per connection object (``max_connections``, default 32; a call
  beyond it waits for a free connection within its timeout), created by the
  first ``start()`` and closed by the matching last ``aclose()`` (each store
  of a client starts and closes it once, so a connection shared by the stores
  of one client is one pool).
* Every command runs under ``op_timeout`` seconds (``asyncio.wait_for`` on top
  of redis-py's socket timeouts). A failure (timeout, refused connection,
  a Redis error) raises :class:`StoreUnavailableError` to the store, is counted
  in :class:`RedisStats` by kind and is logged at most once per
  ``log_interval`` seconds per kind; callers degrade instead of failing.
* The URL may carry a password: ``repr``, logs and every message show it
  through :func:`~asyncexp.aio.redaction.safe_url`; redis-py's own error
  texts are redacted too.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from asyncexp.aio.redaction import redact, safe_url, url_secrets
from asyncexp.errors import AsyncExpError, ClientStateError, ConfigError, MissingExtraError

__all__ = ["RedisConnection", "RedisStats", "StoreUnavailableError", "load_redis"]

logger = logging.getLogger("asyncexp.stores")

T = TypeVar("T")


class StoreUnavailableError(AsyncExpError):
    """A Redis call failed or timed out; the message never holds a secret."""


def load_redis() -> Any:
    """``redis.asyncio``, or ``MissingExtraError`` naming the extra."""
    try:
        import redis.asyncio as aioredis
    except ImportError:
        raise MissingExtraError(
            "Redis stores need redis-py: pip install 'asyncexp[redis]'"
        ) from None
    return aioredis


@dataclass
class RedisStats:
    """Counters of one connection, readable at any time."""

    calls: int = 0
    failures: dict[str, int] = field(default_factory=dict)
    """Failed calls by kind: ``timeout``, ``connection``, ``redis``."""
    suppressed_logs: int = 0

    @property
    def failed(self) -> int:
        return sum(self.failures.values())


class RedisConnection:
    """A lazily created redis-py asyncio client over one connection pool."""

    def __init__(
        self,
        url: str,
        *,
        op_timeout: float = 0.25,
        connect_timeout: float = 0.25,
        max_connections: int = 32,
        log_interval: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not isinstance(url, str) or not url.startswith(("redis://", "rediss://", "unix://")):
            raise ConfigError("the Redis URL must start with redis://, rediss:// or unix://")
        for name, value in (("op_timeout", op_timeout), ("connect_timeout", connect_timeout)):
            if not isinstance(value, int | float) or value <= 0:
                raise ConfigError(f"{name} must be a positive number of seconds")
        self._url = url
        self._secrets = tuple(url_secrets(url))
        self.op_timeout = float(op_timeout)
        self._connect_timeout = float(connect_timeout)
        self._max_connections = max_connections
        self._log_interval = log_interval
        self._clock = clock
        self._last_log: dict[str, float] = {}
        self._client: Any = None
        self._users = 0
        self.stats = RedisStats()

    def __repr__(self) -> str:
        return f"RedisConnection(url={self.url!r}, started={self._client is not None})"

    @property
    def url(self) -> str:
        """The URL as it may be shown (no password)."""
        return safe_url(self._url)

    @property
    def client(self) -> Any:
        """The ``redis.asyncio.Redis`` client; ``start()`` first."""
        if self._client is None:
            raise ClientStateError("the Redis connection is not started")
        return self._client

    @property
    def started(self) -> bool:
        return self._client is not None

    async def start(self) -> None:
        """Create the pool (first call); later calls only count a user."""
        self._users += 1
        if self._client is not None:
            return
        aioredis = load_redis()
        # Blocking: beyond max_connections a call waits for a free connection (within its
        # timeout) instead of failing at once.
        pool = aioredis.BlockingConnectionPool.from_url(
            self._url,
            timeout=self.op_timeout,
            socket_timeout=self.op_timeout,
            socket_connect_timeout=self._connect_timeout,
            max_connections=self._max_connections,
            health_check_interval=0,
        )
        self._client = aioredis.Redis(connection_pool=pool)

    async def aclose(self) -> None:
        """Close the pool once its last user closed; idempotent per user."""
        if self._users > 0:
            self._users -= 1
        if self._users > 0 or self._client is None:
            return
        client, self._client = self._client, None
        try:
            await client.aclose(close_connection_pool=True)
        except Exception as exc:  # closing a pool to a dead server must not fail a close
            logger.debug("closing the Redis pool failed: %s", self._redact(exc))

    async def call(self, what: str, make: Callable[[Any], Awaitable[T]]) -> T:
        """Run ``make(client)`` under the timeout; failures become ``StoreUnavailableError``."""
        self.stats.calls += 1
        client = self.client
        try:
            return await asyncio.wait_for(make(client), self.op_timeout)
        except TimeoutError:
            kind, detail = "timeout", f"no answer within {self.op_timeout:g}s"
        except (ConnectionError, OSError) as exc:
            kind, detail = "connection", self._redact(exc)
        except Exception as exc:
            aioredis = load_redis()
            if isinstance(exc, aioredis.TimeoutError):
                kind, detail = "timeout", f"no answer within {self.op_timeout:g}s"
            elif isinstance(exc, aioredis.ConnectionError):
                kind, detail = "connection", self._redact(exc)
            elif isinstance(exc, aioredis.RedisError):
                kind, detail = "redis", self._redact(exc)
            else:
                raise
        self.count_failure(kind, f"Redis {what} at {self.url} failed ({kind}): {detail}")
        raise StoreUnavailableError(f"Redis {what} failed ({kind})")

    def count_failure(self, kind: str, message: str) -> None:
        """Count a failure of ``kind``; log ``message`` once per interval per kind."""
        self.stats.failures[kind] = self.stats.failures.get(kind, 0) + 1
        now = self._clock()
        last = self._last_log.get(kind)
        if last is not None and now - last < self._log_interval:
            self.stats.suppressed_logs += 1
            return
        self._last_log[kind] = now
        logger.warning("%s; degrading (logged once per %gs)", message, self._log_interval)

    def _redact(self, exc: BaseException) -> str:
        return redact(str(exc) or type(exc).__name__, *self._secrets)
