"""BatchCollector and RealtimeCollector against a real local server: formats and batching."""

from __future__ import annotations

import base64
import gzip
from collections.abc import Callable
from typing import Any

import orjson
import pytest

from asyncexp.aio.collectors import BatchCollector, RealtimeCollector
from asyncexp.analytics.api import Analytics
from asyncexp.core.flags.events import EventContext, UserEvent, build_event_batch
from asyncexp.errors import ArgumentTypeError, ConfigError
from asyncexp.testing import IngestionServer


def user_event(n: int, revision: str = "7", project: str = "p1") -> UserEvent:
    ctx = EventContext(account_id="a1", project_id=project, revision=revision)
    visitor = {"snapshots": [{"events": [{"key": f"e{n}"}]}], "attributes": [], "visitor_id": "u"}
    return UserEvent(ctx, visitor, "conversion", f"uuid-{n}", 1_700_000_000_000 + n)


async def test_gzip_base64_body_decodes_to_the_records(
    server: IngestionServer, make_analytics: Callable[..., Analytics]
) -> None:
    collector = BatchCollector(server.url, batch_size=2)
    await collector.start()
    analytics = make_analytics(collector)
    analytics.track("u1", "SearchCommodity", {"name": "跑步机", "price": 5000})
    analytics.profile_set("u1", {"vip": True})
    await collector.flush()
    assert len(server.requests) == 1
    req = server.requests[0]
    assert req.path == "/up"
    assert req.encoding == "gzip+base64"
    decoded = orjson.loads(gzip.decompress(base64.b64decode(req.raw)))
    assert [r["xwhat"] for r in decoded] == ["SearchCommodity", "$profile_set"]
    assert decoded[0]["xcontext"]["name"] == "跑步机"
    assert "跑步机".encode() in gzip.decompress(base64.b64decode(req.raw))  # UTF-8, not \\u escapes
    assert collector.stats.delivered == 2
    await collector.aclose()


async def test_plain_json_option_and_up_suffix_not_doubled(
    server: IngestionServer, make_analytics: Callable[..., Analytics]
) -> None:
    collector = RealtimeCollector(server.url + "/up/", encoding="json")
    await collector.start()
    make_analytics(collector).track("u1", "ev")
    await collector.flush()
    req = server.requests[0]
    assert req.path == "/up"
    assert req.encoding == "json"
    assert req.headers["Content-Type"] == "application/json"
    assert orjson.loads(req.raw)[0]["xwhat"] == "ev"
    await collector.aclose()


async def test_realtime_sends_each_record_alone(
    server: IngestionServer, make_analytics: Callable[..., Analytics]
) -> None:
    collector = RealtimeCollector(server.url, max_concurrency=3)
    await collector.start()
    analytics = make_analytics(collector)
    for i in range(7):
        analytics.track(f"u{i}", "ev")
    await server.wait_until(lambda s: len(s.records) == 7)
    assert [len(r.payload) for r in server.requests] == [1] * 7
    await collector.aclose()
    assert collector.stats.delivered == 7


async def test_batch_size_threshold_and_max_request_size(
    server: IngestionServer, make_analytics: Callable[..., Analytics]
) -> None:
    collector = BatchCollector(server.url, batch_size=5, max_request_size=5, max_interval=3600)
    await collector.start()
    analytics = make_analytics(collector)
    for i in range(4):
        analytics.track(f"u{i}", "ev")
    analytics.track("u4", "ev")  # the 5th record reaches batch_size
    await server.wait_until(lambda s: len(s.records) == 5)
    for i in range(12):
        analytics.track(f"v{i}", "ev")
    await collector.flush()
    sizes = [len(r.payload) for r in server.requests]
    assert sizes[0] == 5
    assert max(sizes) <= 5
    assert sum(sizes) == 17
    await collector.aclose()


async def test_interval_flush_uses_the_injected_clock(
    server: IngestionServer, make_analytics: Callable[..., Analytics], manual_time: Any
) -> None:
    collector = BatchCollector(
        server.url, batch_size=100, max_interval=15, clock=manual_time.clock, wait=manual_time.wait
    )
    await collector.start()
    assert await manual_time.sleeping() is None  # idle: nothing queued, no deadline
    analytics = make_analytics(collector)
    analytics.track("u", "a")
    analytics.track("u", "b")
    assert await manual_time.sleeping() == 15.0
    manual_time.advance(14.5)
    assert await manual_time.sleeping() == pytest.approx(0.5)
    assert server.request_count == 0
    manual_time.advance(0.5)
    await server.wait_until(lambda s: len(s.records) == 2)
    assert [r["xwhat"] for r in server.records] == ["a", "b"]
    await collector.aclose()


