"""Producer processes → a real Redis stream → relay processes → the local ingestion server.

4 producer processes (``tests/stores/stream_producer.py``) × ``RECORDS`` items
each (every 10th an Optimizely conversion, the rest Analysys records) and 2
``asyncexp relay`` processes sharing one consumer group. Every id must reach
the server: in a plain run, with one relay ``kill -9``-ed mid-run, and with
Redis SIGKILL-ed and restarted mid-run (the producers fall back to their disk
spool and drain it into the stream once Redis is back).

``ASYNCEXP_STREAM_E2E_RECORDS`` sets the size per producer (default 10,000;
the issue's 50,000 with ``ASYNCEXP_STREAM_E2E_RECORDS=50000``).

What survives the Redis restart: the server runs with ``appendonly yes`` and
``appendfsync always`` (set before the run), so every write Redis acknowledged
(entries, the consumer group, its pending lists) is in the AOF it reloads.
Without persistence a restarted Redis comes back empty: entries appended and
not yet shipped are gone (the relay re-creates the group; the producers cannot
know), see docs-drafts/streams.md.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import orjson
import psutil
import pytest
import redis

from asyncexp.testing import IngestionServer
from tests.redis_server import RedisServer

RECORDS = int(os.environ.get("ASYNCEXP_STREAM_E2E_RECORDS", "10000"))
PRODUCERS = 4
GUARD = 240.0  # a hang fails the test instead of blocking the suite (not a timed assertion)
ROOT = Path(__file__).resolve().parents[2]
STREAM = "asyncexp:events"
GROUP = "asyncexp-relay"


def expected_ids() -> tuple[set[str], set[str]]:
    records: set[str] = set()
    events: set[str] = set()
    for p in range(PRODUCERS):
        for i in range(RECORDS):
            (events if i % 10 == 9 else records).add(f"p{p}-{'e' if i % 10 == 9 else 'r'}{i}")
    return records, events


class Arrivals:
    """Unique ids seen by the server, updated incrementally (the server's lists only grow)."""

    def __init__(self, server: IngestionServer) -> None:
        self.server = server
        self.records: set[str] = set()
        self.events: set[str] = set()
        self._r = self._e = 0

    def update(self) -> None:
        s = self.server
        for record in s.records[self._r :]:
            self.records.add(record["xcontext"]["$record_id"])
        self._r = len(s.records)
        for batch in s.event_batches[self._e :]:
            for visitor in batch["visitors"]:
                for snapshot in visitor["snapshots"]:
                    for event in snapshot["events"]:
                        self.events.add(event["uuid"])
        self._e = len(s.event_batches)

    def at_least(self, n: int) -> Callable[[IngestionServer], bool]:
        def check(_: IngestionServer) -> bool:
            self.update()
            return len(self.records) + len(self.events) >= n

        return check


def pending_of(admin: redis.Redis, consumer: str) -> int:
    for c in admin.xinfo_consumers(STREAM, GROUP):
        if c["name"] in (consumer, consumer.encode()):
            return int(c["pending"])
    return 0


async def until_status(relay: Any, condition: Callable[[], bool]) -> None:
    """Read the relay's status lines (one per --status-interval) until ``condition()``."""
    while not condition():
        line = await relay.stderr.readline()
        assert line, "the relay exited"


async def spawn(*args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        *args,
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


async def start_producers(redis_url: str, server: IngestionServer, mode: str) -> list[Any]:
    return [
        await spawn(
            "-m",
            "tests.stores.stream_producer",
            redis_url,
            str(RECORDS),
            f"p{p}",
            server.events_url,
            mode,
        )
        for p in range(PRODUCERS)
    ]


async def start_relay(redis_url: str, server: IngestionServer, name: str, status: Path) -> Any:
    return await spawn(
        "-m", "asyncexp", "relay",
        "--redis-url", redis_url,
        "--url", server.url,
        "--allow-events-url", server.events_url,
        "--consumer", name,
        "--claim-idle", "1",
        "--claim-interval", "0.5",
        "--status-interval", "0.5",
        "--status-file", str(status),
    )  # fmt: skip


async def expect_line(proc: Any, text: str) -> None:
    line = await proc.stdout.readline()
    if line.strip() != text.encode():
        err = await proc.stderr.read()
        raise AssertionError(f"expected {text!r}, got {line!r}; stderr: {err[-2000:]!r}")


async def send(proc: Any, text: str) -> None:
    proc.stdin.write(text.encode() + b"\n")
    await proc.stdin.drain()


async def finish_producers(producers: list[Any]) -> list[dict[str, Any]]:
    results = []
    for proc in producers:
        out, err = await proc.communicate()
        assert proc.returncode == 0, err[-3000:]
        results.append(orjson.loads(out.strip().splitlines()[-1]))
    return results


async def stop_relay(proc: Any, status: Path) -> dict[str, Any]:
    proc.send_signal(signal.SIGTERM)
    _, err = await proc.communicate()
    assert proc.returncode == 0, err[-3000:]
    result: dict[str, Any] = orjson.loads(await asyncio.to_thread(status.read_bytes))
    return result


@pytest.fixture
async def server() -> AsyncIterator[IngestionServer]:
    async with IngestionServer() as s:
        yield s


def check_all_arrived(arrivals: Arrivals, results: list[dict[str, Any]]) -> None:
    arrivals.update()
    records, events = expected_ids()
    assert arrivals.records == records
    assert arrivals.events == events
    for result in results:
        stats = result["stats"]
        assert stats["produced"] == RECORDS
        assert stats["dropped"] == {}
        assert result["stream"]["trimmed_entries"] == 0
    # all in the stream: appended from memory, or spooled and appended by a re-sender (the
    # producers share one spool directory, so a producer may append another one's files)
    appended = sum(r["stats"]["delivered"] + r["stats"]["replayed"] for r in results)
    assert appended >= PRODUCERS * RECORDS


async def test_every_id_arrives_through_two_relays(
    redis_server: RedisServer, server: IngestionServer, tmp_path: Path
) -> None:
    arrivals = Arrivals(server)
    relays = [
        await start_relay(redis_server.url, server, f"relay-{k}", tmp_path / f"r{k}.json")
        for k in range(2)
    ]
    producers = await start_producers(redis_server.url, server, "run")
    async with asyncio.timeout(GUARD):
        results = await finish_producers(producers)
        await server.wait_until(arrivals.at_least(PRODUCERS * RECORDS))
        final = [await stop_relay(r, tmp_path / f"r{k}.json") for k, r in enumerate(relays)]
    check_all_arrived(arrivals, results)
    print(final)
    assert sum(f["delivered"] for f in final) >= PRODUCERS * RECORDS
    assert final[-1]["pending"] == 0  # everything acknowledged
    assert final[-1]["backlog"] == 0  # and deleted from the stream


async def test_every_id_arrives_when_a_relay_is_killed(
    redis_server: RedisServer, server: IngestionServer, tmp_path: Path
) -> None:
    arrivals = Arrivals(server)
    total = PRODUCERS * RECORDS
    status = [tmp_path / "a.json", tmp_path / "b.json"]
    victim = await start_relay(redis_server.url, server, "relay-a", status[0])
    survivor = await start_relay(redis_server.url, server, "relay-b", status[1])
    producers = await start_producers(redis_server.url, server, "run")
    admin = redis.Redis.from_url(redis_server.url)
    async with asyncio.timeout(GUARD):
        await server.wait_until(arrivals.at_least(total // 4))
        # freeze the victim until it is caught holding entries, then kill -9 it
        frozen = psutil.Process(victim.pid)
        while True:
            victim.send_signal(signal.SIGSTOP)
            while frozen.status() != psutil.STATUS_STOPPED:  # the signal is asynchronous
                pass  # microseconds: the kernel stops it at its next scheduling point
            pending_of(admin, "relay-a")  # a round trip: what it wrote before is in now
            left_pending = pending_of(admin, "relay-a")  # held by a relay that cannot move
            if left_pending:
                break
            victim.send_signal(signal.SIGCONT)
            seen = len(arrivals.records) + len(arrivals.events)
            await server.wait_until(arrivals.at_least(seen + 1))
        victim.send_signal(signal.SIGKILL)
        await victim.wait()
        results = await finish_producers(producers)
        await server.wait_until(arrivals.at_least(total))
        # every id may be in before the survivor claims what the victim posted but did not
        # acknowledge: go on status line by status line until the victim holds nothing
        await until_status(survivor, lambda: pending_of(admin, "relay-a") == 0)
        final = await stop_relay(survivor, status[1])
    check_all_arrived(arrivals, results)
    assert left_pending > 0
    assert pending_of(admin, "relay-a") == 0  # the survivor took the dead relay's entries over
    assert final["claimed"] >= 1
    assert final["pending"] == 0


async def test_every_id_arrives_when_redis_restarts(
    redis_server: RedisServer, server: IngestionServer, tmp_path: Path
) -> None:
    redis_server.restart(keep_data=True)  # appendonly yes from an empty directory
    admin = redis.Redis.from_url(redis_server.url)
    admin.config_set("appendfsync", "always")  # what Redis acknowledged is on disk
    arrivals = Arrivals(server)
    total = PRODUCERS * RECORDS
    status = [tmp_path / f"r{k}.json" for k in range(2)]
    relays = [
        await start_relay(redis_server.url, server, f"relay-{k}", status[k]) for k in range(2)
    ]
    producers = await start_producers(redis_server.url, server, "pause")
    async with asyncio.timeout(GUARD):
        for proc in producers:
            await expect_line(proc, "half")
        redis_server.kill()  # SIGKILL mid-run: the second halves meet a dead Redis
        for proc in producers:
            await send(proc, "go")
        for proc in producers:
            await expect_line(proc, "produced")
        redis_server.restart(keep_data=True)  # the same port, the AOF reloaded
        admin = redis.Redis.from_url(redis_server.url)
        admin.config_set("appendfsync", "always")
        for proc in producers:
            await send(proc, "close")
        results = await finish_producers(producers)
        await server.wait_until(arrivals.at_least(total))
        final = [await stop_relay(r, status[k]) for k, r in enumerate(relays)]
    check_all_arrived(arrivals, results)
    assert sum(f["delivered"] for f in final) >= total
    spooled = sum(r["stats"]["spooled"] for r in results)
    replayed = sum(r["stats"]["replayed"] for r in results)
    assert spooled > 0  # the outage went to disk (what stayed queued in memory was appended)
    assert replayed >= spooled  # and every spooled item was appended to the stream after
    assert all(r["stream"]["append_failures"] > 0 for r in results)
