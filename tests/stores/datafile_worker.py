"""A worker process for ``test_shared_datafile.py``: polls (or follows) through Redis.

``python -m tests.stores.datafile_worker REDIS_URL CDN_URL INTERVAL LEASE_TTL``

Prints one JSON line per event, flushed at once (the parent synchronises on them):
``{"event": "revision", "revision": ..., "at": <time.time()>}`` on every new
revision; on a ``stats`` line from stdin, ``{"event": "stats", ...}`` (the
datafile source's fetches, the shared datafile's counters); on ``quit``, it
closes the client and exits 0.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

from asyncexp import Client
from asyncexp.stores import RedisConnection, RedisDatafileStore, RedisPollLeader


def emit(**line: Any) -> None:
    print(json.dumps(line), flush=True)


async def main(redis_url: str, cdn_url: str, interval: float, lease_ttl: float) -> None:
    connection = RedisConnection(redis_url, op_timeout=1.0, connect_timeout=1.0)
    client = Client(
        datafile_url=cdn_url,
        update_interval=interval,
        request_timeout=2.0,
        ready_timeout=0.0,
        datafile_store=RedisDatafileStore(connection, name="workers"),
        poll_leader=RedisPollLeader(connection, name="workers", lease_ttl=lease_ttl),
    )

    def updated() -> None:
        emit(
            event="revision",
            revision=client.config.revision if client.config else None,
            at=time.time(),
        )

    client.notifications.add_listener("CONFIG_UPDATE", updated)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    async with client:
        emit(event="started")
        while line := (await reader.readline()).decode().strip():
            if line == "stats":
                shared = client.shared_datafile
                assert shared is not None
                assert client.datafile_stats is not None
                emit(
                    event="stats",
                    fetches=client.datafile_stats.fetches,
                    skipped=client.datafile_stats.skipped,
                    leader_rounds=shared.stats.leader_rounds,
                    follower_updates=shared.stats.follower_updates,
                    announcements=shared.stats.announcements,
                )
            elif line == "quit":
                break


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])))
