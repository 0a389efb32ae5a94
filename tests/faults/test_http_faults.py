"""BatchCollector against a real local server that fails in every way a network can.

Each fault is injected by switching :class:`~tests.faults.fault_server.FaultServer`
at run time (see its docstring for what each mode does on the wire). For every
fault the suite proves three outcomes:

* the server recovers while a batch waits to retry: everything is delivered,
  nothing spooled, nothing dropped;
* it never recovers: every item is spooled (retryable failures never drop),
  and a later collector sharing the spool delivers all of it;
* it never recovers and there is no spool: every item is counted as
  ``retries_exhausted``.

And always: after close ``stats.settled`` (produced == delivered + spooled +
dropped) and the server received no record that was not produced. The server
de-duplicates on the ``n`` property each test puts in its events.

Synchronisation is by events only: :class:`~tests.faults.helpers.GateSleep`
parks retries until the test heals the server, ``flush``, the replayer's
``pass_done`` and ``FaultServer.wait_until``. Every test runs under an
``asyncio.timeout`` so a regression fails instead of hanging the suite.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import trustme
from aiohttp.resolver import DefaultResolver, ThreadedResolver

from asyncexp.aio.collectors import BatchCollector
from asyncexp.aio.collectors.health import OUTAGE_AFTER
from asyncexp.aio.collectors.spool import SpoolStore
from asyncexp.aio.collectors.wire import encode_analysys
from asyncexp.analytics.api import Analytics
from tests.faults.fault_server import FaultServer
from tests.faults.helpers import (
    FAST_RETRY,
    GateSleep,
    NoSleep,
    assert_nothing_lost,
    assert_settled,
    make_collector,
    pending_files,
    replay_all,
    track_numbered,
)

N = 40  # events per test: 4 requests of 10
UNCONFIRMED_FAULTS = ("code500", "garbage")  # HTTP 200 without {"code":200}
BATCHES = 4
ATTEMPTS = 1 + FAST_RETRY.max_retries
TIMEOUT = 30.0  # per test; generous for a slow 2-core CI machine
HANG_TIMEOUT = 0.3  # the client's request_timeout where the server hangs

FAULTS = (
    "down",
    "500",
    "503",
    "code500",
    "429",
    "hang",
    "reset_request",
    "reset_response",
    "garbage",
    "oversized",
    "oversized_chunked",
)

AnalyticsFor = Callable[[Any], Analytics]


async def inject(server: FaultServer, fault: str) -> None:
    if fault == "down":
        await server.down()
    else:
        server.set_mode(fault)  # type: ignore[arg-type]


async def heal(server: FaultServer) -> None:
    server.set_mode("ok")
    await server.up()


def collector_for(server_url: str, spool: Any, sleep: Any, fault: str, **kw: Any) -> BatchCollector:
    # a hanging server is only escaped by the request timeout
    kw.setdefault("request_timeout", HANG_TIMEOUT if fault == "hang" else 5.0)
    kw.setdefault("max_request_size", 10)
    return make_collector(server_url, spool, sleep, **kw)


def assert_no_invented_records(server: FaultServer, produced: int) -> None:
    assert server.bad_records == 0
    assert set(server.received) <= set(range(produced))


@pytest.mark.parametrize("fault", FAULTS)
async def test_recovery_while_a_retry_waits_delivers_everything(
    fault: str, fault_server: FaultServer, tmp_path: Path, analytics_for: AnalyticsFor
) -> None:
    """The server fails, the client notices and waits to retry, the server heals:
    every event is delivered exactly as produced, nothing spooled or dropped."""
    if fault in UNCONFIRMED_FAULTS:
        pytest.skip("a 2xx without success is not retried in memory: see test_copy_bound.py")
    spool = tmp_path / "spool"
    gate = GateSleep()
    async with asyncio.timeout(TIMEOUT):
        await inject(fault_server, fault)
        collector = collector_for(fault_server.url, spool, gate, fault)
        await collector.start()
        track_numbered(analytics_for(collector), 0, N)
        await gate.parked.wait()  # a request failed; its retry is parked
        await heal(fault_server)
        gate.open()
        await collector.flush()
        await collector.aclose()

    stats = collector.stats
    assert_nothing_lost(stats)
    assert (stats.delivered, stats.spooled) == (N, 0)
    assert stats.retried >= 1
    assert stats.failed_requests >= 1
    assert set(fault_server.acked) == set(range(N))
    assert_no_invented_records(fault_server, N)
    assert pending_files(spool) == 0
    if fault == "429":  # Retry-After: 1 lifts the 2.5 ms backoff to one second
        assert gate.delays
        assert all(delay == 1.0 for delay in gate.delays)


@pytest.mark.parametrize("fault", FAULTS)
async def test_a_fault_that_never_heals_spools_everything_for_the_next_run(
    fault: str, fault_server: FaultServer, tmp_path: Path, analytics_for: AnalyticsFor
) -> None:
    """Retries run out on every batch: each is spooled whole (none dropped), one
    file per request; a fresh collector on the same spool delivers them all once
    the server is back."""
    spool = tmp_path / "spool"
    async with asyncio.timeout(TIMEOUT):
        await inject(fault_server, fault)
        first = collector_for(fault_server.url, spool, NoSleep(), fault)
        await first.start()
        track_numbered(analytics_for(first), 0, N)
        await first.flush()
        await first.aclose()

        stats = first.stats
        assert_nothing_lost(stats)
        assert (stats.delivered, stats.spooled) == (0, N)
        # outage mode after OUTAGE_AFTER failures in a row: no more in-memory retries,
        # only probes; a probe still in flight when the close stopped the re-sender is
        # the one request that may have no outcome
        assert OUTAGE_AFTER <= stats.failed_requests <= stats.requests
        assert stats.requests <= stats.failed_requests + 1
        assert stats.outages == 1
        # a 2xx without success spools a batch as its first copy; an outage probe
        # that re-sends such a file makes the second copy and removes it (the bound)
        burnt = stats.replay_dropped_by.get("unconfirmed", 0)
        assert fault in UNCONFIRMED_FAULTS or burnt == 0
        assert burnt % (N // BATCHES) == 0
        assert pending_files(spool) == BATCHES - burnt // (N // BATCHES)
        assert not fault_server.acked

        await heal(fault_server)
        second = collector_for(fault_server.url, spool, NoSleep(), fault)
        await second.start()
        assert second.replayer is not None
        await second.replayer.pass_done.wait()  # the start-up pass re-sends the spool
        await second.aclose()

    assert second.stats.replayed == N - burnt
    assert second.stats.replay_dropped == 0
    assert_settled(second.stats)
    assert pending_files(spool) == 0
    assert len(fault_server.acked) == N - burnt
    assert_no_invented_records(fault_server, N)


@pytest.mark.parametrize("fault", FAULTS)
async def test_without_a_spool_exhausted_retries_are_counted_as_dropped(
    fault: str, fault_server: FaultServer, analytics_for: AnalyticsFor
) -> None:
    """``spool=False``: a fault that outlasts the retries drops each batch under
    ``retries_exhausted``, and the counters still add up."""
    async with asyncio.timeout(TIMEOUT):
        await inject(fault_server, fault)
        collector = collector_for(fault_server.url, False, NoSleep(), fault)
        await collector.start()
        track_numbered(analytics_for(collector), 0, N)
        await collector.flush()
        await collector.aclose()
    stats = collector.stats
    assert_settled(stats)
    assert stats.dropped == {"retries_exhausted": N}
    assert (stats.delivered, stats.spooled) == (0, 0)
    assert stats.requests == stats.failed_requests == BATCHES * ATTEMPTS
    assert_no_invented_records(fault_server, N)


async def test_a_slow_drip_response_is_delivered_without_retries(
    fault_server: FaultServer, tmp_path: Path, analytics_for: AnalyticsFor
) -> None:
    """A success body sent one byte at a time, within the request timeout, is just
    slow: delivered on the first attempt."""
    fault_server.set_mode("drip")
    async with asyncio.timeout(TIMEOUT):
        collector = collector_for(fault_server.url, tmp_path / "spool", NoSleep(), "drip")
        await collector.start()
        track_numbered(analytics_for(collector), 0, N)
        await collector.flush()
        await collector.aclose()
    stats = collector.stats
    assert_nothing_lost(stats)
    assert (stats.delivered, stats.retried, stats.failed_requests) == (N, 0, 0)
    assert set(fault_server.acked) == set(range(N))


async def test_server_down_mid_run_then_back_on_the_same_port(
    fault_server: FaultServer, tmp_path: Path, analytics_for: AnalyticsFor
) -> None:
    """Pooled keep-alive connections die with the server; the client reconnects to
    the restarted listener and delivers what was produced during the outage."""
    gate = GateSleep()
    port = fault_server.port
    async with asyncio.timeout(TIMEOUT):
        collector = collector_for(fault_server.url, tmp_path / "spool", gate, "down")
        await collector.start()
        analytics = analytics_for(collector)
        track_numbered(analytics, 0, N)
        await collector.flush()  # delivered over a connection now in the pool
        assert collector.stats.delivered == N

        await fault_server.down()
        track_numbered(analytics, N, N)
        await gate.parked.wait()
        await fault_server.up()
        assert fault_server.port == port
        gate.open()
        await collector.flush()
        await collector.aclose()
    assert_nothing_lost(collector.stats)
    assert collector.stats.delivered == 2 * N
    assert set(fault_server.acked) == set(range(2 * N))


async def test_a_storm_mid_run_is_spooled_then_replayed_by_the_same_collector(
    fault_server: FaultServer, tmp_path: Path, analytics_for: AnalyticsFor
) -> None:
    """Batches that outlast a 503 storm go to disk; once the storm passes the
    collector's own replayer re-sends them while new events keep flowing."""
    spool = tmp_path / "spool"
    async with asyncio.timeout(TIMEOUT):
        collector = collector_for(fault_server.url, spool, NoSleep(), "503")
        await collector.start()
        analytics = analytics_for(collector)
        track_numbered(analytics, 0, N)
        await collector.flush()
        fault_server.set_mode("503")
        track_numbered(analytics, N, N)
        await collector.flush()
        assert collector.stats.spooled == N
        fault_server.set_mode("ok")
        await replay_all(collector)
        track_numbered(analytics, 2 * N, N)
        await collector.flush()
        await collector.aclose()
    stats = collector.stats
    assert_nothing_lost(stats)
    assert (stats.delivered, stats.spooled, stats.replayed) == (2 * N, N, N)
    assert pending_files(spool) == 0
    assert set(fault_server.acked) == set(range(3 * N))


