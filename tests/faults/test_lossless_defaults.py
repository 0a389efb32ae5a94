"""Lossless with library defaults (issue 14): bursts, outages, the copy bound, cancelled close.

Every collector here is built with the library's defaults for everything that
decides what is kept (memory budget, spool cap, retries, outage threshold);
only the spool directory (a temporary one) and, for the outage, the probe
timing and request timeout are chosen. Tests wait on server events and
futures, never on sleeps; the producers' ``asyncio.sleep`` only paces load.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import orjson
import pytest

from asyncexp.aio.collectors import BatchCollector, LogCollector
from asyncexp.aio.collectors.replay import MAX_UNCONFIRMED_COPIES
from asyncexp.aio.collectors.spool import SpoolStore
from asyncexp.analytics.api import Analytics
from tests.faults.fault_server import FaultServer
from tests.faults.helpers import (
    assert_nothing_lost,
    assert_settled,
    pending_files,
    track_numbered,
)

TIGHT = 200_000


def batch_counts(spool: Path) -> list[int]:
    """The record count in the header of every pending spool file."""
    counts = []
    for path in SpoolStore(spool).pending():
        with path.open("rb") as handle:
            counts.append(int(orjson.loads(handle.readline())["count"]))
    return counts


async def test_200k_tracks_in_a_tight_loop_all_arrive(
    fault_server: FaultServer, tmp_path: Path
) -> None:
    collector = BatchCollector(fault_server.url, spool=tmp_path / "spool")
    await collector.start()
    analytics = Analytics(collector, app_key="shop")
    track_numbered(analytics, 0, TIGHT)  # never yields: past the budget submit spills
    stats = collector.stats
    assert stats.produced == TIGHT
    assert stats.overflowed > 0  # the budget was reached and nothing was dropped
    assert stats.dropped == {}
    async with asyncio.timeout(150):
        await fault_server.wait_until(lambda s: len(s.acked) == TIGHT)
        await collector.aclose()
    assert_nothing_lost(stats)
    assert set(fault_server.acked) == set(range(TIGHT))


OUTAGE_PROBES = 8
"""Failed probes the outage lasts. At the default probe timing (0.5 s doubling to
10 s, equal jitter) eight probes span more than 30 s, the outage of the issue; the
test injects a 0.02-0.1 s probe timing so the same eight probes take about a second."""


@pytest.mark.parametrize("fault", ["down", "500", "429", "hang"])
async def test_an_outage_at_200_events_per_second_loses_nothing(
    fault: str, fault_server: FaultServer, tmp_path: Path
) -> None:
    """200 events/s; the server fails (``fault``) for ``OUTAGE_PROBES`` failed outage
    probes, then heals: every record arrives, and records produced after the heal
    are delivered too (the sends resume). Memory budget, spool cap, retry policy and
    outage threshold are the defaults; only the probe timing (and, for ``hang``, the
    request timeout) are injected to keep the run short."""
    fault_server.retry_after = "0"
    collector = BatchCollector(
        fault_server.url,
        spool=tmp_path / "spool",
        max_interval=0.05,
        probe_base=0.02,
        probe_max=0.1,
        request_timeout=0.3 if fault == "hang" else 10.0,
    )
    await collector.start()
    replayer = collector.replayer
    assert replayer is not None
    analytics = Analytics(collector, app_key="shop")
    produced = 0
    stop = asyncio.Event()

    async def produce() -> None:
        nonlocal produced
        while not stop.is_set():
            track_numbered(analytics, produced, 2)
            produced += 2
            await asyncio.sleep(0.01)  # pacing: about 200 events/s

    def acked_below(limit: int) -> bool:
        acked = fault_server.acked
        return all(n in acked for n in range(limit))

    async with asyncio.timeout(60):
        producer = asyncio.create_task(produce())
        await replayer.pass_done.wait()  # the start-up pass
        await fault_server.wait_until(lambda s: len(s.acked) >= 100)
        if fault == "down":
            await fault_server.down()
        else:
            fault_server.set_mode(fault)  # type: ignore[arg-type]
        # OUTAGE_AFTER failed sends in a row switch outage mode on, which kicks a pass
        while collector.stats.outages == 0:
            replayer.pass_done.clear()
            await replayer.pass_done.wait()
        # from here only the re-sender's probes go out; count the failed ones
        first = replayer.failed_passes
        while replayer.failed_passes - first < OUTAGE_PROBES:
            replayer.pass_done.clear()
            await replayer.pass_done.wait()
        stats = collector.stats
        assert collector.health.outage
        assert stats.diverted > 0  # new chunks went to the spool without a request
        assert stats.dropped == {}
        healed_at = produced
        fault_server.set_mode("ok")
        await fault_server.up()
        # the spool drains and the sends resume: records made after the heal arrive
        await fault_server.wait_until(lambda s: produced >= healed_at + 200)
        target = produced
        await fault_server.wait_until(lambda s: acked_below(target))
        stop.set()
        await producer
        await collector.flush()
        await fault_server.wait_until(lambda s: len(s.acked) == produced)
        await collector.aclose()
    assert not collector.health.outage
    assert stats.replayed > 0
    assert_nothing_lost(stats)
    assert set(fault_server.acked) == set(range(produced))


@pytest.mark.parametrize("fault", ["garbage", "code500"])
async def test_a_2xx_without_success_reaches_the_receiver_at_most_twice(
    fault: str, fault_server: FaultServer, tmp_path: Path
) -> None:
    fault_server.set_mode(fault)  # type: ignore[arg-type]
    collector = BatchCollector(
        fault_server.url, spool=tmp_path / "spool", probe_base=0.01, probe_max=0.02
    )
    await collector.start()
    analytics = Analytics(collector, app_key="shop")
    track_numbered(analytics, 0, 100)
    async with asyncio.timeout(60):
        await collector.flush()
        replayer = collector.replayer
        assert replayer is not None
        while collector.stats.replay_dropped < 100:
            replayer.pass_done.clear()
            replayer.kick()
            await replayer.pass_done.wait()
        await collector.aclose()
    copies = Counter(fault_server.received)
    assert set(copies) == set(range(100))
    assert max(copies.values()) == MAX_UNCONFIRMED_COPIES
    assert collector.stats.replay_dropped_by == {"unconfirmed": 100}
    assert_settled(collector.stats)


async def test_a_cancelled_close_spools_everything_before_it_reraises(
    fault_server: FaultServer, tmp_path: Path
) -> None:
    fault_server.set_mode("hang")
    collector = BatchCollector(fault_server.url, spool=tmp_path / "spool")
    await collector.start()
    track_numbered(Analytics(collector, app_key="shop"), 0, 500)
    await fault_server.wait_until(lambda s: s.hanging >= 1)
    closing = asyncio.create_task(collector.aclose())
    second = asyncio.create_task(collector.aclose())
    await asyncio.sleep(0)  # both closes are waiting on the drain now
    closing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await closing
    assert collector.stats.spooled == 500  # before the cancellation surfaced
    await second  # waited for the first close
    assert_nothing_lost(collector.stats)
    assert collector.closed
    tasks = [t for t in asyncio.all_tasks() if t.get_name().startswith("asyncexp-")]
    assert tasks == []


async def test_wait_for_timeout_around_close_spools_too(
    fault_server: FaultServer, tmp_path: Path
) -> None:
    fault_server.set_mode("hang")
    collector = BatchCollector(fault_server.url, spool=tmp_path / "spool")
    await collector.start()
    track_numbered(Analytics(collector, app_key="shop"), 0, 300)
    await fault_server.wait_until(lambda s: s.hanging >= 1)
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(collector.aclose(), 0.05)
    assert_nothing_lost(collector.stats)
    assert collector.stats.spooled == 300


async def test_close_with_a_healthy_destination_drains_what_this_run_spooled(
    fault_server: FaultServer, tmp_path: Path
) -> None:
    """A burst past the memory budget overflows to the spool; ``aclose`` right after
    it (no flush, no wait) re-sends those files within its deadline: every record
    arrives and the spool is empty when it returns."""
    spool = tmp_path / "spool"
    collector = BatchCollector(fault_server.url, spool=spool)
    await collector.start()
    count = 100_000  # about 60 % past the budget: more files than a close-time pass meets
    track_numbered(Analytics(collector, app_key="shop"), 0, count)
    stats = collector.stats
    assert stats.overflowed > 0
    async with asyncio.timeout(60):
        await collector.aclose()
    assert_nothing_lost(stats)
    assert stats.replayed == stats.spooled > 0
    assert pending_files(spool) == 0
    assert set(fault_server.acked) == set(range(count))


async def test_close_leaves_the_spool_alone_when_the_destination_is_down(
    fault_server: FaultServer, tmp_path: Path
) -> None:
    """Same burst, but the destination is down at close: the sends reach outage
    mode and spool, the close does not try the spool, and the files stay for the
    next start (durable), one per request."""
    spool = tmp_path / "spool"
    collector = BatchCollector(fault_server.url, spool=spool, probe_base=0.01, probe_max=0.02)
    await collector.start()
    count = 30_000
    track_numbered(Analytics(collector, app_key="shop"), 0, count)
    await fault_server.down()
    async with asyncio.timeout(60):
        await collector.aclose()
    stats = collector.stats
    assert_nothing_lost(stats)
    assert stats.outages == 1
    assert stats.replayed == 0
    assert stats.spooled > 0
    assert sum(batch_counts(spool)) == stats.spooled


async def test_log_collector_never_drops_in_a_tight_loop(tmp_path: Path) -> None:
    """200,000 records with the defaults and no yield: past the memory budget
    ``submit`` appends whole chunks itself; after close every record is one
    complete line in the files, exactly once."""
    logs = tmp_path / "logs"
    collector = LogCollector(logs)
    await collector.start()
    for n in range(TIGHT):
        collector.submit({"xwhat": "tick", "xwho": "u", "xwhen": 1_700_000_000_000, "n": n})
    stats = collector.stats
    assert stats.produced == TIGHT
    assert stats.overflowed > 0  # the budget was reached: the loop never yielded
    assert stats.dropped == {}
    await collector.aclose()
    assert_nothing_lost(stats)
    assert stats.delivered == TIGHT
    seen: Counter[int] = Counter()
    for path in logs.iterdir():
        data = path.read_bytes()
        assert data.endswith(b"\n"), path
        for line in data.split(b"\n")[:-1]:
            seen[orjson.loads(line)["n"]] += 1
    assert len(seen) == TIGHT
    assert set(seen.values()) == {1}


async def test_an_unwritable_spool_does_not_keep_outage_mode_on_after_recovery(
    fault_server: FaultServer, tmp_path: Path
) -> None:
    """The spool cannot be written (its parent is a file): during an outage the
    records are dropped as ``spool_error`` and there is no spool file to probe
    with, so a send probes instead; once the server is back, new records are
    delivered again rather than diverted to the broken spool for ever."""
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where the spool's parent directory should be")
    collector = BatchCollector(
        fault_server.url, spool=blocker / "spool", probe_base=0.01, probe_max=0.02
    )
    await collector.start()
    analytics = Analytics(collector, app_key="shop")
    await fault_server.down()
    async with asyncio.timeout(30):
        while collector.stats.outages == 0:
            track_numbered(analytics, 0, 20)
            await collector.flush()
        assert collector.stats.dropped.get("spool_error", 0) > 0
        await fault_server.up()
        n = 1000
        while collector.health.outage:  # each flush offers a chunk the probe can take
            track_numbered(analytics, n, 20)
            n += 20
            await collector.flush()
        track_numbered(analytics, 100_000, 100)
        await collector.flush()
        await collector.aclose()
    assert set(range(100_000, 100_100)) <= set(fault_server.acked)
    assert_settled(collector.stats)
