"""The last good datafile shared through a file or Redis, and one poller for many workers."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import socket
import statistics
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from asyncexp import Client
from asyncexp.flags.decision import NOT_READY_REASON
from asyncexp.stores import RedisConnection, RedisDatafileStore, RedisPollLeader
from tests.redis_server import RedisServer
from tests.stores.shared import STICKY_FLAG, sticky_text

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Cdn:
    """A datafile CDN on 127.0.0.1: ``body`` (or HTTP 500), every request recorded."""

    body: str = field(default_factory=lambda: sticky_text("1"))
    failing: bool = False
    requests: list[float] = field(default_factory=list)
    first_served: dict[str, float] = field(default_factory=dict)
    url: str = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append(time.time())
        if self.failing:
            return web.Response(status=500)
        revision = json.loads(self.body)["revision"]
        self.first_served.setdefault(revision, time.time())
        return web.Response(text=self.body, content_type="application/json")


@pytest.fixture
async def cdn() -> AsyncIterator[Cdn]:
    state = Cdn()
    app = web.Application()
    app.router.add_get("/{tail:.*}", state.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    state.url = f"http://127.0.0.1:{runner.addresses[0][1]}/datafile.json"
    yield state
    await runner.cleanup()


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/datafile.json"


def decides(client: Client) -> bool:
    decision = client.create_user_context("u1").decide(STICKY_FLAG)
    return decision.variation_key is not None and NOT_READY_REASON not in decision.reasons


async def test_a_file_store_serves_decisions_from_the_first_call_while_the_cdn_fails(
    cdn: Cdn, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="asyncexp")
    path = tmp_path / "last-good.json"
    path.write_text(sticky_text("stored-1"))
    cdn.failing = True
    noticed: list[tuple[str, float]] = []
    client = Client(datafile_url=cdn.url, datafile_store=path, update_interval=60)
    client.notifications.add_listener(
        "STORED_DATAFILE", lambda revision, age: noticed.append((revision, age))
    )
    async with client:
        assert decides(client)
        assert client.config is not None
        assert client.config.revision == "stored-1"
        assert len(noticed) == 1
        assert noticed[0][0] == "stored-1"
        assert noticed[0][1] >= 0
        lines = [r.getMessage() for r in caplog.records if "stored datafile" in r.getMessage()]
        assert any("revision stored-1" in line and "ago" in line for line in lines)
        shared = client.shared_datafile
        assert shared is not None
        assert shared.stats.started_from_store

        # The CDN answers again: the new revision is used and becomes the stored one.
        cdn.failing = False
        cdn.body = sticky_text("cdn-2")
        assert await client.refresh()
        assert client.config.revision == "cdn-2"
    assert json.loads(path.read_text())["revision"] == "cdn-2"


async def test_a_redis_store_serves_a_worker_starting_with_the_cdn_unreachable(
    cdn: Cdn, redis_server: RedisServer
) -> None:
    cdn.body = sticky_text("r1")
    async with Client(
        datafile_url=cdn.url, datafile_store=RedisDatafileStore(redis_server.url)
    ) as first:
        assert first.config is not None
        assert first.config.revision == "r1"

    noticed: list[str] = []
    late = Client(
        datafile_url=closed_port_url(),
        datafile_store=RedisDatafileStore(redis_server.url),
        ready_timeout=30,
    )
    late.notifications.add_listener("STORED_DATAFILE", lambda rev, age: noticed.append(rev))
    async with late:
        assert decides(late)
        assert noticed == ["r1"]
        assert late.datafile_stats is not None


async def test_without_anything_stored_the_client_waits_for_the_cdn_as_before(
    redis_server: RedisServer,
) -> None:
    client = Client(
        datafile_url=closed_port_url(),
        datafile_store=RedisDatafileStore(redis_server.url),
        ready_timeout=0.05,
    )
    async with client:
        assert not decides(client)
        shared = client.shared_datafile
        assert shared is not None
        assert not shared.stats.started_from_store


async def test_a_stored_datafile_that_does_not_parse_is_ignored(tmp_path: Path, cdn: Cdn) -> None:
    path = tmp_path / "bad.json"
    path.write_text("{not a datafile")
    cdn.body = sticky_text("fresh")
    async with Client(datafile_url=cdn.url, datafile_store=path) as client:
        shared = client.shared_datafile
        assert shared is not None
        assert shared.stats.invalid_stored == 1
        assert client.config is not None
        assert client.config.revision == "fresh"


class Worker:
    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.revisions: dict[str, float] = {}

    async def next_line(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        raw = await self.process.stdout.readline()
        assert raw, "the worker exited"
        line: dict[str, Any] = json.loads(raw)
        if line["event"] == "revision":
            self.revisions.setdefault(line["revision"], line["at"])
        return line

    async def wait_revision(self, revision: str) -> float:
        while revision not in self.revisions:
            await self.next_line()
        return self.revisions[revision]

    async def stats(self) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write(b"stats\n")
        await self.process.stdin.drain()
        while (line := await self.next_line())["event"] != "stats":
            pass
        return line

    async def quit(self) -> None:
        if self.process.returncode is None:
            assert self.process.stdin is not None
            self.process.stdin.write(b"quit\n")
            await self.process.stdin.drain()
            await asyncio.wait_for(self.process.wait(), 30)


async def start_worker(redis_url: str, cdn_url: str, interval: float, ttl: float) -> Worker:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.stores.datafile_worker",
        redis_url,
        cdn_url,
        str(interval),
        str(ttl),
        cwd=ROOT,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    return Worker(process)


async def test_four_workers_one_poller_every_revision_reaches_all(
    cdn: Cdn, redis_server: RedisServer, capsys: pytest.CaptureFixture[str]
) -> None:
    interval, ttl = 0.5, 1.5
    cdn.body = sticky_text("1")
    workers = [await start_worker(redis_server.url, cdn.url, interval, ttl) for _ in range(4)]
    try:
        await asyncio.wait_for(asyncio.gather(*(w.wait_revision("1") for w in workers)), 60)

        cdn.body = sticky_text("2")
        applied = await asyncio.wait_for(
            asyncio.gather(*(w.wait_revision("2") for w in workers)), 60
        )
        served = cdn.first_served["2"]
        latencies = [at - served for at in applied]

        stats = [await w.stats() for w in workers]
        pollers = [n for n, s in enumerate(stats) if s["fetches"] > 0]
        assert len(pollers) == 1, stats  # one worker polls the CDN for all four
        assert sum(s["fetches"] for s in stats) == len(cdn.requests)
        assert sum(s["follower_updates"] for s in stats) >= 3
        elapsed = cdn.requests[-1] - cdn.requests[0]
        per_interval = (len(cdn.requests) - 1) / (elapsed / interval) if elapsed else 0.0

        # The poller dies (SIGKILL, no release): another worker takes the lease over.
        leader = workers.pop(pollers[0])
        leader.process.send_signal(signal.SIGKILL)
        await leader.process.wait()
        killed_at = time.time()
        cdn.body = sticky_text("3")
        applied3 = await asyncio.wait_for(
            asyncio.gather(*(w.wait_revision("3") for w in workers)), 60
        )
        takeover = max(applied3) - cdn.first_served["3"]
        lease_gap = cdn.first_served["3"] - killed_at  # lease expiry, then the next round
        stats = [await w.stats() for w in workers]
        assert len([s for s in stats if s["fetches"] > 0]) == 1
    finally:
        for w in workers:
            await w.quit()
    with capsys.disabled():
        print(
            f"\n[shared datafile] 4 workers, interval {interval}s: CDN requests per interval "
            f"{per_interval:.2f}; revision 2 reached all workers in "
            f"p50 {statistics.median(latencies) * 1000:.1f} ms, "
            f"max {max(latencies) * 1000:.1f} ms after the poll; "
            f"after SIGKILL of the poller, a new poller fetched {lease_gap:.2f}s later "
            f"(lease {ttl}s) and revision 3 reached the 3 others "
            f"{takeover * 1000:.0f} ms after its request"
        )


async def test_when_redis_is_down_the_worker_polls_the_cdn_itself(
    cdn: Cdn, redis_server: RedisServer
) -> None:
    connection = RedisConnection(redis_server.url, op_timeout=0.1, connect_timeout=0.1)
    redis_server.kill()
    client = Client(
        datafile_url=cdn.url,
        datafile_store=RedisDatafileStore(connection),
        poll_leader=RedisPollLeader(connection),
    )
    async with client:
        assert decides(client)
        shared = client.shared_datafile
        assert shared is not None
        assert shared.stats.leader_unreachable >= 1
        assert client.datafile_stats is not None
        assert client.datafile_stats.fetches >= 1
        assert len(cdn.requests) >= 1


def revision_waiter(client: Client, revision: str) -> asyncio.Future[None]:
    future: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def updated() -> None:
        config = client.config
        if config is not None and config.revision == revision and not future.done():
            future.set_result(None)

    client.notifications.add_listener("CONFIG_UPDATE", updated)
    return future


def grouped_client(cdn: Cdn, url: str) -> Client:
    connection = RedisConnection(url, op_timeout=0.2, connect_timeout=0.2)
    return Client(
        datafile_url=cdn.url,
        update_interval=0.2,
        datafile_store=RedisDatafileStore(connection, name="restart"),
        poll_leader=RedisPollLeader(connection, name="restart", lease_ttl=0.6),
    )


async def test_followers_catch_up_after_redis_restarts(cdn: Cdn, redis_server: RedisServer) -> None:
    cdn.body = sticky_text("1")
    async with (
        grouped_client(cdn, redis_server.url) as a,
        grouped_client(cdn, redis_server.url) as b,
    ):
        assert a.config is not None
        assert b.config is not None
        redis_server.restart()  # subscriptions and the lease are lost, the data too
        waits = [revision_waiter(a, "2"), revision_waiter(b, "2")]
        cdn.body = sticky_text("2")
        await asyncio.wait_for(asyncio.gather(*waits), 60)
        stats = [c.shared_datafile.stats for c in (a, b) if c.shared_datafile is not None]
        assert sum(s.follower_updates for s in stats) >= 1  # one of them followed
