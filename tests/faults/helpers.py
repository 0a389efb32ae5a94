"""Shared pieces of the fault suite: injectable sleeps, numbered events, invariants."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from asyncexp.aio.collectors import BatchCollector
from asyncexp.aio.collectors.base import CollectorStats
from asyncexp.aio.collectors.spool import SpoolStore
from asyncexp.aio.http import RetryPolicy
from asyncexp.analytics.api import Analytics

__all__ = [
    "FAST_RETRY",
    "GateSleep",
    "NoSleep",
    "assert_nothing_lost",
    "assert_settled",
    "make_collector",
    "pending_files",
    "replay_all",
    "track_numbered",
]

FAST_RETRY = RetryPolicy(max_retries=2, base_delay=0.005, max_delay=0.02)
"""Three attempts per batch, backoff in milliseconds (real sleeps stay short)."""


class NoSleep:
    """A ``sleep`` that records the delays and returns at once (retries run back to back)."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        await asyncio.sleep(0)


class GateSleep:
    """A ``sleep`` that parks every retry backoff until the test calls :meth:`open`.

    ``parked`` is set as soon as one sender waits to retry: the client has seen the
    fault. The test then heals the server and opens the gate, so the retry is the
    first request after recovery: deterministic, and no real time passes.
    """

    def __init__(self) -> None:
        self.delays: list[float] = []
        self.parked = asyncio.Event()
        self._gate = asyncio.Event()

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        self.parked.set()
        await self._gate.wait()

    def open(self) -> None:
        self._gate.set()


def make_collector(url: str, spool: Any, sleep: Any, **kw: Any) -> BatchCollector:
    """A BatchCollector with the suite's defaults (small batches, fast retries, no jitter)."""
    kw.setdefault("batch_size", 10)
    kw.setdefault("max_interval", 0.05)
    kw.setdefault("max_concurrency", 2)
    kw.setdefault("retry", FAST_RETRY)
    kw.setdefault("request_timeout", 5.0)
    kw.setdefault("replay_interval", 3600.0)  # passes only at start or when kicked
    kw.setdefault("probe_base", 0.01)  # outage probes: real time, kept short here
    kw.setdefault("probe_max", 0.05)
    return BatchCollector(url, spool=spool, sleep=sleep, jitter=lambda: 0.0, **kw)


def track_numbered(analytics: Analytics, start: int, count: int) -> None:
    """Track events ``n = start .. start+count-1`` (the server de-duplicates on ``n``)."""
    for n in range(start, start + count):
        analytics.track(f"user-{n % 7}", "tick", {"n": n})


def assert_settled(stats: CollectorStats) -> None:
    """After close every produced item is delivered, spooled or dropped, once."""
    assert stats.settled, stats.as_dict()
    assert (stats.queued, stats.in_flight) == (0, 0), stats.as_dict()


def assert_nothing_lost(stats: CollectorStats) -> None:
    """Retryable failures never drop: each item is either delivered or on disk."""
    assert_settled(stats)
    assert stats.dropped == {}, stats.as_dict()
    assert stats.delivered + stats.spooled == stats.produced, stats.as_dict()


def pending_files(spool: Path) -> int:
    return len(SpoolStore(spool).pending())


async def replay_all(collector: BatchCollector) -> None:
    """Run one more re-send pass now and wait for it (the server is healthy again)."""
    replayer = collector.replayer
    assert replayer is not None
    await replayer.pass_done.wait()  # the start-up pass
    replayer.pass_done.clear()
    replayer.kick()
    await replayer.pass_done.wait()
