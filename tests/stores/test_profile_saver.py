"""The write-behind profile saver: coalescing per user, retries, bounds, drain at close."""

from __future__ import annotations

import asyncio
from typing import Any

from asyncexp.aio.profile_saver import ProfileSaver, SaverStats


def profile(user: str, **entries: str) -> dict[str, Any]:
    return {
        "user_id": user,
        "experiment_bucket_map": {k: {"variation_id": v} for k, v in entries.items()},
    }


def adds_up(s: SaverStats) -> bool:
    total = s.saved + s.coalesced + s.dropped + s.abandoned + s.pending + s.in_flight
    return s.enqueued == total


class FlakyStore:
    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.saved: list[dict[str, Any]] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.entered = asyncio.Event()

    async def save(self, doc: dict[str, Any]) -> None:
        self.entered.set()
        await self.gate.wait()
        if self.failures > 0:
            self.failures -= 1
            raise ConnectionError("down")
        self.saved.append(doc)


async def test_many_decisions_for_one_user_cost_one_save_with_every_entry() -> None:
    store = FlakyStore(0)
    store.gate.clear()  # the first save waits: later enqueues coalesce
    saver = ProfileSaver(store.save)
    saver.start()
    saver.enqueue(profile("u", e1="a"))
    await store.entered.wait()  # the first one is in flight
    saver.enqueue(profile("u", e2="b"))
    saver.enqueue(profile("u", e3="c"))
    assert adds_up(saver.stats)
    store.gate.set()
    await saver.wait_idle()
    await saver.aclose()
    assert [d["experiment_bucket_map"] for d in store.saved] == [
        {"e1": {"variation_id": "a"}},
        {"e2": {"variation_id": "b"}, "e3": {"variation_id": "c"}},
    ]
    assert saver.stats.coalesced == 1
    assert adds_up(saver.stats)


async def test_failed_saves_are_retried_and_merged_under_newer_ones() -> None:
    store = FlakyStore(3)
    saver = ProfileSaver(store.save, retry_base=0.001, retry_max=0.002)
    saver.start()
    saver.enqueue(profile("u", e1="old", e2="x"))
    saver.enqueue(profile("v", e1="y"))
    await saver.wait_idle()
    saver.enqueue(profile("u", e1="new"))
    await saver.wait_idle()
    await saver.aclose()
    assert saver.stats.failures == 3
    assert saver.stats.saved == 3
    last_u = [d for d in store.saved if d["user_id"] == "u"][-1]
    assert last_u["experiment_bucket_map"]["e1"] == {"variation_id": "new"}
    assert adds_up(saver.stats)


async def test_beyond_max_pending_new_users_are_dropped_and_close_abandons_the_rest() -> None:
    store = FlakyStore(10**6)  # never succeeds
    saver = ProfileSaver(store.save, max_pending=2, retry_base=0.001, retry_max=0.002)
    for user in ("a", "b", "c"):
        saver.enqueue(profile(user, e="1"))
    saver.enqueue(profile("a", e="2"))  # an existing user still coalesces
    assert saver.stats.dropped == 1
    saver.start()
    await saver.aclose(timeout=0.05)
    assert saver.stats.abandoned == 2
    assert saver.stats.saved == 0
    assert adds_up(saver.stats)
    saver.enqueue(profile("late", e="1"))  # after close: dropped, counted
    assert saver.stats.dropped == 2
    assert adds_up(saver.stats)
