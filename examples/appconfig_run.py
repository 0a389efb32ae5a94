"""AWS AppConfig experiment runs, evaluated in-process, with assignments sent to a collector.

Runs fully offline: ``python examples/appconfig_run.py``. The run is a
``get_experiment_run`` response loaded with ``client.appconfig.load_run`` (what
polling with ``Client(appconfig_sources=[RunSource(...)])`` and aiobotocore
would fetch; no AWS account is needed to evaluate one). A local ingestion
server on 127.0.0.1 (``asyncexp.testing.IngestionServer``) stands in for the
analytics collector, so every assignment (an Analysys record, ``xwhat``
``AppConfigTreatmentAssignment``, the ``AWS.AppConfig.TreatmentAssignment`` fields inside)
travels over real HTTP through a ``BatchCollector`` and is flushed at close.

It shows ``decide_treatment`` for a few users (an override, the audience rule,
the exposure, the flag's deployed value on fall-through), then the split over
many users, and checks that a second, independent evaluator assigns every user
the same treatment (assignment depends only on the run and the entity id).
``main()`` returns a summary that ``tests/examples`` asserts on.
"""

from __future__ import annotations

import argparse
import asyncio
from collections import Counter
from typing import Any

from asyncexp import AppConfigExperiments, BatchCollector, Client
from asyncexp.core.appconfig import TreatmentDecision
from asyncexp.testing import IngestionServer

# A get_experiment_run response as the service returns it (JSON, ISO-8601 timestamps).
RUN: dict[str, Any] = {
    "ApplicationId": "shop1",
    "ExperimentDefinitionId": "btn2026",
    "Run": 1,
    "Description": "checkout button colour, first run",
    "Status": "RUNNING",
    "ExposurePercentage": 50.0,
    # Pinned entities bypass the audience and the exposure: handy for QA.
    "TreatmentOverrides": {"Inline": {"qa-anna": "red", "qa-bob": "c"}},
    "StartedAt": "2026-07-01T12:00:00Z",
    "ExperimentDefinitionSnapshot": {
        "ApplicationId": "shop1",
        "Id": "btn2026",
        "Name": "checkout-button-colour",
        "FlagKey": "checkout_button",
        "AudienceRule": '(and (eq $country "US") (gte $age 18))',
        "Control": {
            "Key": "c",
            "Weight": 2.0,
            "FlagValue": {"Enabled": True, "AttributeValues": {"color": {"StringValue": "blue"}}},
        },
        "Treatments": [
            {
                "Key": "red",
                "Weight": 1.0,
                "FlagValue": {
                    "Enabled": True,
                    "AttributeValues": {"color": {"StringValue": "red"}},
                },
            },
            {
                "Key": "green",
                "Weight": 1.0,
                "FlagValue": {
                    "Enabled": True,
                    "AttributeValues": {"color": {"StringValue": "green"}},
                },
            },
        ],
    },
}

# The deployed AWS.AppConfig.FeatureFlags document: what users outside the experiment get.
FLAGS: dict[str, Any] = {
    "version": "1",
    "flags": {"checkout_button": {"name": "Checkout button", "attributes": {"color": {}}}},
    "values": {"checkout_button": {"enabled": True, "color": "blue"}},
}

SAMPLES: list[tuple[str, dict[str, Any]]] = [
    ("qa-anna", {}),  # override: assigned without any context
    ("user-1", {"country": "US", "age": 34}),  # in the audience, outside the 50% exposed
    ("user-2", {"country": "US", "age": 41}),
    ("user-5", {"country": "US", "age": 23}),
    ("user-7", {"country": "US", "age": 67}),
    ("user-3", {"country": "US", "age": 16}),  # under age: not in the audience
    ("user-4", {"country": "FR", "age": 29}),  # not in the audience
    ("user-6", {"age": 52}),  # no country: the rule cannot be decided
]


def _row(entity_id: str, decision: TreatmentDecision) -> dict[str, Any]:
    return {
        "entity_id": entity_id,
        "reason": str(decision.reason),
        "treatment": decision.treatment_key,
        "variant": decision.variant,
        "enabled": decision.enabled,
        "color": decision.attributes.get("color"),
    }


async def main(users: int = 1000) -> dict[str, Any]:
    """Decide the sample users and ``users`` more, ship the assignments, return a summary."""
    async with IngestionServer() as server:
        collector = BatchCollector(server.url)
        client = Client(
            collector=collector,
            # Assignments go out as Analysys records of this app (AppConfigTreatmentAssignment).
            app_key="demo",
            appconfig_options={"flags": FLAGS, "region": "us-east-1"},
            # No datafile and no datafile source here: nothing to wait for at start.
            ready_timeout=0,
        )
        async with client:
            run = client.appconfig.load_run(RUN)
            samples = [
                _row(entity, client.appconfig.decide_treatment(entity, context))
                for entity, context in SAMPLES
            ]
            split: Counter[str] = Counter()
            assigned: dict[str, str] = {}
            for i in range(users):
                entity = f"visitor-{i}"
                decision = client.appconfig.decide_treatment(entity, {"country": "US", "age": 30})
                split[decision.treatment_key or str(decision.reason)] += 1
                if decision.treatment_key is not None:
                    assigned[entity] = decision.treatment_key
                if i % 200 == 199:
                    await asyncio.sleep(0)  # let the collector ship while we produce
            appconfig_stats = client.appconfig.stats
        # Leaving the block flushed the collector: the server has every record now.
        records = [
            r["xcontext"] for r in server.records if r["xwhat"] == "AppConfigTreatmentAssignment"
        ]

    # Another evaluator (another process, say) with the same run: the same answers.
    replica = AppConfigExperiments(record_assignments=False)
    replica.load_run(RUN)
    context = {"country": "US", "age": 30}
    disagreements = sum(
        replica.decide_treatment(entity, context).treatment_key != key
        for entity, key in assigned.items()
    )

    summary: dict[str, Any] = {
        "run": run.identity,
        "samples": samples,
        "users": users,
        "split": dict(split),
        "assigned": assigned,
        "replica_disagreements": disagreements,
        "records": records,
        "records_by_treatment": dict(Counter(r["treatmentKey"] for r in records)),
        "assignments_recorded": appconfig_stats.assignments_recorded,
        "assignments_dropped": appconfig_stats.assignments_dropped,
        "collector": collector.stats.as_dict(),
    }

    print(f"run {run.identity}: flag {run.flag_key!r}, {run.exposure_percentage:g}% exposure")
    print(f"{'entity':<9} {'reason':<17} {'treatment':<9} {'variant':<16} color")
    for row in samples:
        print(
            f"{row['entity_id']:<9} {row['reason']:<17} {row['treatment']!s:<9} "
            f"{row['variant']!s:<16} {row['color']}"
        )
    weights = {a.key: a.weight for a in run.arms}
    total = sum(weights.values())
    print(f"\nsplit over {users} users in the audience (expected share in brackets):")
    for key, count in sorted(split.items()):
        expected = (
            run.exposure_percentage / 100 * weights[key] / total
            if key in weights
            else 1 - run.exposure_percentage / 100
        )
        print(f"  {key:<12} {count:>5}  {count / users:6.1%}  ({expected:.1%})")
    print(
        f"\nassignment records received by the collector server: {len(records)} "
        f"{dict(sorted(summary['records_by_treatment'].items()))}; "
        f"an independent evaluator disagreed on {disagreements}"
    )
    return summary


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="asyncexp AppConfig experiment run")
    parser.add_argument("--users", type=int, default=1000)
    args = parser.parse_args()
    asyncio.run(main(args.users))
