"""The datafile stores on their own: bounded reads, conditional loads, atomic files."""

from __future__ import annotations

from pathlib import Path

import pytest

from asyncexp.aio.datafile_store import FileDatafileStore, StoredDatafile
from asyncexp.stores import RedisDatafileStore, RedisPollLeader, StoreUnavailableError
from tests.redis_server import RedisServer


async def test_redis_store_round_trip_conditional_load_and_cap(redis_server: RedisServer) -> None:
    store = RedisDatafileStore(redis_server.url, name="t", max_bytes=100)
    await store.start()
    try:
        assert await store.load() is None
        await store.save(StoredDatafile(b'{"revision": "5"}', "5", 1234.5))
        loaded = await store.load()
        assert loaded is not None
        assert (loaded.body, loaded.revision, loaded.saved_at) == (
            b'{"revision": "5"}',
            "5",
            1234.5,
        )
        assert await store.load(if_not="5") is None  # unchanged: the body is not transferred
        assert await store.load(if_not="4") is not None
        await store.save(StoredDatafile(b"x" * 101, "6", 1.0))
        with pytest.raises(StoreUnavailableError, match="over 100 bytes"):
            await store.load()
    finally:
        await store.aclose()


async def test_the_lease_is_held_by_one_and_released_for_the_next(
    redis_server: RedisServer,
) -> None:
    first = RedisPollLeader(redis_server.url, name="t", lease_ttl=30)
    second = RedisPollLeader(redis_server.url, name="t", lease_ttl=30)
    await first.start()
    await second.start()
    try:
        assert await first.acquire() is True
        assert await first.acquire() is True  # renewed
        assert await second.acquire() is False
        await second.release()  # not held: nothing happens
        assert await second.acquire() is False
        await first.release()
        assert await second.acquire() is True
    finally:
        await first.aclose()
        await second.aclose()


async def test_file_store_writes_atomically_and_refuses_a_huge_file(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "datafile.json"
    store = FileDatafileStore(path, max_bytes=64)
    assert await store.load() is None
    await store.save(StoredDatafile(b'{"revision": "1"}', "1", 0.0))
    loaded = await store.load()
    assert loaded is not None
    assert loaded.body == b'{"revision": "1"}'
    assert loaded.saved_at > 0  # the file's modification time
    assert sorted(p.name for p in path.parent.iterdir()) == ["datafile.json"]  # no temp left
    path.write_bytes(b"x" * 65)
    with pytest.raises(ValueError, match="over 64 bytes"):
        await store.load()
