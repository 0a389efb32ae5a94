"""Retry policy of the HTTP collectors against a real local server."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from asyncexp.aio.collectors import BatchCollector, RealtimeCollector
from asyncexp.aio.http import RetryPolicy
from asyncexp.analytics.api import Analytics
from asyncexp.core.flags.events import EventContext, UserEvent
from asyncexp.testing import IngestionServer, Reply

POLICY = RetryPolicy(max_retries=3, base_delay=0.5, max_delay=30.0)


def collector_for(server: IngestionServer, sleep: Any, **kw: Any) -> BatchCollector:
    kw.setdefault("retry", POLICY)
    return BatchCollector(server.url, batch_size=1, sleep=sleep, jitter=lambda: 0.0, **kw)


async def test_503_then_success_is_retried_without_duplicates(
    server: IngestionServer, no_sleep: Any, make_analytics: Callable[..., Analytics]
) -> None:
    server.script("analysys", Reply(status=503, code=None), Reply(status=503, code=None))
    collector = collector_for(server, no_sleep)
    await collector.start()
    make_analytics(collector).track("u", "ev")
    await collector.flush()
    assert [r.reply.status for r in server.requests] == [503, 503, 200]
    assert len(server.records) == 1
    assert collector.stats.retried == 2
    assert collector.stats.delivered == 1
    assert collector.stats.failed_requests == 2
    assert no_sleep.delays == [0.25, 0.5]  # equal jitter with jitter()=0: ceiling/2
    await collector.aclose()


async def test_400_is_not_retried_and_is_counted(
    server: IngestionServer, no_sleep: Any, make_analytics: Callable[..., Analytics]
) -> None:
    server.script("analysys", Reply(status=400, code=None))
    collector = collector_for(server, no_sleep)
    await collector.start()
    make_analytics(collector).track("u", "ev")
    await collector.flush()
    assert server.request_count == 1
    assert no_sleep.delays == []
    assert collector.stats.dropped == {"rejected": 1}
    assert collector.stats.last_error == "HTTP 400"
    await collector.aclose()


async def test_429_honours_retry_after(
    server: IngestionServer, no_sleep: Any, make_analytics: Callable[..., Analytics]
) -> None:
    server.script("analysys", Reply(status=429, code=None, retry_after="7"))
    collector = collector_for(server, no_sleep)
    await collector.start()
    make_analytics(collector).track("u", "ev")
    await collector.flush()
    assert no_sleep.delays == [7.0]
    assert len(server.records) == 1
    await collector.aclose()


async def test_only_code_200_is_success(
    server: IngestionServer, no_sleep: Any, make_analytics: Callable[..., Analytics]
) -> None:
    # HTTP 200 with {"code":500}: the server may have stored it, so it is not retried in
    # memory but spooled, marked once (MAX_UNCONFIRMED_COPIES); {"code":400} is a refusal.
    server.script("analysys", Reply(code=500), Reply(code=400))
    collector = collector_for(server, no_sleep)
    await collector.start()
    analytics = make_analytics(collector)
    analytics.track("u", "ev")
    await collector.flush()
    assert server.request_count == 1
    assert (collector.stats.spooled, collector.stats.retried) == (1, 0)
    spool = collector.spool
    assert spool is not None
    [path] = spool.pending()
    assert b'"unconfirmed":1' in path.read_bytes().split(b"\n", 1)[0]
    analytics.track("u", "ev2")
    await collector.flush()
    assert server.request_count == 2
    assert collector.stats.dropped == {"rejected": 1}
    await collector.aclose()


async def test_plain_and_garbage_responses(
    server: IngestionServer, no_sleep: Any, make_analytics: Callable[..., Analytics]
) -> None:
    server.plain_responses = True
    server.script("analysys", Reply(body=b"<html>proxy</html>"))
    collector = collector_for(server, no_sleep)
    await collector.start()
    make_analytics(collector).track("u", "ev")
    await collector.flush()
    assert server.request_count == 1  # garbage counts as a failure: spooled, not retried
    assert collector.stats.spooled == 1
    replayer = collector.replayer
    assert replayer is not None
    replayer.pass_done.clear()
    replayer.kick()
    await replayer.pass_done.wait()
    assert server.request_count == 2
    assert collector.stats.replayed == 1  # then plain {"code":200} is accepted
    await collector.aclose()


async def test_retries_exhausted_are_counted(
    server: IngestionServer, no_sleep: Any, make_analytics: Callable[..., Analytics]
) -> None:
    server.set_default("analysys", Reply(status=502, code=None))
    collector = collector_for(server, no_sleep, spool=False)
    await collector.start()
    make_analytics(collector).track("u", "ev")
    await collector.flush()
    assert server.request_count == 1 + POLICY.max_retries
    assert collector.stats.dropped == {"retries_exhausted": 1}
    assert no_sleep.delays == [0.25, 0.5, 1.0]
    await collector.aclose()


async def test_connection_refused_is_retried(no_sleep: Any) -> None:
    async with IngestionServer() as gone:
        url = gone.url
    collector = RealtimeCollector(url, sleep=no_sleep, retry=POLICY, jitter=lambda: 1.0)
    await collector.start()
    collector.submit({"appid": "a", "xwho": "u", "xwhat": "e", "xwhen": 1, "xcontext": {}})
    await collector.flush()
    # three failures in a row switch outage mode on (health.OUTAGE_AFTER): no more
    # in-memory retries; the spool is on by default, so the batch is kept on disk
    assert collector.stats.requests == 3
    assert collector.stats.outages == 1
    assert (collector.stats.spooled, collector.stats.dropped) == (1, {})
    assert no_sleep.delays == [0.5, 1.0]
    assert "Connect" in (collector.stats.last_error or "")
    await collector.aclose()


async def test_request_timeout_on_a_hung_server_is_retried(
    server: IngestionServer, no_sleep: Any, make_analytics: Callable[..., Analytics]
) -> None:
    server.script("analysys", Reply(hang=True))
    collector = collector_for(server, no_sleep, request_timeout=0.05)
    await collector.start()
    make_analytics(collector).track("u", "ev")
    await collector.flush()
    assert collector.stats.retried == 1
    assert "timed out" in (collector.stats.last_error or "")
    assert len(server.records) == 1
    await collector.aclose()


async def test_optimizely_5xx_retried_4xx_not(server: IngestionServer, no_sleep: Any) -> None:
    server.script("optimizely", Reply(status=500, code=None), Reply(status=400, code=None))
    collector = BatchCollector(
        None,
        batch_size=1,
        optimizely_events_url=server.events_url,
        sleep=no_sleep,
        retry=POLICY,
        jitter=lambda: 0.0,
    )
    await collector.start()
    ctx = EventContext("a", "p", "1")
    collector.submit(
        UserEvent(
            ctx, {"visitor_id": "u", "snapshots": [], "attributes": []}, "conversion", "id", 1
        )
    )
    await collector.flush()
    assert [r.reply.status for r in server.requests] == [500, 400]
    assert collector.stats.dropped == {"rejected": 1}
    await collector.aclose()
