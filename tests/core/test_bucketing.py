"""Hash and bucket vectors (reference §2.1) and traffic-range edges."""

from __future__ import annotations

import pytest

from asyncexp.core.flags.bucketing import MAX_TRAFFIC_VALUE, bucket_value, find_entity, hash_key

VECTORS = [
    ("ppid11886780721", 5254),
    ("ppid21886780721", 4299),
    ("ppid21886780722", 2434),
    ("ppid31886780721", 5439),
    (
        "a very very very very very very very very very very very very very very very long "
        "ppd string1886780721",
        6128,
    ),
    ("test_user111127", 4577),
    ("user_a211127", 2798),
    ("üser111127", 267),
    ("", 3175),
]


@pytest.mark.parametrize(("key", "bucket"), VECTORS)
def test_bucket_vectors(key: str, bucket: int) -> None:
    assert bucket_value(key) == bucket


def test_hash_vectors() -> None:
    assert hash_key("test_user111127") == 1966234008
    assert hash_key("") == 1364076727


def test_integer_bucket_equals_float_formula() -> None:
    # The reference computes floor(hash / 2**32 * 10000) in floats.
    for key in (f"user{i}rule{i * 7}" for i in range(5000)):
        h = hash_key(key)
        assert bucket_value(key) == int(h / 2**32 * MAX_TRAFFIC_VALUE)


def test_bucket_edges_at_extreme_hashes() -> None:
    for h in (0, 1, 2**32 - 1, 2**28, 2**28 * 3, 429496, 429497):
        assert (h * MAX_TRAFFIC_VALUE) >> 32 == int(h / 2**32 * MAX_TRAFFIC_VALUE)


def test_find_entity_ranges() -> None:
    traffic = ((0, "zero"), (5000, "a"), (5000, "dup"), (10000, "b"))
    assert find_entity(traffic, 0) == "a"  # end 0 admits no bucket
    assert find_entity(traffic, 4999) == "a"
    assert find_entity(traffic, 5000) == "b"
    assert find_entity(traffic, 9999) == "b"
    assert find_entity(((3000, "x"),), 3000) is None
    assert find_entity(((10000, ""),), 12) == ""  # empty range: falsy entity
