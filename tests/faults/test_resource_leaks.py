"""No task, socket or file descriptor outlives a client: 1,000 start/close cycles.

Each cycle builds a full client against local servers on 127.0.0.1 — datafile
polling (the first fetch), a ``BatchCollector`` (one Analysys record and one
impression), the ODP manager (one event) — enters and leaves ``async with``,
and every item is checked to have arrived. Each client owns its HTTP
transport, so each cycle opens and closes its own aiohttp session and sockets.

Measured: open file descriptors (``/proc/self/fd`` through psutil), the
process's inet sockets, ``asyncio.all_tasks()`` and threads.

* Baseline and final are taken with the servers stopped, so no socket of a
  connection that is still closing on the server side is counted; the baseline
  follows a few warm-up cycles (lazy imports, the default executor's threads,
  the loop's resolver) done the same way.
* Tasks and sockets must come back exactly. File descriptors may differ by
  ``FD_SLACK`` (2): the test cannot control descriptors that other code in the
  process opens or closes lazily on its own schedule (the event loop's
  executor, a garbage-collected file of a previous test); a leak per cycle
  would show as hundreds.
* While the servers run, the count is also sampled every 100 cycles: it must
  stay flat (within ``LIVE_SLACK``, the few server-side sockets of the last
  cycles whose close the server has not processed yet), not grow with cycles.

A second test runs the failure paths the same way (fewer cycles): nothing
listens, so the datafile fetch, every delivery attempt and the ODP event fail
with refused connections, and the collector spools what it could not send to
disk (files written and closed) before the close returns.

``ASYNCEXP_LEAK_CYCLES`` changes the number of cycles (default 1,000; the
failure test runs a fifth of it).
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import psutil
from aiohttp import web

from asyncexp import BatchCollector, Client, RefreshResult
from asyncexp.aio.http import RetryPolicy
from asyncexp.testing import IngestionServer
from tests.aio.odp_server import OdpServer
from tests.datafiles import base_datafile

RecordProperty = Callable[[str, object], None]  # pytest's record_property fixture
CYCLES = int(os.environ.get("ASYNCEXP_LEAK_CYCLES", "1000"))
WARM_UP = 3
SAMPLE_EVERY = 100
FD_SLACK = 2
LIVE_SLACK = 8


@dataclass(frozen=True)
class Snapshot:
    fds: int
    sockets: int
    tasks: int
    threads: int

    def __str__(self) -> str:
        return f"fds={self.fds} sockets={self.sockets} tasks={self.tasks} threads={self.threads}"


def closed_port() -> int:
    """A port on 127.0.0.1 where nothing listens (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def snapshot() -> Snapshot:
    gc.collect()  # an unreachable-but-uncollected object must not pass for a leak
    process = psutil.Process()
    return Snapshot(
        fds=process.num_fds(),
        sockets=len(process.net_connections(kind="inet")),
        tasks=len(asyncio.all_tasks()),
        threads=threading.active_count(),
    )


@dataclass
class Servers:
    ingest: IngestionServer
    odp: OdpServer
    datafile_url: str


@asynccontextmanager
async def servers() -> AsyncIterator[Servers]:
    async with IngestionServer(keep_payloads=False) as ingest, OdpServer() as odp:
        doc = base_datafile()
        doc["integrations"] = [{"key": "odp", "host": odp.url, "publicKey": "pk"}]
        body = json.dumps(doc).encode()

        async def datafile(request: web.Request) -> web.Response:
            return web.Response(body=body, content_type="application/json")

        app = web.Application()
        app.router.add_get("/datafile.json", datafile)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        try:
            url = f"http://127.0.0.1:{runner.addresses[0][1]}/datafile.json"
            yield Servers(ingest, odp, url)
        finally:
            await runner.cleanup()


async def one_cycle(srv: Servers, i: int) -> None:
    collector = BatchCollector(
        srv.ingest.url,
        max_interval=60.0,  # nothing is sent before close: the close drains it
        optimizely_events_url=srv.ingest.events_url,
    )
    client = Client(
        datafile_url=srv.datafile_url,
        collector=collector,
        app_key="shop",
        ready_timeout=10,
        odp_options={"event_flush_interval": 60.0},
    )
    async with client:
        assert client.config is not None, "the first datafile fetch did not arrive"
        client.track(f"user-{i}", "cycle", {"n": i})
        user = client.create_user_context(f"user-{i}", {"age": 30})
        assert user.decide("checkout").rule_key == "checkout_test"  # one impression
        client.send_odp_event("cycle", identifiers={"email": f"user-{i}@example.com"})
    assert client.closed


async def test_no_leak_after_many_client_cycles(record_property: RecordProperty) -> None:
    async with servers() as srv:
        for i in range(WARM_UP):
            await one_cycle(srv, i)
    before = snapshot()

    started = time.perf_counter()
    live: list[tuple[int, Snapshot]] = []
    async with servers() as srv:
        for i in range(CYCLES):
            await one_cycle(srv, i)
            if (i + 1) % SAMPLE_EVERY == 0:
                live.append((i + 1, snapshot()))
        assert srv.ingest.record_count == CYCLES
        assert srv.ingest.event_count == CYCLES
        assert srv.odp.event_count == CYCLES
    elapsed = time.perf_counter() - started
    after = snapshot()

    figures = (
        f"{CYCLES} cycles in {elapsed:.1f}s; before: {before}; after: {after}; "
        f"live fds every {SAMPLE_EVERY} cycles: {[s.fds for _, s in live]}"
    )
    print(figures)
    record_property("leak_figures", figures)

    assert after.tasks == before.tasks, figures
    assert after.sockets == before.sockets, figures
    assert after.fds <= before.fds + FD_SLACK, figures
    if len(live) >= 2:
        first, last = live[0][1], live[-1][1]
        assert last.fds <= first.fds + LIVE_SLACK, figures
        assert last.tasks <= first.tasks + LIVE_SLACK, figures


async def one_failing_cycle(nowhere: str, i: int) -> BatchCollector:
    collector = BatchCollector(
        nowhere,
        max_interval=60.0,
        optimizely_events_url=f"{nowhere}/v1/events",
        retry=RetryPolicy(max_retries=1, base_delay=0.0001, max_delay=0.0001),
    )
    client = Client(
        datafile_url=f"{nowhere}/datafile.json",
        datafile=base_datafile(),  # decisions work; polling fails in the background
        collector=collector,
        app_key="shop",
        ready_timeout=0,
        odp_options={
            "host": nowhere,
            "public_key": "pk",
            "event_flush_interval": 60.0,
            "event_retry_policy": RetryPolicy(max_retries=0),
        },
    )
    async with client:
        assert await client.refresh() is RefreshResult.FAILED  # connection refused
        client.track(f"user-{i}", "cycle", {"n": i})
        client.create_user_context(f"user-{i}", {"age": 30}).decide("checkout")
        client.send_odp_event("cycle", identifiers={"email": f"user-{i}@example.com"})
    return collector


async def warm_default_executor() -> int:
    """Start every thread the loop's default executor will ever have; returns how many.

    ``ThreadPoolExecutor`` starts its threads lazily, one per job submitted while
    none is idle, up to ``max_workers`` (``min(32, cpu_count + 4)``) and keeps
    them. The failure cycles run spool writes and claims in it, several at once
    now and then, so the thread count creeps up to that bound over the first
    cycles: a steady state, not a leak. Holding ``max_workers`` jobs at a barrier
    makes the executor start all of them before the "before" snapshot.
    """
    workers = min(32, (os.cpu_count() or 1) + 4)
    barrier = threading.Barrier(workers)
    loop = asyncio.get_running_loop()
    await asyncio.gather(*(loop.run_in_executor(None, barrier.wait, 10) for _ in range(workers)))
    return workers


async def test_no_leak_when_every_request_fails(record_property: RecordProperty) -> None:
    nowhere = f"http://127.0.0.1:{closed_port()}"
    cycles = max(1, CYCLES // 5)
    for i in range(WARM_UP):
        await one_failing_cycle(nowhere, i)
    await warm_default_executor()
    before = snapshot()
    started = time.perf_counter()
    spooled = 0
    for i in range(cycles):
        collector = await one_failing_cycle(nowhere, i)
        spooled += collector.stats.spooled
    elapsed = time.perf_counter() - started
    after = snapshot()
    figures = f"{cycles} failing cycles in {elapsed:.1f}s; before: {before}; after: {after}"
    print(figures)
    record_property("leak_figures_failing", figures)
    assert spooled == 2 * cycles  # the record and the impression of every cycle
    assert after.tasks == before.tasks, figures
    assert after.sockets == before.sockets, figures
    assert after.fds <= before.fds + FD_SLACK, figures
    assert after.threads == before.threads, figures  # the executor was at its bound already
