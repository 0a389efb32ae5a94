"""ODP segments shared by every worker through Redis; coalescing stays per process."""

from __future__ import annotations

import asyncio

import redis

from asyncexp import Client, OdpOption
from asyncexp.stores import RedisConnection, RedisSegmentCache
from tests.aio.odp_server import OdpServer
from tests.aio.test_client_odp import datafile_for
from tests.redis_server import RedisServer


def worker_client(server: OdpServer, url: str, **cache: object) -> Client:
    connection = RedisConnection(url, op_timeout=0.2, connect_timeout=0.2)
    shared = RedisSegmentCache(connection, **cache)  # type: ignore[arg-type]
    return Client(datafile=datafile_for(server.url), odp_options={"segments_cache": shared})


async def test_an_answer_fetched_by_one_worker_is_a_hit_for_another(
    redis_server: RedisServer,
) -> None:
    async with OdpServer() as server:
        server.qualified = {"u1": {"vip"}}
        async with (
            worker_client(server, redis_server.url) as a,
            worker_client(server, redis_server.url) as b,
        ):
            assert await a.odp.fetch_segments("u1") == ["vip"]
            assert await b.odp.fetch_segments("u1") == ["vip"]  # from Redis
            assert b.odp.stats.segments.cache_hits == 1
            assert b.odp.stats.segments.requests == 0
            user = b.create_user_context("u1")
            assert await user.fetch_qualified_segments() is True
            assert user.decide("checkout").rule_key == "us_rule"
        assert len(server.graphql) == 1
    keys = redis.Redis.from_url(redis_server.url).keys("asyncexp:segments:*")
    assert len(keys) == 1
    assert keys[0].endswith(b":fs_user_id-$-u1")  # under the settings' digest
    assert redis.Redis.from_url(redis_server.url).ttl(keys[0]) > 0


async def test_concurrent_fetches_in_one_process_still_coalesce(
    redis_server: RedisServer,
) -> None:
    async with OdpServer() as server:
        server.qualified = {"u2": {"vip"}}
        async with worker_client(server, redis_server.url) as client:
            answers = await asyncio.gather(*(client.odp.fetch_segments("u2") for _ in range(10)))
            assert answers == [["vip"]] * 10
            stats = client.odp.stats.segments
            assert stats.requests == 1
            assert stats.coalesced + stats.cache_hits == 9
        assert len(server.graphql) == 1


async def test_a_redis_outage_is_a_miss_never_a_failed_fetch(redis_server: RedisServer) -> None:
    async with OdpServer() as server:
        server.qualified = {"u3": {"vip"}}
        async with worker_client(server, redis_server.url) as client:
            redis_server.kill()
            assert await client.odp.fetch_segments("u3") == ["vip"]
            assert await client.odp.fetch_segments("u3") == ["vip"]
            stats = client.odp.stats.segments
            assert stats.cache_errors == 4  # two lookups, two saves
            assert stats.requests == 2
            redis_server.restart()
            assert await client.odp.fetch_segments("u3") == ["vip"]
            assert await client.odp.fetch_segments("u3") == ["vip"]
            assert stats.cache_hits == 1
            assert stats.cache_errors == 4


async def test_garbage_in_redis_reads_as_a_miss_and_reset_clears_the_prefix(
    redis_server: RedisServer,
) -> None:
    async with OdpServer() as server:
        server.qualified = {"u4": {"vip"}}
        async with worker_client(server, redis_server.url, max_bytes=1024) as client:
            assert await client.odp.fetch_segments("u4") == ["vip"]
            sync = redis.Redis.from_url(redis_server.url)
            (key,) = sync.keys("asyncexp:segments:*")
            for garbage in (b"{not json", b'{"a": 1}', b"[1, 2]", b'["' + b"x" * 2000 + b'"]'):
                sync.set(key, garbage)
                assert await client.odp.fetch_segments("u4") == ["vip"]  # refetched
                sync.set(key, garbage)
            assert client.odp.stats.segments.requests == 5  # the first, then four refetches
            sync.set("unrelated", b"kept")
            assert await client.odp.fetch_segments("u4", [OdpOption.RESET_CACHE]) == ["vip"]
            assert sync.get("unrelated") == b"kept"
            assert len(sync.keys("asyncexp:segments:*")) == 1  # the fresh answer only