class CountingSleep:
    """A real (short) ``asyncio.sleep`` that signals every call: one call per retry."""

    def __init__(self) -> None:
        self.calls = 0
        self._called = asyncio.Event()

    async def __call__(self, seconds: float) -> None:
        self.calls += 1
        self._called.set()
        await asyncio.sleep(seconds)

    async def wait_calls(self, count: int) -> None:
        while self.calls < count:
            self._called.clear()
            await self._called.wait()


def acked_more_than(count: int) -> Callable[[FaultServer], bool]:
    return lambda server: len(server.acked) > count


def answered_at_least(mode: str, count: int) -> Callable[[FaultServer], bool]:
    return lambda server: server.answered[mode] >= count


async def test_a_flapping_server_loses_nothing(
    fault_server: FaultServer, tmp_path: Path, analytics_for: AnalyticsFor
) -> None:
    """Events flow continuously while the server goes through every kind of fault,
    each held until the client has hit it a few times; at the end everything
    produced is acknowledged exactly once or more (never missing), via direct
    delivery or the spool."""
    spool = tmp_path / "spool"
    fault_server.retry_after = "0"
    sleep = CountingSleep()
    stop = asyncio.Event()
    produced = 0

    async def produce(analytics: Analytics) -> None:
        nonlocal produced
        while not stop.is_set():
            track_numbered(analytics, produced, 10)
            produced += 10
            await asyncio.sleep(0.005)  # pacing the load, not synchronisation

    async with asyncio.timeout(TIMEOUT):
        collector = collector_for(
            fault_server.url,
            spool,
            sleep,
            "flap",
            request_timeout=HANG_TIMEOUT,
            max_queue_size=100_000,
        )
        await collector.start()
        producer = asyncio.create_task(produce(analytics_for(collector)))
        for fault in ("503", "hang", "reset_request", "ok", "down", "429", "garbage", "ok"):
            await inject(fault_server, fault)
            if fault == "ok":
                await fault_server.up()
                await fault_server.wait_until(acked_more_than(len(fault_server.acked)))
            elif fault == "down":
                failed = collector.stats.failed_requests
                replayer = collector.replayer
                assert replayer is not None
                while collector.stats.failed_requests < failed + 3:  # three refused attempts
                    replayer.pass_done.clear()
                    await replayer.pass_done.wait()  # each probe pass ends on a refusal
                await fault_server.up()
            else:
                target = fault_server.answered[fault] + 3  # three requests hit the fault
                await fault_server.wait_until(answered_at_least(fault, target))
        stop.set()
        await producer
        await heal(fault_server)
        await collector.flush()
        await replay_all(collector)
        await collector.aclose()

    stats = collector.stats
    assert stats.produced == produced
    assert_nothing_lost(stats)
    # a chunk answered 2xx-garbage twice is given up as unconfirmed (the copy bound);
    # the server did receive it, twice
    unconfirmed = stats.replay_dropped_by.get("unconfirmed", 0)
    assert stats.replayed + unconfirmed == stats.spooled
    assert pending_files(spool) == 0
    assert set(fault_server.received) == set(range(produced))
    assert len(set(fault_server.acked)) >= produced - unconfirmed
    assert_no_invented_records(fault_server, produced)


