"""The segments cache: LRU order, time to live on an injected clock, limits."""

from __future__ import annotations

import pytest

from asyncexp.aio.odp.cache import SegmentsCache, entry_cost
from asyncexp.errors import ConfigError


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_defaults_are_the_reference_figures() -> None:
    cache = SegmentsCache()
    assert (cache.capacity, cache.timeout) == (10_000, 600.0)


def test_entry_expires_exactly_at_the_timeout() -> None:
    clock = Clock()
    cache = SegmentsCache(10, 600, clock=clock)
    cache.save("k", ["a"])
    clock.now += 599.999
    assert cache.lookup("k") == ["a"]
    clock.now += 0.001  # now - saved_at == timeout: stale
    assert cache.lookup("k") is None
    assert len(cache) == 0  # a stale lookup deletes the entry


def test_lookup_refreshes_recency_and_save_evicts_the_oldest() -> None:
    cache = SegmentsCache(2, 600, clock=Clock())
    cache.save("a", ["1"])
    cache.save("b", ["2"])
    assert cache.lookup("a") == ["1"]  # "b" is now least recently used
    cache.save("c", ["3"])
    assert cache.lookup("b") is None
    assert cache.lookup("a") == ["1"]
    assert cache.lookup("c") == ["3"]


def test_values_are_copies_and_empty_lists_are_cached() -> None:
    cache = SegmentsCache(clock=Clock())
    source = ["a"]
    cache.save("k", source)
    source.append("b")
    got = cache.lookup("k")
    assert got == ["a"]
    assert got is not None
    got.append("c")
    assert cache.lookup("k") == ["a"]
    cache.save("empty", [])
    assert cache.lookup("empty") == []  # departure from the reference, on purpose


def test_zero_capacity_disables_and_zero_timeout_never_expires() -> None:
    clock = Clock()
    off = SegmentsCache(0, 600, clock=clock)
    off.save("k", ["a"])
    assert off.lookup("k") is None
    forever = SegmentsCache(5, 0, clock=clock)
    forever.save("k", ["a"])
    clock.now += 10**9
    assert forever.lookup("k") == ["a"]


def test_reset_forgets_everything() -> None:
    cache = SegmentsCache(clock=Clock())
    cache.save("a", ["1"])
    cache.save("b", ["2"])
    cache.reset()
    assert len(cache) == 0
    assert cache.lookup("a") is None


@pytest.mark.parametrize(
    ("capacity", "timeout"), [(-1, 600), (1.5, 600), (True, 600), (10, -1), (10, "600")]
)
def test_bad_limits_raise_config_error(capacity: object, timeout: object) -> None:
    with pytest.raises(ConfigError, match="cache_"):
        SegmentsCache(capacity, timeout)  # type: ignore[arg-type]


def test_bytes_are_tracked_through_save_replace_expiry_and_reset() -> None:
    clock = Clock()
    cache = SegmentsCache(10, 600, max_bytes=10_000, clock=clock)
    cache.save("a", ["x"])
    cache.save("b", ["y", "z"])
    assert cache.bytes == entry_cost("a", ("x",)) + entry_cost("b", ("y", "z"))
    cache.save("a", ["x", "w"])  # a replaced entry is not counted twice
    assert cache.bytes == entry_cost("a", ("x", "w")) + entry_cost("b", ("y", "z"))
    clock.now += 600
    assert cache.lookup("a") is None  # a stale entry gives its bytes back
    assert cache.bytes == entry_cost("b", ("y", "z"))
    cache.reset()
    assert (len(cache), cache.bytes) == (0, 0)


def test_the_byte_budget_evicts_least_recently_used_first() -> None:
    one = entry_cost("k0", ("s" * 100,))
    cache = SegmentsCache(100, 600, max_bytes=3 * one, clock=Clock())
    for i in range(3):
        cache.save(f"k{i}", ["s" * 100])
    assert cache.lookup("k0") is not None  # k0 is now the most recently used
    cache.save("k3", ["s" * 100])
    assert cache.lookup("k1") is None
    assert [cache.lookup(k) is not None for k in ("k0", "k2", "k3")] == [True, True, True]
    assert cache.bytes <= 3 * one
    assert cache.stats.evicted == 1
    assert "k0" not in repr(cache)  # sizes only, never the keys (user ids)


def test_no_byte_bound_and_bad_budgets() -> None:
    cache = SegmentsCache(max_bytes=None)
    cache.save("k", ["s" * 100_000])
    assert cache.lookup("k") is not None
    for bad in (-1, 1.5, "1"):
        with pytest.raises(ConfigError, match="cache_bytes"):
            SegmentsCache(max_bytes=bad)  # type: ignore[arg-type]
