"""Quick start: decide every flag of the bundled datafile for many users.

Runs on embedded defaults: ``make demo`` or ``python examples/quickstart.py``. A
local ingestion server on 127.0.0.1 (``asyncexp.testing.IngestionServer``) stands
in for the Optimizely events API and the Analysys collector, so impressions and
analytics records travel over real HTTP through a ``BatchCollector`` and are
flushed when the client closes. Prints one row per flag (share of users enabled,
most common variations) and what the server received.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
from collections import Counter, defaultdict

from asyncexp import BatchCollector, Client
from asyncexp.examples_data import example_datafile
from asyncexp.testing import IngestionServer

COUNTRIES = ["US", "DE", "FR", "GB", "BR", "IN", "CA", "JP"]
PLANS = ["free", "basic", "pro", "enterprise"]


def user_attributes(rng: random.Random, i: int) -> dict[str, object]:
    return {
        "country": rng.choice(COUNTRIES),
        "age": rng.randint(13, 80),
        "plan": rng.choice(PLANS),
        "device": rng.choice(["ios", "android", "web", "desktop"]),
        "purchases": rng.randint(0, 12),
        "app_version": f"{rng.randint(1, 4)}.{rng.randint(0, 12)}.0",
        "email": f"user{i}@example.com",
    }


async def main(users: int, rows: int) -> None:
    rng = random.Random(2026)
    async with IngestionServer() as server:
        collector = BatchCollector(
            server.url, optimizely_events_url=server.events_url, max_queue_size=1_000_000
        )
        client = Client(datafile=example_datafile(), collector=collector, app_key="demo")
        async with client:
            enabled: Counter[str] = Counter()
            variations: dict[str, Counter[str]] = defaultdict(Counter)
            start = time.perf_counter()
            for i in range(users):
                user = client.create_user_context(f"user-{i}", user_attributes(rng, i))
                for key, decision in user.decide_all().items():
                    enabled[key] += decision.enabled
                    variations[key][decision.variation_key or "(none)"] += 1
                client.track(f"user-{i}", "DemoVisit", {"flags_on": sum(enabled.values()) % 97})
                if i % 100 == 99:
                    await asyncio.sleep(0)  # let the collector ship while we produce
            elapsed = time.perf_counter() - start
            flags = list(variations)
        # Leaving the block flushed every queue: the server has everything now.
        impressions = sum(len(batch["visitors"]) for batch in server.event_batches)
        stats = collector.stats
    print(
        f"{users} users x {len(flags)} flags in {elapsed:.2f}s "
        f"({elapsed / (users * len(flags)) * 1e6:.1f} µs per decision, impressions included)"
    )
    print(
        f"server received {impressions} impressions in {len(server.event_batches)} batches "
        f"and {len(server.records)} analytics records; collector delivered "
        f"{stats.delivered} of {stats.produced}, dropped {stats.total_dropped}\n"
    )
    print(f"{'flag':<34} {'enabled':>8}  top variations")
    for key in flags[:rows]:
        top = ", ".join(f"{v} {n / users:.0%}" for v, n in variations[key].most_common(3))
        print(f"{key:<34} {enabled[key] / users:>8.1%}  {top}")
    if len(flags) > rows:
        print(f"... and {len(flags) - rows} more flags")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="asyncexp quick start")
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--rows", type=int, default=15)
    args = parser.parse_args()
    asyncio.run(main(args.users, args.rows))
