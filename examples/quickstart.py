"""Quick start: decide every flag of the bundled datafile for many users.

Runs on embedded defaults (no network): ``make demo`` or ``python examples/quickstart.py``.
Prints one row per flag: how many users got it enabled and the most common
variations, plus how many impressions were produced and the time per decision.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
from collections import Counter, defaultdict

from asyncexp.client import Client
from asyncexp.examples_data import example_datafile
from asyncexp.testing import CapturingCollector

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
    collector = CapturingCollector()
    async with Client(datafile=example_datafile(), collector=collector) as client:
        enabled: Counter[str] = Counter()
        variations: dict[str, Counter[str]] = defaultdict(Counter)
        start = time.perf_counter()
        for i in range(users):
            user = client.create_user_context(f"user-{i}", user_attributes(rng, i))
            for key, decision in user.decide_all().items():
                enabled[key] += decision.enabled
                variations[key][decision.variation_key or "(none)"] += 1
        elapsed = time.perf_counter() - start
        flags = list(variations)
    print(f"{users} users x {len(flags)} flags, {len(collector.events)} impressions captured")
    print(f"{elapsed / (users * len(flags)) * 1e6:.1f} µs per flag decision (decide_all)\n")
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
