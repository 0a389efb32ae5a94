"""The disk spool: what could not be delivered is kept, re-sent oldest first, counted."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from asyncexp.aio.collectors import BatchCollector
from asyncexp.aio.collectors.spool import SpoolBatch, SpoolFull, SpoolStore
from asyncexp.aio.http import RetryPolicy
from asyncexp.analytics.api import Analytics
from asyncexp.core.flags.events import build_event_batch
from asyncexp.errors import ConfigError
from asyncexp.testing import IngestionServer, Reply
from tests.aio.test_collector_batch import user_event

POLICY = RetryPolicy(max_retries=2, base_delay=0.5, max_delay=2.0)


def collector(url: str, spool: Any, sleep: Any, **kw: Any) -> BatchCollector:
    kw.setdefault("batch_size", 2)
    return BatchCollector(url, spool=spool, sleep=sleep, retry=POLICY, jitter=lambda: 0.0, **kw)


async def replay_pass(c: BatchCollector) -> None:
    """Wait for the first re-send pass (it runs when the collector starts)."""
    assert c.replayer is not None
    await c.replayer.pass_done.wait()


async def test_undelivered_batches_are_spooled_and_resent_by_the_next_collector(
    server: IngestionServer,
    tmp_path: Path,
    no_sleep: Any,
    make_analytics: Callable[..., Analytics],
) -> None:
    server.set_default("analysys", Reply(status=503, code=None))
    first = collector(server.url, tmp_path, no_sleep)
    await first.start()
    analytics = make_analytics(first)
    for i in range(5):
        analytics.track("u", f"e{i}")
        if i % 2:
            await first.flush()  # each flush ends with a batch spooled: files of 2, 2 and 1
    await first.aclose()
    stats = first.stats
    assert (stats.produced, stats.delivered, stats.spooled, stats.dropped) == (5, 0, 5, {})
    assert stats.settled
    assert len(SpoolStore(tmp_path).pending()) == 3
    sent_before = list(server.requests)
    assert server.records == []

    server.set_default("analysys", Reply())
    second = collector(server.url, tmp_path, no_sleep)
    await second.start()
    await replay_pass(second)
    assert second.stats.replayed == 5
    assert [r["xwhat"] for r in server.records] == [f"e{i}" for i in range(5)]  # oldest first
    # the original times travel with the records (what was posted before outage mode)
    before = {r["xwhat"]: r["xwhen"] for r in _records_of(sent_before)}
    assert before
    assert all(r["xwhen"] == before.get(r["xwhat"], r["xwhen"]) for r in server.records)
    assert SpoolStore(tmp_path).pending() == []
    await second.aclose()
    assert second.stats.produced == 0


def _records_of(requests: list[Any]) -> list[dict[str, Any]]:
    seen: dict[str, dict[str, Any]] = {}
    for request in requests:
        for record in request.payload or []:
            seen.setdefault(record["xwhat"], record)
    return list(seen.values())


async def test_what_the_close_deadline_cuts_off_is_spooled_in_order(
    server: IngestionServer, tmp_path: Path, make_analytics: Callable[..., Analytics]
) -> None:
    server.set_default("analysys", Reply(hang=True))
    first = BatchCollector(
        server.url, batch_size=2, max_concurrency=1, request_timeout=None, spool=tmp_path
    )
    await first.start()
    analytics = make_analytics(first)
    for i in range(5):
        analytics.track("u", f"e{i}")
    await server.wait_until(lambda s: s.request_count == 1)
    await first.aclose(timeout=0)
    assert (first.stats.spooled, first.stats.dropped, first.stats.in_flight) == (5, {}, 0)
    assert first.stats.settled

    server.set_default("analysys", Reply())
    second = BatchCollector(server.url, spool=tmp_path)
    await second.start()
    await replay_pass(second)
    assert [r["xwhat"] for r in server.records] == [f"e{i}" for i in range(5)]
    await second.aclose()


async def test_optimizely_events_are_spooled_to_their_endpoint(
    server: IngestionServer, tmp_path: Path, no_sleep: Any
) -> None:
    events_url = server.url + "/v1/events"
    server.set_default("optimizely", Reply(status=500))
    first = collector(server.url, tmp_path, no_sleep, optimizely_events_url=events_url)
    await first.start()
    first.submit(user_event(1))
    await first.aclose()
    assert first.stats.spooled == 1

    server.set_default("optimizely", Reply(status=204))
    second = collector(server.url, tmp_path, no_sleep, optimizely_events_url=events_url)
    await second.start()
    await replay_pass(second)
    assert second.stats.replayed == 1
    assert server.event_batches == [build_event_batch([user_event(1)])]
    await second.aclose()


async def test_corrupt_and_partial_files_are_moved_aside_and_the_rest_is_sent(
    server: IngestionServer, tmp_path: Path, no_sleep: Any
) -> None:
    store = SpoolStore(tmp_path)
    good = SpoolBatch(server.url + "/up", {"Content-Type": "application/json"}, b"[]", 0, True)
    store.write(good)
    store.write(good)
    _, second = store.pending()
    (tmp_path / ("0" * 20 + "-1-000000.batch")).write_bytes(b"not a header")  # sorts first: garbage
    data = second.read_bytes()
    second.write_bytes(data[:-1])  # a partial write: the body is one byte short

    c = collector(server.url, tmp_path, no_sleep)
    await c.start()
    await replay_pass(c)
    assert c.stats.spool_corrupt == 2
    assert sorted(p.name for p in (tmp_path / "corrupt").iterdir()) == sorted(
        ["0" * 20 + "-1-000000.batch", second.name]
    )
    assert store.pending() == []
    assert server.request_count == 1  # the intact file was re-sent
    await c.aclose()


async def test_a_refused_spooled_batch_is_removed_and_counted(
    server: IngestionServer, tmp_path: Path, no_sleep: Any
) -> None:
    store = SpoolStore(tmp_path)
    store.write(SpoolBatch(server.url + "/up", {}, b"[]", 3, True))
    server.set_default("analysys", Reply(status=400, code=None))
    c = collector(server.url, tmp_path, no_sleep)
    await c.start()
    await replay_pass(c)
    assert (c.stats.replayed, c.stats.replay_dropped) == (0, 3)
    assert store.pending() == []
    await c.aclose()


async def test_a_server_still_down_keeps_the_files_for_later(
    server: IngestionServer, tmp_path: Path, no_sleep: Any
) -> None:
    store = SpoolStore(tmp_path)
    store.write(SpoolBatch(server.url + "/up", {}, b"[]", 1, True))
    store.write(SpoolBatch(server.url + "/up", {}, b"[]", 1, True))
    server.set_default("analysys", Reply(status=503, code=None))
    c = collector(server.url, tmp_path, no_sleep)
    await c.start()
    await replay_pass(c)
    assert len(store.pending()) == 2
    assert server.request_count == 1  # one probe: stopped at the first file
    server.set_default("analysys", Reply())
    assert c.replayer is not None
    c.replayer.pass_done.clear()
    c.replayer.kick()
    await c.replayer.pass_done.wait()
    assert store.pending() == []
    assert c.stats.replayed == 2
    await c.aclose()


def test_a_file_locked_by_another_sender_is_skipped(tmp_path: Path) -> None:
    store = SpoolStore(tmp_path)
    store.write(SpoolBatch("http://127.0.0.1:1/up", {}, b"[]", 1, True))
    (path,) = store.pending()
    other = os.open(path, os.O_RDWR)  # another worker's claim (its own open file)
    fcntl.flock(other, fcntl.LOCK_EX)
    try:
        assert store.claim(path) is None
    finally:
        os.close(other)
    claim = store.claim(path)
    assert claim is not None
    store.remove(claim)
    assert store.pending() == []


def test_size_cap_drop_new_and_drop_oldest(tmp_path: Path) -> None:
    batch = SpoolBatch("http://127.0.0.1:1/up", {}, b"x" * 300, 4, True)
    capped = SpoolStore(tmp_path / "new", max_bytes=1000)
    capped.write(batch)
    capped.write(batch)
    with pytest.raises(SpoolFull):
        capped.write(batch)
    assert len(capped.pending()) == 2

    evicting = SpoolStore(tmp_path / "old", max_bytes=1000, on_full="drop_oldest")
    evicting.write(batch)
    evicting.write(batch)
    oldest = evicting.pending()[0]
    assert evicting.write(batch) == 4  # the oldest file's items made room
    assert len(evicting.pending()) == 2
    assert oldest not in evicting.pending()
    assert evicting.bytes_used() <= 1000


async def test_spool_full_is_counted_as_a_drop(
    server: IngestionServer,
    tmp_path: Path,
    no_sleep: Any,
    make_analytics: Callable[..., Analytics],
) -> None:
    server.set_default("analysys", Reply(status=503, code=None))
    c = collector(server.url, SpoolStore(tmp_path, max_bytes=10), no_sleep)
    await c.start()
    make_analytics(c).track("u", "e")
    await c.aclose()
    assert (c.stats.spooled, c.stats.dropped) == (0, {"spool_full": 1})
    assert c.stats.settled


def test_spool_settings_are_checked(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="max_bytes"):
        SpoolStore(tmp_path, max_bytes=0)
    with pytest.raises(ConfigError, match="on_full"):
        SpoolStore(tmp_path, on_full="drop_all")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="spool"):
        BatchCollector("http://127.0.0.1:1", spool=3)  # type: ignore[arg-type]
    assert BatchCollector("http://127.0.0.1:1", spool=False).spool is None
    default = BatchCollector("http://127.0.0.1:1").spool
    assert default is not None
    assert str(default.directory).startswith(os.environ["ASYNCEXP_SPOOL_DIR"])
