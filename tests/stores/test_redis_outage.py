"""Redis killed and restarted while a client decides and saves profiles."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import pytest
import redis

from asyncexp import Client
from asyncexp.aio.profile_saver import SaverStats
from asyncexp.stores import RedisConnection, RedisProfileStore, StoreUnavailableError
from tests.redis_server import RedisServer
from tests.stores.shared import STICKY_FLAG, sticky_text

LOAD_BUDGET = 0.2
# A generous ceiling for "did not block": the budget plus scheduling slack on 2 shared cores.
CEILING = LOAD_BUDGET + 2.0


class ObservedStore:
    """Delegates to a RedisProfileStore and lets the test wait for save outcomes."""

    def __init__(self, inner: RedisProfileStore) -> None:
        self.inner = inner
        self.failed = asyncio.Event()
        self.succeeded = asyncio.Event()

    async def start(self) -> None:
        await self.inner.start()

    async def aclose(self) -> None:
        await self.inner.aclose()

    async def lookup(self, user_id: str) -> dict[str, Any] | None:
        return await self.inner.lookup(user_id)

    async def lookup_many(self, user_ids: Any) -> dict[str, dict[str, Any] | None]:
        return await self.inner.lookup_many(user_ids)

    async def save(self, profile: dict[str, Any]) -> None:
        try:
            await self.inner.save(profile)
        except Exception:
            self.failed.set()
            raise
        self.succeeded.set()


def add_up(stats: SaverStats) -> bool:
    return stats.enqueued == (
        stats.saved
        + stats.coalesced
        + stats.dropped
        + stats.abandoned
        + stats.pending
        + stats.in_flight
    )


async def test_kill_and_restart_during_decisions_and_saves(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="asyncexp")
    connection = RedisConnection(redis_server.url, op_timeout=0.1, connect_timeout=0.1)
    store = ObservedStore(RedisProfileStore(connection))
    options = {"load_timeout": LOAD_BUDGET, "retry_base": 0.01, "retry_max": 0.05}
    client = Client(datafile=sticky_text("A"), profile_store=store, profile_options=options)
    async with client:
        before = [await client.create_user_context_async(f"pre-{n}") for n in range(5)]
        assert all(u.profile_loaded for u in before)

        redis_server.kill()
        # Decisions on loaded contexts go on; their saves fail and wait for Redis.
        decided = {u.user_id: u.decide(STICKY_FLAG).variation_key for u in before}
        await asyncio.wait_for(store.failed.wait(), 30)
        # Loads during the outage end within their budget and leave no profile.
        during = []
        for n in range(5):
            user = await asyncio.wait_for(client.create_user_context_async(f"during-{n}"), CEILING)
            assert not user.profile_loaded
            assert user.decide(STICKY_FLAG).variation_key in {"control", "treatment"}
            during.append(user)
        saver = client.profile_saver
        assert saver is not None
        assert saver.stats.failures >= 1
        assert saver.stats.saved == 0
        assert add_up(saver.stats)

        redis_server.restart()  # an empty server on the same port
        await asyncio.wait_for(saver.wait_idle(), 30)
        assert saver.stats.saved == 5
        assert saver.stats.pending == 0
        assert add_up(saver.stats)
        after = await client.create_user_context_async("after-0")
        assert after.profile_loaded

        stats = client.profile_stats
        assert stats is not None
        assert stats["failed"] == 5  # the five loads during the outage
        assert stats["unloaded_decides"] == 5
        assert stats["loads"] == stats["found"] + stats["missing"] + stats["failed"]

    sync = redis.Redis.from_url(redis_server.url)
    for user_id, variation in decided.items():
        doc = json.loads(sync.get("asyncexp:ups:" + user_id))
        expected = {"control": "101", "treatment": "102"}[variation or ""]
        assert doc["experiment_bucket_map"]["exp_checkout"]["variation_id"] == expected
    assert connection.stats.failed >= 1
    outage_lines = [r for r in caplog.records if "degrading" in r.getMessage()]
    # logged once per interval per kind, not once per failure
    assert 1 <= len(outage_lines) <= len({"timeout", "connection", "redis"})
    assert connection.stats.suppressed_logs >= 1


async def test_saves_still_pending_at_close_are_abandoned_and_counted(
    redis_server: RedisServer,
) -> None:
    connection = RedisConnection(redis_server.url, op_timeout=0.05, connect_timeout=0.05)
    store = ObservedStore(RedisProfileStore(connection))
    options = {"retry_base": 0.01, "retry_max": 0.02, "close_timeout": 0.2}
    client = Client(datafile=sticky_text("A"), profile_store=store, profile_options=options)
    async with client:
        users = [await client.create_user_context_async(f"u{n}") for n in range(3)]
        redis_server.kill()
        for user in users:
            user.decide(STICKY_FLAG)
            user.decide(STICKY_FLAG)  # the same profile: nothing new to save
        await asyncio.wait_for(store.failed.wait(), 30)
    saver = client.profile_saver
    assert saver is not None
    assert saver.stats.enqueued == 3
    assert saver.stats.abandoned == 3
    assert saver.stats.saved == 0
    assert add_up(saver.stats)


async def test_a_password_in_the_url_never_reaches_a_message(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="asyncexp")
    # a closed port on 127.0.0.1: every call fails at once
    connection = RedisConnection(
        "redis://admin:s3cret-password@127.0.0.1:1/0", op_timeout=0.2, connect_timeout=0.2
    )
    store = RedisProfileStore(connection)
    await store.start()
    try:
        with pytest.raises(StoreUnavailableError) as caught:
            await store.lookup("u")
    finally:
        await store.aclose()
    assert "s3cret" not in str(caught.value)
    assert caplog.records
    assert all("s3cret" not in r.getMessage() for r in caplog.records)
    assert connection.stats.failed == 1
