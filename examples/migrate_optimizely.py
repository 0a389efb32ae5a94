"""A typical Optimizely Python SDK program, ported by changing its imports and start/close.

Runs on its own: ``python examples/migrate_optimizely.py``. ``run_service``
below is what a service written against ``optimizely-sdk`` does today: a
DECISION listener, ``get_optimizely_config()``, ``decide`` through a user
context, and the pre-decide calls (``activate``, ``get_variation``,
``is_feature_enabled``, typed variable getters, ``get_enabled_features``,
``set_forced_variation``, ``track``). Its body is unchanged; what changed:

* the imports (``optimizely`` and ``enums`` now come from ``asyncexp.compat``);
* start and close: ``async with optimizely.Optimizely(...)`` instead of
  ``optimizely.Optimizely(...)`` ... ``close()``: leaving the block delivers
  every queued event;
* the events endpoint: a local ingestion server on 127.0.0.1
  (``asyncexp.testing.IngestionServer``) through ``collector=``, where the
  reference would take an ``event_dispatcher``.

The datafile is the bundled example (``asyncexp.examples_data``), so the
program runs offline.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from asyncexp.aio.collectors import RealtimeCollector

# Was: from optimizely import optimizely
#      from optimizely.decision.optimizely_decide_option import OptimizelyDecideOption
#      from optimizely.helpers import enums
from asyncexp.compat import optimizely
from asyncexp.compat.optimizely import OptimizelyDecideOption, enums
from asyncexp.examples_data import example_datafile
from asyncexp.testing import IngestionServer

USERS = [
    ("user_00001", {"country": "US", "age": 34, "plan": "pro", "email": "a@corp.example.org"}),
    ("user_00002", {"country": "DE", "age": 19, "plan": "free", "device": "ios"}),
    ("user_00003", {"country": "FR", "age": 52, "plan": "enterprise", "is_beta": True}),
    ("user_00004", {"country": "BR", "age": 27, "plan": "basic", "app_version": "3.1.0"}),
    ("user_00915", {"country": "US", "age": 41}),  # whitelisted in payments_sorting_experiment_1
]


@dataclass
class Outcome:
    """What the service did: the return values it saw, for the example's test."""

    revision: str = ""
    flags_in_config: int = 0
    activated: dict[str, str | None] = field(default_factory=dict)
    enabled_features: dict[str, list[str]] = field(default_factory=dict)
    decisions: dict[str, dict[str, Any]] = field(default_factory=dict)
    forced: str | None = None
    notifications: Counter[str] = field(default_factory=Counter)
    tracked: int = 0


def run_service(optimizely_client: Any, outcome: Outcome) -> None:
    """The service's own code, as written for optimizely-sdk (only plain calls)."""

    def on_decision(decision_type: str, user_id: str, attributes: Any, decision_info: Any) -> None:
        outcome.notifications[decision_type] += 1

    optimizely_client.notification_center.add_notification_listener(
        enums.NotificationTypes.DECISION, on_decision
    )

    config = optimizely_client.get_optimizely_config()
    outcome.revision = config.revision
    outcome.flags_in_config = len(config.features_map)

    for user_id, attributes in USERS:
        user = optimizely_client.create_user_context(user_id, attributes)
        decision = user.decide("cart_copy_test", [OptimizelyDecideOption.INCLUDE_REASONS])
        outcome.decisions[user_id] = {
            "variation_key": decision.variation_key,
            "enabled": decision.enabled,
            "variables": decision.variables,
        }
        user.decide_all([OptimizelyDecideOption.ENABLED_FLAGS_ONLY])

        outcome.activated[user_id] = optimizely_client.activate(
            "payments_sorting_experiment_1", user_id, attributes
        )
        optimizely_client.get_variation("cart_copy_test_experiment_1", user_id, attributes)
        if optimizely_client.is_feature_enabled("search_free_trial", user_id, attributes):
            optimizely_client.get_feature_variable_string(
                "search_free_trial", "string_0", user_id, attributes
            )
        optimizely_client.get_feature_variable_double(
            "cart_copy_test", "double_2", user_id, attributes
        )
        outcome.enabled_features[user_id] = optimizely_client.get_enabled_features(
            user_id, attributes
        )
        optimizely_client.track("purchase", user_id, attributes, {"revenue": 4200})
        outcome.tracked += 1

    # QA forces a variation for one user, then checks it.
    optimizely_client.set_forced_variation("cart_copy_test_experiment_1", "qa-user", "treatment_1")
    outcome.forced = optimizely_client.get_forced_variation(
        "cart_copy_test_experiment_1", "qa-user"
    )
    outcome.activated["qa-user"] = optimizely_client.activate(
        "cart_copy_test_experiment_1", "qa-user"
    )


async def main() -> tuple[Outcome, list[dict[str, Any]]]:
    """Runs the service against a local events endpoint; returns what it saw and what the
    server received (one event batch per request)."""
    outcome = Outcome()
    async with IngestionServer() as server:
        collector = RealtimeCollector(optimizely_events_url=server.events_url)
        # Was: optimizely_client = optimizely.Optimizely(datafile) ... optimizely_client.close()
        async with optimizely.Optimizely(example_datafile(), collector=collector) as client:
            run_service(client, outcome)
        batches = list(server.event_batches)
    visitors = [v for batch in batches for v in batch["visitors"]]
    impressions = sum("decisions" in v["snapshots"][0] for v in visitors)
    print(
        f"revision {outcome.revision}, {outcome.flags_in_config} flags; the server received "
        f"{impressions} impressions and {len(visitors) - impressions} conversions"
    )
    for user_id, features in outcome.enabled_features.items():
        print(f"{user_id}: {len(features)} features on, activated {outcome.activated[user_id]}")
    return outcome, batches


if __name__ == "__main__":
    asyncio.run(main())
