"""µs per ``decide_treatment`` for an AppConfig experiment run with a 3-clause audience rule.

The run has a control and two treatments, 100% exposure (so every decision
goes through the audience, both hashes and the weighted choice) and the
audience rule ``(and (eq $country "US") (gte $age 18) (in $plan ["pro", "team"]))``.
Contexts are 10,000 generated users, about half of them in the audience. Each figure
is the median over interleaved rounds of the mean µs per call.

    python benchmarks/bench_appconfig.py [--users N] [--rounds R]
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import time
from collections.abc import Callable
from typing import Any

from asyncexp.aio.appconfig import AppConfigExperiments
from asyncexp.core.appconfig import assign, compile_rule, parse_experiment_run

AUDIENCE = '(and (eq $country "US") (gte $age 18) (in $plan ["pro", "team"]))'


def make_run(audience: str | None = AUDIENCE, exposure: float = 100.0) -> dict[str, Any]:
    snapshot: dict[str, Any] = {
        "FlagKey": "checkout",
        "Control": {"Key": "c", "Weight": 1.0, "FlagValue": {"Enabled": False}},
        "Treatments": [
            {
                "Key": "t1",
                "Weight": 1.0,
                "FlagValue": {
                    "Enabled": True,
                    "AttributeValues": {"color": {"StringValue": "red"}},
                },
            },
            {"Key": "t2", "Weight": 1.0, "FlagValue": {"Enabled": True}},
        ],
    }
    if audience is not None:
        snapshot["AudienceRule"] = audience
    return {
        "ApplicationId": "app1",
        "ExperimentDefinitionId": "exp1",
        "Run": 1,
        "Status": "RUNNING",
        "ExposurePercentage": exposure,
        "ExperimentDefinitionSnapshot": snapshot,
    }


def make_users(n: int, seed: int = 11) -> list[tuple[str, dict[str, Any]]]:
    rng = random.Random(seed)
    return [
        (
            f"user-{i}",
            {
                "country": rng.choice(["US", "US", "US", "DE"]),
                "age": rng.randint(15, 80),
                "plan": rng.choice(["pro", "team", "team", "free"]),
                "device": rng.choice(["ios", "android", "web"]),
            },
        )
        for i in range(n)
    ]


def time_once(fn: Callable[[str, dict[str, Any]], object], users: list[Any]) -> float:
    """Mean µs per call over one pass of ``users``."""
    gc.collect()
    start = time.perf_counter()
    for entity, context in users:
        fn(entity, context)
    return (time.perf_counter() - start) / len(users) * 1e6


class NullCollector:
    def __init__(self) -> None:
        self.count = 0

    def submit(self, item: dict[str, Any], /) -> None:
        self.count += 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    users = make_users(args.users)
    data = make_run()
    run = parse_experiment_run(data)
    rule = compile_rule(AUDIENCE)

    plain = AppConfigExperiments()
    plain.load_run(data)
    recording = AppConfigExperiments(NullCollector())
    recording.load_run(data)
    no_audience = AppConfigExperiments()
    no_audience.load_run(make_run(audience=None))

    in_audience = sum(rule.matches(ctx) for _, ctx in users) / len(users)
    rows = [
        ("audience rule alone (3 clauses)", lambda e, c: rule.evaluate(c)),
        ("core assign()", lambda e, c: assign(run, e, c)),
        ("decide_treatment, no collector", plain.decide_treatment),
        ("decide_treatment, recording events", recording.decide_treatment),
        ("decide_treatment, no audience rule", no_audience.decide_treatment),
    ]
    samples: dict[str, list[float]] = {name: [] for name, _ in rows}
    for _ in range(args.rounds):  # interleaved, so drift in machine load hits every row alike
        for name, fn in rows:
            samples[name].append(time_once(fn, users))
    print(f"{len(users)} users, {in_audience:.0%} in the audience, median of {args.rounds} rounds")
    for name, _ in rows:
        print(f"  {name:<40} {statistics.median(samples[name]):7.2f} µs/call")


if __name__ == "__main__":
    main()