async def test_the_close_deadline_spools_requests_hanging_without_a_timeout(
    fault_server: FaultServer, tmp_path: Path, analytics_for: AnalyticsFor
) -> None:
    """With no request timeout a hanging server holds the requests until the close
    deadline; what is in flight or queued then goes to the spool, in order."""
    spool = tmp_path / "spool"
    fault_server.set_mode("hang")
    async with asyncio.timeout(TIMEOUT):
        collector = collector_for(fault_server.url, spool, NoSleep(), "hang", request_timeout=None)
        await collector.start()
        track_numbered(analytics_for(collector), 0, N)
        await fault_server.wait_until(lambda s: s.hanging == 2)  # max_concurrency requests
        await collector.aclose(timeout=0.2)
        stats = collector.stats
        assert_nothing_lost(stats)
        assert stats.spooled == N
        assert stats.delivered == 0

        fault_server.set_mode("ok")
        second = collector_for(fault_server.url, spool, NoSleep(), "ok")
        await second.start()
        assert second.replayer is not None
        await second.replayer.pass_done.wait()
        await second.aclose()
    assert second.stats.replayed == N
    assert set(fault_server.acked) == set(range(N))


async def test_queue_overflow_during_an_outage_goes_to_the_spool_and_all_arrive(
    fault_server: FaultServer, tmp_path: Path, analytics_for: AnalyticsFor
) -> None:
    """A burst bigger than the queue while the server hangs: the excess overflows
    to the spool at once (request-sized files), what was queued or in flight is
    spooled at close, and every event arrives later."""
    spool = tmp_path / "spool"
    fault_server.set_mode("hang")
    async with asyncio.timeout(TIMEOUT):
        collector = collector_for(
            fault_server.url,
            spool,
            NoSleep(),
            "hang",
            request_timeout=None,
            max_queue_size=20,
            max_concurrency=1,
        )
        await collector.start()
        track_numbered(analytics_for(collector), 0, 50)  # all before the sender runs
        await fault_server.wait_until(lambda s: s.hanging == 1)
        await collector.aclose(timeout=0.2)
        stats = collector.stats
        assert_nothing_lost(stats)
        assert stats.overflowed == 30
        assert (stats.spooled, stats.delivered) == (50, 0)

        fault_server.set_mode("ok")
        second = collector_for(fault_server.url, spool, NoSleep(), "ok")
        await second.start()
        assert second.replayer is not None
        await second.replayer.pass_done.wait()
        await second.aclose()
    assert set(fault_server.acked) == set(range(50))


