"""With the server down for a long run, memory is bounded by the budget and the spool cap.

Unbounded buffering of 200,000 records would cost well over 100 MB; the memory
budget (default 8 MiB of encoded records; outage mode sends chunks straight to
the spool) and a 1 MiB spool keep the client's RSS growth bounded. The
threshold below (40 MB) is far from both, so allocator noise cannot flip it.
Past the 1 MiB cap records are dropped as ``spool_full``, counted: the only
drop reason a full disk budget may produce.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import psutil

from asyncexp.aio.collectors import BatchCollector
from asyncexp.aio.collectors.spool import SpoolStore
from asyncexp.aio.http import RetryPolicy
from asyncexp.analytics.api import Analytics
from asyncexp.testing import IngestionServer

EVENTS = 200_000
GROWTH_LIMIT = 40 << 20


async def test_rss_stays_bounded_while_the_server_is_down(tmp_path: Path) -> None:
    async with IngestionServer() as gone:  # a port that refuses connections from now on
        url = gone.url
    spool = SpoolStore(tmp_path, max_bytes=1 << 20)
    collector = BatchCollector(
        url,
        batch_size=100,
        retry=RetryPolicy(max_retries=1, base_delay=0.001, max_delay=0.002),
        spool=spool,
    )
    await collector.start()
    analytics = Analytics(collector, app_key="soak")
    process = psutil.Process()
    before = process.memory_info().rss
    peak = before
    props = {"price": 5000, "name": "treadmill", "pad": "x" * 200}
    for i in range(EVENTS):
        analytics.track(f"user-{i % 1000}", "purchase", props)
        if i % 500 == 499:
            await asyncio.sleep(0)  # let the senders fail, spool and free the queue
            peak = max(peak, process.memory_info().rss)
    await collector.aclose(timeout=30)
    peak = max(peak, process.memory_info().rss)
    assert peak - before < GROWTH_LIMIT, f"RSS grew {(peak - before) >> 20} MB"
    stats = collector.stats
    assert stats.produced == EVENTS
    assert stats.settled
    assert stats.delivered == 0
    assert set(stats.dropped) == {"spool_full"}  # the spool cap did its job, counted
    assert stats.spooled > 0
    assert spool.bytes_used() <= spool.max_bytes
