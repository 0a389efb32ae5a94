"""Fixtures for the async shell: a local ingestion server and driven time."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from asyncexp.analytics.api import Analytics
from asyncexp.testing import IngestionServer

T0_MS = 1_700_000_000_000  # 2023-11-14T22:13:20Z


class ManualTime:
    """A monotonic clock and a ``wait(event, seconds)`` that only ``advance`` moves."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.waits: list[float | None] = []
        self._tick: asyncio.Future[None] | None = None
        self._entered = asyncio.Event()

    def clock(self) -> float:
        return self.now

    def _next_tick(self) -> asyncio.Future[None]:
        if self._tick is None or self._tick.done():
            self._tick = asyncio.get_running_loop().create_future()
        return self._tick

    async def wait(self, event: asyncio.Event, seconds: float | None) -> None:
        """Return when ``event`` is set or on the next ``advance`` (an early wake-up is
        allowed by the contract, and makes every advance a point the test can observe)."""
        self.waits.append(seconds)
        tick = self._next_tick()
        self._entered.set()
        if event.is_set():
            return
        waiter: asyncio.Future[Any] = asyncio.ensure_future(event.wait())
        await asyncio.wait([waiter, tick], return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()

    async def sleeping(self, *, finite: bool = False) -> float | None:
        """Wait until a waiter enters ``wait`` (with a timeout, if ``finite``); return it."""
        while True:
            await self._entered.wait()
            self._entered.clear()
            last = self.waits[-1]
            if not finite or last is not None:
                return last

    def advance(self, seconds: float) -> None:
        self.now += seconds
        tick = self._next_tick()
        tick.set_result(None)


class NoSleep:
    """An injectable ``sleep`` that records the delays and returns at once."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        await asyncio.sleep(0)


class Capture:
    """A minimal collector that keeps what it is given."""

    def __init__(self) -> None:
        self.items: list[Any] = []

    def submit(self, item: Any) -> None:
        self.items.append(item)


@pytest.fixture
async def server() -> AsyncIterator[IngestionServer]:
    async with IngestionServer() as srv:
        yield srv


@pytest.fixture
def manual_time() -> ManualTime:
    return ManualTime()


@pytest.fixture
def no_sleep() -> NoSleep:
    return NoSleep()


@pytest.fixture
def capture() -> Capture:
    return Capture()


@pytest.fixture
def make_analytics() -> Callable[..., Analytics]:
    """``make_analytics(collector, **options)``: app key "shop", clock ``T0_MS`` +1 ms a call."""

    def make(collector: Any, **kwargs: Any) -> Analytics:
        clock = iter(range(T0_MS, T0_MS + 10_000_000))
        kwargs.setdefault("app_key", "shop")
        kwargs.setdefault("clock", lambda: next(clock))
        return Analytics(collector, **kwargs)

    return make