async def test_a_full_spool_drops_and_counts_what_does_not_fit(
    fault_server: FaultServer, tmp_path: Path, analytics_for: AnalyticsFor
) -> None:
    """A long outage fills the spool's byte cap: further batches are dropped as
    ``spool_full``; the counters still add up and what fit is delivered later."""
    spool = tmp_path / "spool"
    await fault_server.down()
    async with asyncio.timeout(TIMEOUT):
        store = SpoolStore(spool, max_bytes=1500)  # room for a couple of 10-record files
        # two senders spool at once: the cap must hold for both (test_spool_races.py)
        collector = collector_for(fault_server.url, store, NoSleep(), "down")
        await collector.start()
        track_numbered(analytics_for(collector), 0, N)
        await collector.flush()
        await collector.aclose()
        stats = collector.stats
        assert_settled(stats)
        assert stats.spooled > 0
        assert stats.dropped == {"spool_full": N - stats.spooled}
        assert store.bytes_used() <= 1500

        await fault_server.up()
        second = collector_for(fault_server.url, store, NoSleep(), "ok")
        await second.start()
        assert second.replayer is not None
        await second.replayer.pass_done.wait()
        await second.aclose()
    assert second.stats.replayed == stats.spooled
    assert len(fault_server.acked) == stats.spooled


