"""The decide hot path, case by case (asyncexp only; no reference package needed).

Cases (each figure is the median over rounds of the mean µs per call, GC enabled,
with every user context kept alive, as a service holds them):

* ``ab``: one flag, a 50/50 A/B experiment behind a 3-condition audience
  (and of exact / gt / exact), two variables; no event.
* ``rollout``: one flag, a 30 % delivery rule; no event.
* ``example``: decide on the packaged 50-flag benchmark datafile; no event.
* ``all-N``: ``decide_all`` on N generated flags, per flag (the scaling case:
  the per-flag cost at 1,000 flags should stay close to the one at 50).
* ``impression``: decide on the 50-flag datafile with its impression submitted
  to a sink that keeps the events (the time spent inside ``decide``).

    python benchmarks/profile_decide.py [--users N] [--rounds R] [--flags 50,1000]
    python benchmarks/profile_decide.py --cprofile ab   # cProfile of one case
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import logging
import pstats
import random
import statistics
import time
from collections.abc import Callable
from typing import Any

from asyncexp.client import Client
from asyncexp.core.flags.decision_types import DecideOption
from asyncexp.examples_data import example_datafile
from asyncexp.testing import DatafileBuilder

NO_EVENT = [DecideOption.DISABLE_DECISION_EVENT]


class KeepingSink:
    """Keeps submitted events (dropped every 10,000, as a collector ships them)."""

    def __init__(self) -> None:
        self.items: list[object] = []
        self.count = 0

    def submit(self, item: object) -> None:
        items = self.items
        items.append(item)
        if len(items) >= 10_000:
            self.count += len(items)
            items.clear()

    async def start(self, transport: object = None) -> None:
        return None

    async def flush(self) -> None:
        return None

    async def aclose(self, timeout: float | None = None) -> None:
        return None


def users(n: int, seed: int = 7) -> list[tuple[str, dict[str, Any]]]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        attrs: dict[str, Any] = {
            "country": rng.choice(["US", "DE", "FR", "GB"]),
            "age": rng.randint(13, 80),
            "plan": rng.choice(["free", "pro"]),
            "device": rng.choice(["ios", "android", "web"]),
            "is_beta": rng.random() < 0.2,
        }
        out.append((f"user-{i}", attrs))
    return out


def _audience(builder: DatafileBuilder, name: str) -> str:
    return builder.audience(
        name,
        [
            "and",
            {"type": "custom_attribute", "name": "country", "match": "exact", "value": "US"},
            {"type": "custom_attribute", "name": "age", "match": "gt", "value": 18},
            {"type": "custom_attribute", "name": "plan", "match": "exact", "value": "pro"},
        ],
    )


def ab_datafile() -> dict[str, Any]:
    builder = DatafileBuilder(revision="1")
    audience = _audience(builder, "target")
    flag = builder.flag("ab")
    flag.variable("label", "Buy").variable("discount", 0.0)
    flag.variation("off", enabled=False)
    flag.variation("on", variables={"label": "Buy now", "discount": 0.1})
    flag.experiment("ab_test", split={"off": 1, "on": 1}, percent=100, audiences=[audience])
    flag.everyone_else("off")
    return builder.build()


def rollout_datafile() -> dict[str, Any]:
    builder = DatafileBuilder(revision="1")
    flag = builder.flag("launch")
    flag.variable("label", "Buy")
    flag.variation("off", enabled=False)
    flag.variation("on", variables={"label": "Buy now"})
    flag.rollout_rule("launch_30", "on", percent=30)
    flag.everyone_else("off", percent=0)
    return builder.build()


def many_flags_datafile(n: int) -> dict[str, Any]:
    """``n`` flags: even ones an A/B test behind a shared audience, odd ones a rollout."""
    builder = DatafileBuilder(revision="1")
    audience = _audience(builder, "target")
    for i in range(n):
        flag = builder.flag(f"flag_{i}")
        flag.variable("label", "x").variable("n", 1)
        flag.variation("off", enabled=False)
        flag.variation("on", variables={"label": "y", "n": 2})
        if i % 2 == 0:
            flag.experiment(f"exp_{i}", split={"off": 1, "on": 1}, audiences=[audience])
        else:
            flag.rollout_rule(f"roll_{i}", "on", percent=30)
        flag.everyone_else("off")
    return builder.build()


def cycle(items: list[Any]) -> Callable[[], Any]:
    state = [0]
    n = len(items)

    def nxt() -> Any:
        i = state[0]
        state[0] = i + 1 if i + 1 < n else 0
        return items[i]

    return nxt


def per_call_us(fn: Callable[[], object], calls: int, rounds: int, divide: int = 1) -> float:
    samples = []
    for _ in range(rounds):
        gc.collect()
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        samples.append((time.perf_counter() - start) / (calls * divide) * 1e6)
    return statistics.median(samples)


def make_case(
    name: str, n_users: int, collector: Any = None
) -> tuple[Callable[[], object], int, Client, list[Any]]:
    """(the call, how many results one call gives, the client, the live contexts)."""
    base = name.split("-")[0]
    datafile: Any
    if base == "ab":
        datafile = ab_datafile()
    elif base == "rollout":
        datafile = rollout_datafile()
    elif base == "all":
        datafile = many_flags_datafile(int(name.split("-")[1]))
    else:
        datafile = example_datafile()
    client = Client(datafile=datafile, collector=collector)
    contexts = [client.create_user_context(uid, attrs) for uid, attrs in users(n_users)]
    ctx = cycle(contexts)
    keys = cycle(list(client.config.flags) if client.config else [])
    if base == "all":
        count = len(client.config.flags) if client.config else 1
        return (lambda: ctx().decide_all(NO_EVENT)), count, client, contexts
    if base == "impression":
        return (lambda: ctx().decide(keys())), 1, client, contexts
    return (lambda: ctx().decide(keys(), NO_EVENT)), 1, client, contexts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--flags", default="50,1000", help="decide_all sizes, comma-separated")
    parser.add_argument("--cprofile", default=None, help="profile one case instead")
    args = parser.parse_args()
    logging.disable(logging.CRITICAL)
    names = ["ab", "rollout", "example", "impression"]
    names += [f"all-{int(n)}" for n in args.flags.split(",") if n.strip()]
    if args.cprofile:
        names = [args.cprofile]
    print(f"users: {args.users}, calls: {args.calls}, rounds: {args.rounds} (medians, µs)")
    for name in names:
        sink = KeepingSink() if name == "impression" else None
        fn, per, _client, _contexts = make_case(name, args.users, sink)
        calls = max(1, args.calls // per)
        for _ in range(min(calls, 200)):
            fn()
        if args.cprofile:
            profiler = cProfile.Profile()
            profiler.runcall(lambda f=fn, n=calls: [f() for _ in range(n)])
            pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
            continue
        collections = sum(s["collections"] for s in gc.get_stats())
        us = per_call_us(fn, calls, args.rounds, per)
        collections = sum(s["collections"] for s in gc.get_stats()) - collections
        unit = "per flag" if per > 1 else "per call"
        print(f"{name:<12} {us:>8.2f} µs {unit}  (gc collections: {collections})")


if __name__ == "__main__":
    main()
