"""asyncexp vs optimizely-sdk 5.7.0: decide, decide_all, create_user_context, construction.

Both clients run in this one process on the same datafile and the same 10,000
generated users. Each figure is the median over several rounds; the ratio is
reference time / asyncexp time (higher is better for asyncexp).

    python benchmarks/bench_decide.py [--datafile PATH] [--users N] [--rounds R]
"""

from __future__ import annotations

import argparse
import gc
import logging
import random
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from optimizely import optimizely
from optimizely.decision.optimizely_decide_option import OptimizelyDecideOption

from asyncexp.client import Client
from asyncexp.core.flags.decision_types import DecideOption
from asyncexp.examples_data import example_datafile


def make_users(n: int, seed: int = 7) -> list[tuple[str, dict[str, Any]]]:
    rng = random.Random(seed)
    users = []
    for i in range(n):
        attrs: dict[str, Any] = {
            "country": rng.choice(["US", "DE", "FR", "GB", "BR", "IN", "CA", "JP"]),
            "age": rng.randint(13, 80),
            "plan": rng.choice(["free", "basic", "pro", "enterprise"]),
            "device": rng.choice(["ios", "android", "web", "desktop"]),
            "is_beta": rng.random() < 0.2,
            "purchases": rng.randint(0, 12),
            "ltv": round(rng.uniform(0, 400), 2),
            "signup_days": rng.randint(0, 1000),
            "language": rng.choice(["en-US", "de-DE", "fr-FR", "pt-BR", "ja-JP", "es-ES"]),
        }
        if rng.random() < 0.7:
            attrs["app_version"] = f"{rng.randint(1, 4)}.{rng.randint(0, 12)}.{rng.randint(0, 5)}"
        if rng.random() < 0.5:
            attrs["email"] = f"user{i}@" + rng.choice(
                ["example.com", "yahoo.com", "corp.example.org"]
            )
        users.append((f"user-{i}", attrs))
    return users


def per_call_us(fn: Callable[[], object], calls: int, rounds: int) -> float:
    """Median over rounds of the mean µs per call."""
    samples = []
    for _ in range(rounds):
        gc.collect()
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        samples.append((time.perf_counter() - start) / calls * 1e6)
    return statistics.median(samples)


def cycle(items: list[Any]) -> Callable[[], Any]:
    state = {"i": 0}

    def nxt() -> Any:
        i = state["i"]
        state["i"] = (i + 1) % len(items)
        return items[i]

    return nxt


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # Default: the packaged 50-flag benchmark datafile (the example `make demo` uses).
    parser.add_argument("--datafile", type=Path, default=None)
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    logging.disable(logging.CRITICAL)
    text = args.datafile.read_text(encoding="utf-8") if args.datafile else example_datafile()
    users = make_users(args.users)
    ours = Client(datafile=text)
    ref = optimizely.Optimizely(datafile=text)
    flag_keys = list(ours.config.flags) if ours.config else []
    ours_ctx = [ours.create_user_context(uid, a) for uid, a in users]
    ref_ctx = [ref.create_user_context(uid, a) for uid, a in users]
    keys = cycle(flag_keys)
    o_ctx, r_ctx = cycle(ours_ctx), cycle(ref_ctx)
    no_event = [DecideOption.DISABLE_DECISION_EVENT]
    ref_no_event = [OptimizelyDecideOption.DISABLE_DECISION_EVENT]
    n_dec = args.users
    n_all = max(200, args.users // 20)
    results: list[tuple[str, float, float]] = []

    # Warm both up so neither pays first-call costs in the timed rounds.
    for _ in range(200):
        o_ctx().decide(keys(), no_event)
        r_ctx().decide(keys(), ref_no_event)

    results.append(
        (
            "decide (no event)",
            per_call_us(lambda: o_ctx().decide(keys(), no_event), n_dec, args.rounds),
            per_call_us(lambda: r_ctx().decide(keys(), ref_no_event), n_dec // 5, args.rounds),
        )
    )
    results.append(
        (
            f"decide_all ({len(flag_keys)} flags)",
            per_call_us(lambda: o_ctx().decide_all(no_event), n_all // 4, args.rounds),
            per_call_us(lambda: r_ctx().decide_all(ref_no_event), n_all // 20, args.rounds),
        )
    )
    u = cycle(users)

    def ours_create() -> object:
        uid, attrs = u()
        return ours.create_user_context(uid, attrs)

    def ref_create() -> object:
        uid, attrs = u()
        return ref.create_user_context(uid, attrs)

    results.append(
        (
            "create_user_context",
            per_call_us(ours_create, n_dec, args.rounds),
            per_call_us(ref_create, n_dec, args.rounds),
        )
    )

    def ref_construct() -> None:
        optimizely.Optimizely(datafile=text).close()

    results.append(
        (
            "client construction",
            per_call_us(lambda: Client(datafile=text), 10, args.rounds),
            per_call_us(ref_construct, 5, args.rounds),
        )
    )
    ref.close()

    name = args.datafile.name if args.datafile else "example_datafile.json (50 flags)"
    print(f"datafile: {name}, users: {args.users}, rounds: {args.rounds} (medians)")
    print(f"{'operation':<24} {'asyncexp µs':>12} {'optimizely µs':>14} {'ratio':>8}")
    for name, ours_us, ref_us in results:
        print(f"{name:<24} {ours_us:>12.2f} {ref_us:>14.2f} {ref_us / ours_us:>7.1f}x")


if __name__ == "__main__":
    main()