async def test_a_self_signed_certificate_is_refused_and_counted(
    tmp_path: Path, analytics_for: AnalyticsFor
) -> None:
    """Certificate verification is on by default: against an HTTPS server whose
    certificate no trusted CA signed, every attempt fails the handshake, is
    counted as a failed request and the events are spooled; nothing reaches the
    server and nothing crashes. A client that trusts the CA is served (control)."""
    ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(server_ctx)
    spool = tmp_path / "spool"
    async with asyncio.timeout(TIMEOUT), FaultServer(ssl_context=server_ctx) as server:
        collector = collector_for(server.url, spool, NoSleep(), "tls")
        await collector.start()
        track_numbered(analytics_for(collector), 0, N)
        await collector.flush()
        await collector.aclose()

        stats = collector.stats
        assert_nothing_lost(stats)
        assert stats.spooled == N
        # every attempt that finished failed; outage mode after OUTAGE_AFTER of them,
        # and an outage probe still in its handshake when the close stopped it is
        # the one request that may have no outcome
        assert OUTAGE_AFTER <= stats.failed_requests <= stats.requests
        assert stats.requests <= stats.failed_requests + 1
        assert stats.outages == 1
        assert stats.crashes == 0
        assert "CERTIFICATE_VERIFY_FAILED" in (stats.last_error or "")
        assert server.requests == 0

        # control: the same server answers a client that trusts the test CA
        client_ctx = ssl.create_default_context()
        ca.configure_trust(client_ctx)
        body = encode_analysys([{"xcontext": {"n": 0}}], "gzip")
        async with (
            aiohttp.ClientSession() as session,
            session.post(server.url + "/up", data=body, ssl=client_ctx) as resp,
        ):
            assert resp.status == 200
        assert set(server.acked) == {0}


async def test_a_dns_failure_is_counted_and_spooled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, analytics_for: AnalyticsFor
) -> None:
    """A host name that does not resolve fails each attempt (retryable), and the
    events are spooled.

    No DNS traffic: the name is under the reserved ``.invalid`` TLD, but glibc
    does not special-case it (with ``hosts: files dns`` it would ask the
    configured nameserver), so ``socket.getaddrinfo`` is patched to fail for
    ``.invalid`` names. aiohttp's default ThreadedResolver goes through
    ``loop.getaddrinfo`` → ``socket.getaddrinfo``, so the patch is on the path;
    the test refuses to run with another resolver (aiodns would bypass it).
    """
    if DefaultResolver is not ThreadedResolver:
        pytest.skip("aiohttp resolves without socket.getaddrinfo here; would send DNS traffic")
    looked_up: list[str] = []
    real_getaddrinfo = socket.getaddrinfo

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else str(host)
        if name.rstrip(".").endswith(".invalid"):
            looked_up.append(name)
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    spool = tmp_path / "spool"
    async with asyncio.timeout(TIMEOUT):
        collector = collector_for(
            "http://ingest.asyncexp-faults.invalid:4089", spool, NoSleep(), "dns"
        )
        await collector.start()
        track_numbered(analytics_for(collector), 0, N)
        await collector.flush()
        await collector.aclose()
    stats = collector.stats
    assert_nothing_lost(stats)
    assert stats.spooled == N
    # outage mode after OUTAGE_AFTER failures; a probe cut off by the close may
    # be the one request without an outcome
    assert OUTAGE_AFTER <= stats.failed_requests <= stats.requests
    assert stats.requests <= stats.failed_requests + 1
    assert stats.outages == 1
    assert "ingest.asyncexp-faults.invalid" in (stats.last_error or "")
    assert looked_up  # the failure came from the patched resolver path
    assert set(looked_up) == {"ingest.asyncexp-faults.invalid"}
    assert pending_files(spool) == BATCHES
