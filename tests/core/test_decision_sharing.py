"""Decisions share immutable parts (the user snapshot, cast variables, impression
parts) but each caller sees its own copies: changing one decision, or the context
after a decide, never shows in another decision; every context change is seen by
the next decide."""

from __future__ import annotations

from typing import Any

from asyncexp.client import Client
from asyncexp.core.flags.decision_types import DecideOption, DecisionContext, ForcedDecision
from asyncexp.testing import CapturingCollector, DatafileBuilder


def _client() -> tuple[Client, CapturingCollector]:
    builder = DatafileBuilder(revision="1")
    pro = builder.audience(
        "pro", ["and", {"type": "custom_attribute", "name": "plan", "value": "pro"}]
    )
    seg = builder.audience(
        "seg",
        [
            "and",
            {
                "type": "third_party_dimension",
                "name": "odp.audiences",
                "match": "qualified",
                "value": "vip",
            },
        ],
    )
    flag = builder.flag("f")
    flag.variable("label", "default").variable("blob", {"a": [1]})
    flag.variation("off", enabled=False)
    flag.variation("on", variables={"label": "pro", "blob": {"a": [2]}})
    flag.variation("vip", variables={"label": "vip"})
    flag.rollout_rule("pro_rule", "on", audiences=[pro])
    flag.rollout_rule("vip_rule", "vip", audiences=[seg])
    flag.everyone_else("off")
    collector = CapturingCollector()
    return Client(datafile=builder.build(), collector=collector), collector


def test_variables_are_each_decisions_own() -> None:
    client, _ = _client()
    user = client.create_user_context("u", {"plan": "pro"})
    first = user.decide("f")
    assert first.variables == {"label": "pro", "blob": {"a": [2]}}
    first.variables["label"] = "changed"
    first.variables["blob"]["a"].append(3)
    second = user.decide("f")
    assert second.variables == {"label": "pro", "blob": {"a": [2]}}
    assert user.decide_all()["f"].variables == {"label": "pro", "blob": {"a": [2]}}
    assert user.decide("f", [DecideOption.EXCLUDE_VARIABLES]).variables == {}


def test_user_context_of_a_decision_is_its_own_snapshot() -> None:
    client, _ = _client()
    user = client.create_user_context("u", {"plan": "pro"})
    first, second = user.decide("f"), user.decide("f")
    assert first.user_context is not None
    assert second.user_context is not None
    assert first.user_context is not second.user_context
    first.user_context.set_attribute("plan", "free")
    assert second.user_context.get_user_attributes() == {"plan": "pro"}
    assert user.get_user_attributes() == {"plan": "pro"}
    assert user.decide("f").variation_key == "on"  # the live context was not touched
    user.set_attribute("extra", 1)
    assert second.user_context.get_user_attributes() == {"plan": "pro"}
    first.reasons.append("mine")
    assert user.decide("f").reasons == []


def test_every_change_is_seen_by_the_next_decide() -> None:
    client, collector = _client()
    user = client.create_user_context("u", {"plan": "pro"})
    assert user.decide("f").variation_key == "on"
    user.set_attribute("plan", "free")
    assert user.decide("f").variation_key == "off"
    user.set_qualified_segments(["vip"])
    assert user.decide("f").variation_key == "vip"
    assert user.decide_all()["f"].variation_key == "vip"
    user.set_qualified_segments(None)
    assert user.decide("f").variation_key == "off"
    context = DecisionContext("f", None)
    user.set_forced_decision(context, ForcedDecision("on"))
    assert user.decide("f").variation_key == "on"
    user.remove_forced_decision(context)
    assert user.decide("f").variation_key == "off"
    user.set_forced_decision(context, ForcedDecision("vip"))
    user.remove_all_forced_decisions()
    assert user.decide("f").variation_key == "off"
    # Impressions carry the attributes as they were at each decide.
    values: list[Any] = [
        [a["value"] for a in event.visitor["attributes"] if a["key"] == "plan"]
        for event in collector.events
    ]
    assert values[0] == ["pro"]
    assert values[-1] == ["free"]


def test_a_decision_listener_added_or_removed_later_is_seen_at_once() -> None:
    client = Client(datafile=_client()[0].config.raw)  # type: ignore[union-attr]
    user = client.create_user_context("u", {"plan": "pro"})
    seen: list[str] = []
    assert user.decide("f").variation_key == "on"
    client.notifications.add_listener("DECISION", lambda *args: seen.append(args[3]["flag_key"]))
    user.decide("f")
    user.decide_all()
    assert seen == ["f", "f"]
    client.notifications.clear("DECISION")
    user.decide("f")
    assert seen == ["f", "f"]
