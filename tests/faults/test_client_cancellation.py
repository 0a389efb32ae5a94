"""A client's start and close under cancellation, against real local servers (issue 14).

* A second ``aclose`` running while the first one drains waits for it to finish.
* A ``start`` (or ``async with``) that is cancelled while it waits for the first
  datafile, or that fails, closes everything it started before the exception
  propagates: no asyncexp task and no client socket outlives it.
* A cancelled or timed-out ``aclose`` re-raises the cancellation, yet the close
  goes on: the collector drains, the session closes, and a later ``aclose``
  waits for that same close.

Synchronisation: servers report what arrived (``FaultServer.hanging``, an event
set by the datafile handler) and hold their answer until the test lets go; no
test sleeps to wait for something, and none asserts on timing. ``wait_for``'s
timeout below only fires while the server provably holds the request.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit

import psutil
import pytest
from aiohttp import web

from asyncexp import BatchCollector, Client, RunSource
from asyncexp.testing import IngestionServer
from tests.datafiles import base_datafile
from tests.faults.fault_server import FaultServer
from tests.faults.helpers import NoSleep, assert_settled, make_collector

BOUND = 30.0
"""Upper bound for each wait on a server event (a hang means a bug, not slowness)."""


class DatafileServer:
    """Serves the datafile on ``GET /datafile.json``; with ``hold=True`` each request
    waits until :meth:`release`. ``arrived`` is set when a request came in."""

    def __init__(self, *, hold: bool) -> None:
        self.arrived = asyncio.Event()
        self._released = asyncio.Event()
        if not hold:
            self._released.set()
        self._body = json.dumps(base_datafile()).encode()
        self._runner: web.AppRunner | None = None
        self.port = 0

    async def _datafile(self, request: web.Request) -> web.Response:
        self.arrived.set()
        await self._released.wait()
        return web.Response(body=self._body, content_type="application/json")

    def release(self) -> None:
        self._released.set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/datafile.json"

    async def __aenter__(self) -> DatafileServer:
        app = web.Application()
        app.router.add_get("/datafile.json", self._datafile)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.release()
        assert self._runner is not None
        await self._runner.cleanup()


def asyncexp_tasks() -> list[asyncio.Task[Any]]:
    """Live tasks running asyncexp code (the servers' and the test's own are not)."""
    found = []
    for task in asyncio.all_tasks():
        code = getattr(task.get_coro(), "cr_code", None)
        if code is not None and "/asyncexp/" in code.co_filename and not task.done():
            found.append(task)
    return found


def client_sockets(*ports: int) -> list[Any]:
    """This process's open connections to the given server ports (the client's ends)."""
    return [
        conn
        for conn in psutil.Process().net_connections(kind="inet")
        if conn.raddr and conn.raddr.port in ports
    ]


async def settled_transports() -> None:
    """One loop pass: a closed asyncio transport releases its socket in a callback
    scheduled by ``close()`` (ordering, not time)."""
    await asyncio.sleep(0)


def port_of(url: str) -> int:
    port = urlsplit(url).port
    assert port is not None
    return port


def assert_nothing_leaked(*ports: int) -> None:
    assert asyncexp_tasks() == []
    assert client_sockets(*ports) == []


@asynccontextmanager
async def hanging_ingestion() -> AsyncIterator[FaultServer]:
    """An Analysys server that holds every ``/up`` request until its mode changes."""
    async with FaultServer(mode="hang") as server:
        yield server


def collector_for(server: FaultServer) -> BatchCollector:
    return make_collector(server.url, False, NoSleep(), max_interval=3600.0)


def tracked_client(collector: BatchCollector) -> Client:
    return Client(datafile=base_datafile(), collector=collector, app_key="shop")


async def close_started_and_held(client: Client, server: FaultServer) -> asyncio.Task[None]:
    """Track one record, start ``aclose`` and return once its drain is held by the server."""
    client.track("user-1", "tick", {"n": 1})
    closing = asyncio.create_task(client.aclose(timeout=BOUND))
    async with asyncio.timeout(BOUND):
        await server.wait_until(lambda s: s.hanging >= 1)
    assert not closing.done()
    return closing


# -- (a) a second aclose waits for the first ------------------------------------------------


async def test_a_concurrent_second_aclose_waits_for_the_first() -> None:
    async with hanging_ingestion() as server:
        collector = collector_for(server)
        client = tracked_client(collector)
        await client.start()
        first = await close_started_and_held(client, server)

        entered = asyncio.Event()
        seen: dict[str, Any] = {}

        async def second_close() -> None:
            entered.set()
            await client.aclose()
            seen["settled"] = collector.stats.settled
            seen["first_done"] = first.done()

        second = asyncio.create_task(second_close())
        await entered.wait()
        # The second close ran up to its first suspension: it did not return at once.
        assert not second.done()

        server.set_mode("ok")  # the held request is answered; the retry is delivered
        async with asyncio.timeout(BOUND):
            await asyncio.gather(first, second)
        assert seen == {"settled": True, "first_done": True}
        assert collector.stats.delivered == collector.stats.produced == 1
        assert_settled(collector.stats)
        await settled_transports()
        assert_nothing_leaked(server.port)


# -- (b) a failed or cancelled start closes what it started ---------------------------------


@pytest.mark.parametrize("how", ["start", "async_with"])
async def test_b_start_cancelled_while_awaiting_the_first_datafile_closes_everything(
    how: str,
) -> None:
    async with IngestionServer() as ingest, DatafileServer(hold=True) as datafiles:
        collector = BatchCollector(
            ingest.url, max_interval=3600.0, optimizely_events_url=ingest.events_url, spool=False
        )
        client = Client(
            datafile_url=datafiles.url,
            collector=collector,
            app_key="shop",
            ready_timeout=BOUND,
            odp_options={"host": ingest.url, "public_key": "pk"},
        )

        async def enter() -> None:
            if how == "start":
                await client.start()
            else:
                async with client:
                    raise AssertionError("the body must not run")

        starting = asyncio.create_task(enter())
        async with asyncio.timeout(BOUND):
            await datafiles.arrived.wait()
        assert not starting.done()
        starting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await starting

        assert client.closed
        assert collector.closed
        assert_settled(collector.stats)
        await settled_transports()
        assert_nothing_leaked(port_of(ingest.url), datafiles.port)


class _FailingAppConfigSession:
    """An aiobotocore-like session whose client fails to open (after the collector and
    the datafile polling have started)."""

    def create_client(self, service: str, **kwargs: Any) -> Any:
        return self

    async def __aenter__(self) -> Any:
        raise RuntimeError("AppConfig is unreachable")

    async def __aexit__(self, *exc: object) -> None:
        return None


async def test_b_start_that_fails_closes_everything_and_raises() -> None:
    async with IngestionServer() as ingest, DatafileServer(hold=True) as datafiles:
        collector = BatchCollector(ingest.url, max_interval=3600.0, spool=False)
        client = Client(
            datafile_url=datafiles.url,
            collector=collector,
            app_key="shop",
            appconfig_sources=[RunSource("app", "exp", 1)],
            appconfig_options={"session": _FailingAppConfigSession()},
        )
        with pytest.raises(RuntimeError, match="unreachable"):
            await client.start()
        assert client.closed
        assert collector.closed
        assert_settled(collector.stats)
        await settled_transports()
        assert_nothing_leaked(datafiles.port)
        with pytest.raises(Exception, match="closed"):
            await client.start()


# -- (c) a cancelled or timed-out aclose still finishes closing -----------------------------


async def test_c_cancelled_aclose_reraises_and_the_close_still_finishes() -> None:
    async with hanging_ingestion() as server:
        collector = collector_for(server)
        client = tracked_client(collector)
        await client.start()
        closing = await close_started_and_held(client, server)

        closing.cancel()
        with pytest.raises(asyncio.CancelledError):
            await closing
        assert client.closed
        assert not collector.stats.settled  # the drain goes on behind the shield

        server.set_mode("ok")
        async with asyncio.timeout(BOUND):
            await client.aclose()  # waits for that same close
        assert collector.stats.delivered == collector.stats.produced == 1
        assert_settled(collector.stats)
        await settled_transports()
        assert_nothing_leaked(server.port)


async def test_c_timed_out_aclose_raises_timeout_and_the_close_still_finishes() -> None:
    async with hanging_ingestion() as server:
        collector = collector_for(server)
        client = tracked_client(collector)
        await client.start()
        client.track("user-1", "tick", {"n": 1})

        waiting: Callable[[FaultServer], bool] = lambda s: s.hanging >= 1  # noqa: E731
        held = asyncio.create_task(server.wait_until(waiting))
        # The server holds the drain until the test changes its mode, so this timeout
        # fires whatever the machine's speed.
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(client.aclose(timeout=BOUND), 0.05)
        async with asyncio.timeout(BOUND):
            await held
        assert not collector.stats.settled

        server.set_mode("ok")
        async with asyncio.timeout(BOUND):
            await client.aclose()
        assert collector.stats.delivered == collector.stats.produced == 1
        assert_settled(collector.stats)
        await settled_transports()
        assert_nothing_leaked(server.port)
