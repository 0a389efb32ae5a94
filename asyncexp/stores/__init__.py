"""Shared state for many workers: Redis implementations of the store protocols.

Every class here talks to Redis through redis-py's asyncio client (the
``asyncexp[redis]`` extra), imported lazily when a connection starts, so
``import asyncexp`` never imports redis:

* :mod:`.redis_connection`: :class:`RedisConnection`, one pool per client,
  a timeout on every call, outages counted and logged once per interval;
* :mod:`.redis_profiles`: :class:`RedisProfileStore`, sticky-bucketing
  profiles in the Optimizely profile shape (the
  :class:`~asyncexp.flags.profile_store.AsyncProfileStore` protocol);
* :mod:`.redis_segments`: :class:`RedisSegmentCache`, ODP segments shared
  by every worker (the :class:`~asyncexp.aio.odp.segment_cache.AsyncSegmentCache`
  protocol);
* :mod:`.redis_datafile`: :class:`RedisDatafileStore` (the last good
  datafile) and :class:`RedisPollLeader` (one poller per group, new
  revisions announced over pub/sub);
* :mod:`.redis_stream`: :class:`RedisStreamCollector` (events appended to a
  Redis stream, the disk spool when Redis is away) over the
  :class:`StreamSink` seam;
* :mod:`.redis_relay`: :class:`StreamRelay` / :func:`run_relay` (``asyncexp
  relay``): the stream shipped to the ingestion servers through a consumer group.

May import: asyncexp.aio, asyncexp.core, asyncexp.errors, asyncexp.stores
Types only: asyncexp.flags
Never imported by: asyncexp.core, asyncexp.flags, asyncexp.analytics, asyncexp.aio
"""

from __future__ import annotations

from asyncexp.stores.redis_connection import RedisConnection, RedisStats, StoreUnavailableError
from asyncexp.stores.redis_datafile import RedisDatafileStore, RedisPollLeader
from asyncexp.stores.redis_profiles import RedisProfileStore
from asyncexp.stores.redis_relay import RelayStats, StreamRelay, run_relay
from asyncexp.stores.redis_segments import RedisSegmentCache
from asyncexp.stores.redis_stream import (
    RedisStreamCollector,
    RedisStreamSink,
    StreamCollector,
    StreamEntry,
    StreamSink,
    StreamStats,
)

__all__ = [
    "RedisConnection",
    "RedisDatafileStore",
    "RedisPollLeader",
    "RedisProfileStore",
    "RedisSegmentCache",
    "RedisStats",
    "RedisStreamCollector",
    "RedisStreamSink",
    "RelayStats",
    "StoreUnavailableError",
    "StreamCollector",
    "StreamEntry",
    "StreamRelay",
    "StreamSink",
    "StreamStats",
    "run_relay",
]
