"""The Redis fixture is a real server: it answers, loses its data on a kill, keeps its port."""

from __future__ import annotations

import redis.asyncio as aioredis

from tests.redis_server import RedisServer


async def test_a_real_server_that_can_be_killed_and_restarted(redis_server: RedisServer) -> None:
    client = aioredis.Redis.from_url(redis_server.url)
    try:
        assert await client.ping() is True
        await client.set("k", "v")
        assert await client.get("k") == b"v"
        port = redis_server.port
        redis_server.restart()
        assert redis_server.port == port
    finally:
        await client.aclose()
    fresh = aioredis.Redis.from_url(redis_server.url)
    try:
        assert await fresh.get("k") is None  # a fresh server, same address
    finally:
        await fresh.aclose()
