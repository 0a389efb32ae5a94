"""RedisStreamCollector and StreamRelay in one process, against a real redis-server."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis

from asyncexp import Client
from asyncexp.core.flags.events import EventContext, UserEvent
from asyncexp.stores import RedisStreamCollector, StreamRelay
from asyncexp.testing import IngestionServer, Reply
from tests.redis_server import RedisServer

STREAM = "asyncexp:events"
GROUP = "asyncexp-relay"


def record(i: int) -> dict[str, Any]:
    return {"xwho": "u", "xwhat": "buy", "xwhen": 1_700_000_000_000 + i,
            "xcontext": {"$record_id": f"r{i}"}}  # fmt: skip


def event(i: int, events_url: str) -> UserEvent:
    ctx = EventContext(account_id="a1", project_id="p1", revision="7", endpoint_override=events_url)
    visitor = {"snapshots": [{"events": [{"uuid": f"e{i}"}]}], "attributes": [], "visitor_id": "u"}
    return UserEvent(ctx, visitor, "conversion", f"e{i}", i)


def record_ids(server: IngestionServer) -> set[str]:
    return {r["xcontext"]["$record_id"] for r in server.records}


def event_ids(server: IngestionServer) -> set[str]:
    return {
        e["uuid"]
        for b in server.event_batches
        for v in b["visitors"]
        for s in v["snapshots"]
        for e in s["events"]
    }


@pytest.fixture
async def server() -> AsyncIterator[IngestionServer]:
    async with IngestionServer() as s:
        yield s


async def run_relays(relays: list[StreamRelay]) -> list[asyncio.Task[Any]]:
    return [asyncio.create_task(r.run()) for r in relays]


async def stop(relays: list[StreamRelay], tasks: list[asyncio.Task[Any]]) -> None:
    for relay in relays:
        relay.stop()
    await asyncio.gather(*tasks)


async def test_records_and_events_keep_their_ids_through_the_stream(
    redis_server: RedisServer, server: IngestionServer
) -> None:
    collector = RedisStreamCollector(redis_server.url, max_request_size=50)
    await collector.start()
    for i in range(3000):
        collector.submit(record(i))
        if i % 10 == 0:
            collector.submit(event(i, server.events_url))
    await collector.aclose()
    assert collector.stats.settled
    assert collector.stats.delivered + collector.stats.replayed == 3300
    admin = redis.Redis.from_url(redis_server.url)
    assert admin.xlen(STREAM) == collector.stream_stats.appended_entries
    relays = [
        StreamRelay(
            redis_server.url,
            url=server.url,
            consumer=f"c{k}",
            allowed_events_urls=[server.events_url],
        )
        for k in range(2)
    ]
    tasks = await run_relays(relays)
    await server.wait_until(lambda s: s.record_count >= 3000 and s.event_count >= 300)
    await stop(relays, tasks)
    assert record_ids(server) == {f"r{i}" for i in range(3000)}
    assert event_ids(server) == {f"e{i}" for i in range(0, 3000, 10)}
    assert sum(r.stats.delivered for r in relays) == 3300
    assert admin.xlen(STREAM) == 0  # acknowledged entries are deleted
    assert admin.xpending(STREAM, GROUP)["pending"] == 0
    # the relay merges entries: fewer requests than entries
    assert server.request_count < collector.stream_stats.appended_entries


async def test_the_maxlen_cap_trims_and_is_counted_exactly(redis_server: RedisServer) -> None:
    collector = RedisStreamCollector(
        redis_server.url, maxlen=20, batch_size=1, max_request_size=1, max_concurrency=1
    )
    await collector.start()
    for i in range(500):
        collector.submit(record(i))
    await collector.aclose()
    length = redis.Redis.from_url(redis_server.url).xlen(STREAM)
    stream = collector.stream_stats
    assert stream.appended_entries == 500
    assert 20 <= length < 500  # approximate: whole macro nodes go
    assert stream.trimmed_entries == 500 - length


async def test_redis_down_spools_and_the_spool_drains_into_the_stream(
    redis_server: RedisServer, server: IngestionServer
) -> None:
    redis_server.kill()
    collector = RedisStreamCollector(
        redis_server.url, probe_base=0.05, probe_max=0.2, replay_interval=0.2
    )
    await collector.start()
    for i in range(2000):
        collector.submit(record(i))
    await collector.flush()  # settled: everything is in the spool now
    stats = collector.stats
    assert stats.spooled == 2000
    assert stats.delivered == 0
    assert collector.health.outage
    redis_server.restart()
    replayer = collector.replayer
    assert replayer is not None
    while stats.replayed < 2000:  # the probes find Redis, then the passes append the spool
        replayer.pass_done.clear()
        await replayer.pass_done.wait()
    assert stats.replayed == 2000
    assert stats.replay_dropped == 0
    await collector.aclose()
    relay = StreamRelay(redis_server.url, url=server.url)
    tasks = await run_relays([relay])
    await server.wait_until(lambda s: s.record_count >= 2000)
    await stop([relay], tasks)
    assert record_ids(server) == {f"r{i}" for i in range(2000)}


async def test_retries_honour_retry_after_and_ack_only_after_success(
    redis_server: RedisServer, server: IngestionServer
) -> None:
    collector = RedisStreamCollector(redis_server.url)
    await collector.start()
    for i in range(100):
        collector.submit(record(i))
    await collector.aclose()
    server.script("analysys", Reply(status=503, retry_after="0"), Reply(status=500))
    relay = StreamRelay(redis_server.url, url=server.url)
    tasks = await run_relays([relay])
    await server.wait_until(lambda s: s.record_count >= 100)
    await stop([relay], tasks)
    assert [r.reply.status for r in server.requests] == [503, 500, 200]
    assert relay.stats.retried == 2
    assert relay.stats.delivered == 100
    assert record_ids(server) == {f"r{i}" for i in range(100)}


async def test_refused_and_unconfirmed_batches_go_to_the_dead_letter_stream(
    redis_server: RedisServer, server: IngestionServer
) -> None:
    server.script(
        "analysys",
        Reply(status=200, code=500),  # 2xx without success, twice: unconfirmed
        Reply(status=200, code=500),
        Reply(status=400, code=None),  # refused
    )
    collector = RedisStreamCollector(redis_server.url, batch_size=10, max_request_size=10)
    await collector.start()
    for i in range(10):
        collector.submit(record(i))
    await collector.flush()
    relay = StreamRelay(redis_server.url, url=server.url)
    tasks = await run_relays([relay])
    await server.wait_until(lambda s: s.request_count >= 2)
    for i in range(10, 20):
        collector.submit(record(i))
    await collector.aclose()
    await server.wait_until(lambda s: s.request_count >= 3)
    await stop([relay], tasks)  # lets the batch in hand finish (dead-lettered)
    admin = redis.Redis.from_url(redis_server.url)
    dead = admin.xrange(f"{STREAM}:dead")
    assert [fields[b"r"] for _, fields in dead] == [b"unconfirmed", b"HTTP 400"]
    assert relay.stats.rejected == 20
    assert relay.stats.delivered == 0
    assert admin.xpending(STREAM, GROUP)["pending"] == 0


async def test_entries_left_pending_by_a_dead_consumer_are_claimed(
    redis_server: RedisServer, server: IngestionServer
) -> None:
    collector = RedisStreamCollector(redis_server.url, batch_size=10, max_request_size=10)
    await collector.start()
    for i in range(200):
        collector.submit(record(i))
    await collector.aclose()
    admin = redis.Redis.from_url(redis_server.url)
    admin.xgroup_create(STREAM, GROUP, id="0")
    taken = admin.xreadgroup(GROUP, "dead", {STREAM: ">"}, count=5)  # and never acknowledged
    assert len(taken[0][1]) == 5
    relay = StreamRelay(
        redis_server.url, url=server.url, consumer="alive", claim_idle=0.2, claim_interval=0.1
    )
    tasks = await run_relays([relay])
    await server.wait_until(lambda s: s.record_count >= 200)
    await stop([relay], tasks)
    assert record_ids(server) == {f"r{i}" for i in range(200)}
    assert relay.stats.claimed == 5
    assert admin.xpending(STREAM, GROUP)["pending"] == 0


async def test_the_relay_cli_ships_and_writes_its_status(
    redis_server: RedisServer, server: IngestionServer, tmp_path: Path
) -> None:
    collector = RedisStreamCollector(redis_server.url)
    await collector.start()
    for i in range(500):
        collector.submit(record(i))
    await collector.aclose()
    status = tmp_path / "status.json"
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m", "asyncexp", "relay", "--redis-url", redis_server.url, "--url", server.url,
        "--status-file", str(status), "--status-interval", "0.2",
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    await server.wait_until(lambda s: s.record_count >= 500)
    proc.terminate()
    _, err = await proc.communicate()
    assert proc.returncode == 0, err
    final = orjson.loads(await asyncio.to_thread(status.read_bytes))
    assert final["delivered"] == 500
    assert final["pending"] == 0
    assert b"delivered=500" in err


async def test_a_client_tracks_through_the_stream_with_record_ids(
    redis_server: RedisServer, server: IngestionServer
) -> None:
    collector = RedisStreamCollector(redis_server.url)
    async with Client(collector=collector, app_key="shop") as client:
        for i in range(300):
            client.track(f"user{i}", "buy", {"n": i})
    assert collector.stats.delivered + collector.stats.replayed == 300
    relay = StreamRelay(redis_server.url, url=server.url)
    tasks = await run_relays([relay])
    await server.wait_until(lambda s: s.record_count >= 300)
    await stop([relay], tasks)
    ids = record_ids(server)
    assert len(ids) == 300  # every record carries its own $record_id, unchanged
    assert {r["xwho"] for r in server.records} == {f"user{i}" for i in range(300)}


async def test_a_relay_recreates_its_group_when_redis_comes_back_empty(
    redis_server: RedisServer, server: IngestionServer
) -> None:
    collector = RedisStreamCollector(redis_server.url, batch_size=10, max_request_size=10)
    await collector.start()
    relay = StreamRelay(redis_server.url, url=server.url)
    tasks = await run_relays([relay])
    for i in range(10):
        collector.submit(record(i))
    await server.wait_until(lambda s: s.record_count >= 10)
    redis_server.restart()  # no persistence: the stream and the group are gone
    for i in range(10, 20):
        collector.submit(record(i))
    await collector.aclose()  # appended to the new, empty Redis (or spooled and drained)
    await server.wait_until(lambda s: s.record_count >= 20)
    await stop([relay], tasks)
    assert record_ids(server) == {f"r{i}" for i in range(20)}
    admin = redis.Redis.from_url(redis_server.url)
    assert [g["name"] for g in admin.xinfo_groups(STREAM)] == [GROUP.encode()]


async def test_memory_stays_within_the_budget_and_the_overflow_reaches_the_stream(
    redis_server: RedisServer, server: IngestionServer
) -> None:
    collector = RedisStreamCollector(redis_server.url, memory_budget_mib=0.05, replay_interval=0.2)
    await collector.start()
    excess = 0
    for i in range(20_000):  # a loop that never yields: the budget overflows to the spool
        collector.submit(record(i))
        excess = max(excess, collector.stats.queued - collector.memory_limit)
    assert excess <= 500  # the budget, plus one overflow chunk in the making
    assert collector.stats.overflowed > 0
    await collector.aclose()  # appends what this run spooled (Redis is healthy)
    stats = collector.stats
    assert stats.settled
    assert stats.replayed == stats.spooled
    relay = StreamRelay(redis_server.url, url=server.url)
    tasks = await run_relays([relay])
    await server.wait_until(lambda s: s.record_count >= 20_000)
    await stop([relay], tasks)
    assert record_ids(server) == {f"r{i}" for i in range(20_000)}


async def test_events_for_a_url_not_allowed_are_dead_lettered_without_a_request(
    redis_server: RedisServer, server: IngestionServer
) -> None:
    collector = RedisStreamCollector(redis_server.url)
    await collector.start()
    for i in range(5):
        collector.submit(event(i, "http://169.254.169.254/latest"))
    collector.submit(record(0))
    await collector.aclose()
    relay = StreamRelay(redis_server.url, url=server.url)  # not allowed: that URL
    tasks = await run_relays([relay])
    await server.wait_until(lambda s: s.record_count >= 1)
    await stop([relay], tasks)
    assert {r.kind for r in server.requests} == {"analysys"}
    admin = redis.Redis.from_url(redis_server.url)
    dead = admin.xrange(f"{STREAM}:dead")
    assert [(f[b"u"], f[b"r"], f[b"n"]) for _, f in dead] == [
        (b"http://169.254.169.254/latest", b"destination not allowed", b"5")
    ]
    assert relay.stats.rejected == 5


async def test_a_restarted_relay_ships_what_its_name_left_pending(
    redis_server: RedisServer, server: IngestionServer
) -> None:
    collector = RedisStreamCollector(redis_server.url, batch_size=10, max_request_size=10)
    await collector.start()
    for i in range(100):
        collector.submit(record(i))
    await collector.aclose()
    admin = redis.Redis.from_url(redis_server.url)
    admin.xgroup_create(STREAM, GROUP, id="0")
    admin.xreadgroup(GROUP, "relay-1", {STREAM: ">"}, count=4)  # then it "crashed"
    relay = StreamRelay(redis_server.url, url=server.url, consumer="relay-1", read_count=3)
    tasks = await run_relays([relay])
    await server.wait_until(lambda s: s.record_count >= 100)
    await stop([relay], tasks)
    assert record_ids(server) == {f"r{i}" for i in range(100)}
    assert relay.stats.claimed == 0  # its own entries, re-read by name, not claimed
    assert admin.xpending(STREAM, GROUP)["pending"] == 0


async def test_a_slow_relay_keeps_its_entries_while_it_ships_them(
    redis_server: RedisServer, server: IngestionServer
) -> None:
    server.script("analysys", Reply(hang=True))  # the first request hangs until released
    collector = RedisStreamCollector(redis_server.url)
    await collector.start()
    for i in range(50):
        collector.submit(record(i))
    await collector.aclose()
    beats = asyncio.Event()  # set by each status of either relay (every 0.1 s)
    slow = StreamRelay(
        redis_server.url,
        url=server.url,
        consumer="slow",
        claim_idle=1.0,
        on_status=lambda _: beats.set(),
        status_interval=0.1,
    )
    other = StreamRelay(
        redis_server.url,
        url=server.url,
        consumer="other",
        claim_idle=1.0,
        claim_interval=0.05,
        on_status=lambda _: beats.set(),
        status_interval=0.1,
    )
    tasks = await run_relays([slow])
    started = False
    while slow.stats.heartbeats < 7:  # > 2 s of a hung request: twice the claim idle time
        if not started and slow.stats.heartbeats >= 1:  # the slow relay holds the entries
            tasks += await run_relays([other])
            started = True
        beats.clear()
        await beats.wait()
    server.release()
    await stop([slow, other], tasks)
    assert other.stats.claimed == 0  # the heartbeats kept the entries the slow relay's
    assert slow.stats.delivered == 50


async def test_outage_mode_ends_when_redis_answers_even_with_nothing_left_to_probe_with(
    redis_server: RedisServer,
) -> None:
    redis_server.kill()
    collector = RedisStreamCollector(
        redis_server.url, batch_size=1, max_request_size=1, probe_base=0.05, probe_max=0.2
    )
    await collector.start()
    for i in range(5):
        collector.submit(record(i))
    await collector.flush()
    assert collector.health.outage
    spool = collector.spool
    assert spool is not None
    for path in await asyncio.to_thread(spool.pending):  # another process appended them
        await asyncio.to_thread(path.unlink)
    redis_server.restart()
    replayer = collector.replayer
    assert replayer is not None
    async with asyncio.timeout(60):  # a guard: without the PING probe this never ends
        while collector.health.outage:
            replayer.pass_done.clear()
            await replayer.pass_done.wait()
    collector.submit(record(5))
    await collector.aclose()
    assert collector.stats.delivered == 1  # appended from memory: the outage is over
