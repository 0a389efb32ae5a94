"""Queue-full policy, flush and close semantics, crash surfacing."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import pytest

from asyncexp.aio.collectors import BatchCollector, RealtimeCollector
from asyncexp.aio.http import HttpTransport
from asyncexp.analytics.api import Analytics
from asyncexp.errors import ClientClosedError, DeliveryError
from asyncexp.testing import IngestionServer, Reply


async def test_queue_full_overflows_to_the_spool_and_drops_nothing(
    server: IngestionServer, make_analytics: Callable[..., Analytics], tmp_path: Any
) -> None:
    collector = BatchCollector(
        server.url, batch_size=100, max_request_size=2, max_queue_size=3, spool=tmp_path
    )
    analytics = make_analytics(collector)
    for i in range(9):  # never yields: 3 queued, then chunks of 2 written to the spool
        analytics.track("u", f"e{i}")
    stats = collector.stats
    assert stats.overflowed == 6
    # written by the spool's writer thread (or here, past its depth); counted on the loop
    assert stats.spooled + stats.in_flight == 6
    await collector.start()
    await collector.flush()
    assert (stats.spooled, stats.in_flight) == (6, 0)
    replayer = collector.replayer
    assert replayer is not None
    await server.wait_until(lambda s: s.record_count == 9)
    await collector.aclose()
    assert collector.stats.dropped == {}
    assert sorted(r["xwhat"] for r in server.records) == [f"e{i}" for i in range(9)]


async def test_queue_full_without_spool_drops_new_records_counts_and_logs_per_interval(
    server: IngestionServer,
    make_analytics: Callable[..., Analytics],
    manual_time: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    collector = BatchCollector(
        server.url,
        spool=False,
        batch_size=100,
        max_queue_size=3,
        clock=manual_time.clock,
        wait=manual_time.wait,
        log_interval=10.0,
    )
    analytics = make_analytics(collector)
    with caplog.at_level(logging.WARNING, logger="asyncexp.aio.collectors"):
        for i in range(6):
            analytics.track("u", f"e{i}")
        manual_time.advance(10.0)
        analytics.track("u", "late")
    # produced counts every submit, so produced == delivered + spooled + dropped holds
    assert collector.stats.produced == 7
    assert collector.stats.queued == 3
    assert collector.stats.dropped == {"queue_full": 4}
    assert [r.getMessage() for r in caplog.records] == [
        "BatchCollector dropped 1 item(s) since start (queue_full=1); 1 in all",
        "BatchCollector dropped 3 item(s) since the last report 10s ago (queue_full=3); 4 in all",
    ]
    await collector.flush()
    assert [r["xwhat"] for r in server.records] == ["e0", "e1", "e2"]
    await collector.aclose()


async def test_flush_returns_only_after_acknowledgement(
    server: IngestionServer, make_analytics: Callable[..., Analytics]
) -> None:
    server.script("analysys", Reply(hang=True))
    collector = BatchCollector(server.url, batch_size=100, request_timeout=None)
    await collector.start()
    make_analytics(collector).track("u", "ev")
    flushing = asyncio.create_task(collector.flush())
    await server.wait_until(lambda s: s.request_count == 1)
    assert not flushing.done()
    assert collector.stats.in_flight == 1
    server.release()
    await flushing
    assert collector.stats.delivered == 1  # hung replies are not recorded by the server
    await collector.aclose()


async def test_close_drains_stops_intake_and_is_idempotent(
    server: IngestionServer, make_analytics: Callable[..., Analytics]
) -> None:
    transport = HttpTransport()
    collector = BatchCollector(server.url, batch_size=1000, max_interval=3600)
    await collector.start(transport)
    analytics = make_analytics(collector)
    for i in range(250):
        analytics.track("u", f"e{i}")
    await collector.aclose(timeout=30)
    assert len(server.records) == 250
    # request-sized chunks, sent concurrently (arrival order is not a promise)
    assert sorted(len(r.payload) for r in server.requests) == [50, 100, 100]
    with pytest.raises(ClientClosedError):
        analytics.track("u", "after")
    with pytest.raises(ClientClosedError):
        await collector.flush()
    await collector.aclose()  # a second close is a no-op
    assert collector.stats.produced == 250
    assert not transport.closed  # a transport passed in belongs to the caller
    await transport.aclose()


async def test_concurrent_closes_share_one_drain(server: IngestionServer) -> None:
    collector = RealtimeCollector(server.url)
    collector.submit({"appid": "a", "xwho": "u", "xwhat": "e", "xwhen": 1, "xcontext": {}})
    await asyncio.gather(collector.aclose(), collector.aclose())
    assert len(server.records) == 1  # close of a never-started collector still drains


async def test_close_deadline_counts_what_is_left(
    server: IngestionServer, make_analytics: Callable[..., Analytics]
) -> None:
    server.set_default("analysys", Reply(hang=True))
    collector = BatchCollector(
        server.url, batch_size=2, max_concurrency=1, request_timeout=None, spool=False
    )
    await collector.start()
    analytics = make_analytics(collector)
    for i in range(5):
        analytics.track("u", f"e{i}")
    await server.wait_until(lambda s: s.request_count == 1)
    await collector.aclose(timeout=0)
    assert collector.stats.dropped == {"shutdown_timeout": 5}
    assert collector.stats.queued == 0
    assert collector.stats.in_flight == 0
    assert collector.stats.settled


async def test_owned_transport_is_closed(server: IngestionServer) -> None:
    collector = RealtimeCollector(server.url)
    await collector.start()
    transport = collector._transport
    assert transport is not None
    await collector.aclose()
    assert transport.closed


async def test_a_crashing_dispatcher_is_restarted_and_counted(
    server: IngestionServer,
    make_analytics: Callable[..., Analytics],
    caplog: pytest.LogCaptureFixture,
) -> None:
    collector = BatchCollector(server.url, batch_size=1)
    await collector.start()  # the sender's task has not run yet: patch its dispatch
    assert collector._sender is not None
    real = collector._sender._dispatch
    calls = {"n": 0}

    def flaky(now: float) -> float | None:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("boom")
        return real(now)

    collector._sender._dispatch = flaky  # type: ignore[method-assign]
    with caplog.at_level(logging.ERROR, logger="asyncexp.aio.collectors"):
        make_analytics(collector).track("u", "ev")
        await collector.flush()
    assert collector.stats.crashes == 1
    assert collector.stats.last_error == "RuntimeError: boom"
    assert "sender task crashed" in caplog.text
    assert len(server.records) == 1
    await collector.aclose()


async def test_a_dispatcher_that_keeps_crashing_is_surfaced(
    server: IngestionServer, make_analytics: Callable[..., Analytics]
) -> None:
    collector = BatchCollector(server.url, batch_size=1)

    def broken(now: float) -> float | None:
        raise RuntimeError("always")

    analytics = make_analytics(collector)
    analytics.track("u", "ev")
    await collector.start()
    assert collector._sender is not None
    collector._sender._dispatch = broken  # type: ignore[method-assign]
    with pytest.raises(DeliveryError, match="sender failed"):
        await collector.flush()
    analytics.track("u", "after_failure")  # never raises on the caller's path, is counted
    assert collector.stats.dropped == {"collector_failed": 2}
    assert collector.stats.crashes == 6
    with pytest.raises(DeliveryError):
        await collector.aclose()
    await collector.aclose()  # the second close is a no-op: the first one reported the error