async def test_a_batch_larger_than_a_request_goes_out_in_request_sized_parts_in_order(
    server: IngestionServer, make_analytics: Callable[..., Analytics], manual_time: Any
) -> None:
    collector = BatchCollector(
        server.url,
        batch_size=12,
        max_request_size=5,
        max_interval=3600,
        clock=manual_time.clock,
        wait=manual_time.wait,
    )
    await collector.start()
    assert await manual_time.sleeping() is None  # idle
    analytics = make_analytics(collector)
    for i in range(11):
        analytics.track(f"u{i}", "ev")
    assert await manual_time.sleeping() == 3600.0  # 11 < batch_size: nothing due yet
    assert server.request_count == 0
    analytics.track("u11", "ev")
    await server.wait_until(lambda s: len(s.records) == 12)
    assert sorted(len(r.payload) for r in server.requests) == [2, 5, 5]
    assert sorted(r["xwho"] for r in server.records) == sorted(f"u{i}" for i in range(12))
    assert collector.stats.queued == 0  # nothing was left for the interval
    await collector.flush()  # only waits for the responses
    assert collector.stats.delivered == 12
    await collector.aclose()


async def test_the_interval_runs_from_each_request_parts_oldest_record(
    server: IngestionServer, make_analytics: Callable[..., Analytics], manual_time: Any
) -> None:
    collector = BatchCollector(
        server.url,
        batch_size=100,
        max_request_size=5,
        max_interval=15,
        clock=manual_time.clock,
        wait=manual_time.wait,
    )
    await collector.start()
    assert await manual_time.sleeping() is None  # idle
    analytics = make_analytics(collector)
    analytics.track("first", "ev")  # queued at t=0
    assert await manual_time.sleeping() == 15.0
    manual_time.advance(10)
    assert await manual_time.sleeping() == pytest.approx(5.0)
    for i in range(6):  # at t=10: fill the first request (4 more), open a second one
        analytics.track(f"later{i}", "ev")
    manual_time.advance(5)  # t=15: only the part that holds "first" is due
    await server.wait_until(lambda s: len(s.records) == 5)
    assert [r["xwho"] for r in server.records] == ["first"] + [f"later{i}" for i in range(4)]
    # the rest was queued at t=10, so it is due at t=25
    assert await manual_time.sleeping(finite=True) == pytest.approx(10.0)
    manual_time.advance(10)
    await server.wait_until(lambda s: len(s.records) == 7)
    assert [r["xwho"] for r in server.records[5:]] == ["later4", "later5"]
    await collector.aclose()


async def test_alias_is_sent_at_once_with_what_preceded_it(
    server: IngestionServer, make_analytics: Callable[..., Analytics], manual_time: Any
) -> None:
    collector = BatchCollector(
        server.url, batch_size=100, max_interval=15, clock=manual_time.clock, wait=manual_time.wait
    )
    await collector.start()
    analytics = make_analytics(collector)
    analytics.track("anon", "browse")
    analytics.alias("zhangsan", "anon")
    await server.wait_until(lambda s: len(s.records) == 2)
    assert [r["xwhat"] for r in server.records] == ["browse", "$alias"]
    assert manual_time.now == 1000.0  # no time had to pass
    await collector.aclose()


async def test_optimizely_batches_never_mix_revisions_and_use_the_override_url(
    server: IngestionServer,
) -> None:
    collector = BatchCollector(
        None, batch_size=100, max_interval=3600, optimizely_events_url=server.events_url
    )
    await collector.start()
    events = [
        user_event(1),
        user_event(2, revision="8"),
        user_event(3),
        user_event(4, project="p2"),
    ]
    for event in events:
        collector.submit(event)
    await collector.flush()
    batches = sorted(server.event_batches, key=lambda b: (b["revision"], b["project_id"]))
    assert [(b["revision"], b["project_id"], len(b["visitors"])) for b in batches] == [
        ("7", "p1", 2),
        ("7", "p2", 1),
        ("8", "p1", 1),
    ]
    assert batches[0] == orjson.loads(orjson.dumps(build_event_batch([events[0], events[2]])))
    req = server.requests[0]
    assert req.path == "/v1/events"
    assert req.headers["Content-Type"] == "application/json"
    assert collector.stats.delivered == 4
    await collector.aclose()


async def test_submit_checks_the_item(server: IngestionServer) -> None:
    no_url = BatchCollector(None)
    with pytest.raises(ConfigError, match="no url"):
        no_url.submit({"xwhat": "e"})
    with pytest.raises(ArgumentTypeError, match="got str"):
        no_url.submit("record")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="url"):
        BatchCollector("ftp://example.com")
    with pytest.raises(ConfigError, match="batch_size"):
        BatchCollector(server.url, batch_size=0)
    await no_url.aclose()
    assert no_url.stats.produced == 0


async def test_unencodable_record_is_dropped_alone(server: IngestionServer) -> None:
    collector = BatchCollector(server.url, encoding="json")
    await collector.start()
    good: dict[str, Any] = {"appid": "a", "xwho": "u", "xwhat": "ok", "xwhen": 1, "xcontext": {}}
    collector.submit(good)
    collector.submit({**good, "xcontext": {"bad": object()}})
    await collector.flush()
    assert server.records == [good]
    assert collector.stats.dropped == {"unencodable": 1}
    assert collector.stats.delivered == 1
    await collector.aclose()
