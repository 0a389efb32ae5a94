"""The decide flow: experiments, rollouts, groups, holdouts, forced decisions, options."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from asyncexp.client import Client
from asyncexp.core.flags.bucketing import bucket_value
from asyncexp.core.flags.decision_types import DecideOption, DecisionContext, ForcedDecision
from asyncexp.testing import CapturingCollector, DatafileBuilder
from tests.datafiles import base_datafile, holdout

R = DecideOption.INCLUDE_REASONS


def make(doc: dict[str, Any] | None = None, **kw: Any) -> tuple[Client, CapturingCollector]:
    col = CapturingCollector()
    return Client(datafile=doc or base_datafile(), collector=col, **kw), col


def find_user(pred: Callable[[str], bool]) -> str:
    return next(f"user{i}" for i in range(10000) if pred(f"user{i}"))


def test_experiment_treatment_and_control() -> None:
    client, _ = make()
    treated = find_user(lambda u: bucket_value(u + "exp_checkout") >= 5000)
    d = client.create_user_context(treated, {"age": 30}).decide("checkout")
    assert (d.variation_key, d.enabled, d.rule_key) == ("treatment", True, "checkout_test")
    assert d.variables == {
        "show": True,
        "count": 7,
        "price": 1.25,
        "label": "on",
        "blob": {"a": 2},
        "legacy": [1],
    }
    control = find_user(lambda u: bucket_value(u + "exp_checkout") < 5000)
    d = client.create_user_context(control, {"age": 30}).decide("checkout")
    assert (d.variation_key, d.enabled) == ("control", False)
    assert d.variables["count"] == 1  # disabled variation → defaults, not its own "5"


def test_rollout_targeted_and_everyone_else() -> None:
    client, _ = make()
    d = client.create_user_context("kid", {"age": 10, "country": "US"}).decide("checkout")
    assert (d.variation_key, d.rule_key, d.variables["label"]) == ("on", "us_rule", "targeted")
    d = client.create_user_context("kid", {"age": 10, "country": "FR"}).decide("checkout")
    assert (d.variation_key, d.rule_key, d.enabled) == ("off", "everyone_else", False)
    # A missing attribute makes the audience UNKNOWN, which does not qualify.
    d = client.create_user_context("nobody").decide("checkout", [R])
    assert d.rule_key == "everyone_else"
    assert 'Audiences for experiment "checkout_test" collectively evaluated to FALSE.' in d.reasons


def test_traffic_miss_skips_to_everyone_else() -> None:
    client, _ = make()
    user = find_user(lambda u: bucket_value(u + "rule_half") >= 5000)
    d = client.create_user_context(user, {"country": "US"}).decide("rollout_only", [R])
    assert d.rule_key == "only_everyone_else"
    assert (
        f'User "{user}" not bucketed into a targeting rule 1. Checking "Everyone Else" rule now.'
        in d.reasons
    )
    # The Everyone Else rule is evaluated next.
    assert "Evaluating audiences for rule Everyone Else: []." in d.reasons


def test_mutually_exclusive_group() -> None:
    client, _ = make()
    for i in range(200):
        uid = f"g{i}"
        ds = client.create_user_context(uid).decide_for_keys(["grouped_a", "grouped_b"])
        in_a = bucket_value(uid + "grp") < 5000
        assert ds["grouped_a"].enabled is in_a
        assert ds["grouped_b"].enabled is not in_a


def test_paused_experiment_is_skipped_with_reason() -> None:
    doc = base_datafile()
    doc["experiments"][0]["status"] = "Paused"
    client, _ = make(doc)
    d = client.create_user_context("u", {"age": 40, "country": "US"}).decide("checkout", [R])
    assert d.rule_key == "us_rule"
    assert 'Experiment "checkout_test" is not running.' in d.reasons


def test_whitelisting_by_user_id() -> None:
    doc = base_datafile()
    control = find_user(lambda u: bucket_value(u + "exp_checkout") < 5000)
    doc["experiments"][0]["forcedVariations"] = {control: "treatment"}
    client, _ = make(doc)
    d = client.create_user_context(control, {"age": 40}).decide("checkout", [R])
    assert d.variation_key == "treatment"
    assert f'User "{control}" is forced in variation "treatment".' in d.reasons


def test_bucketing_id_attribute() -> None:
    client, _ = make()
    treated = find_user(lambda u: bucket_value(u + "exp_checkout") >= 5000)
    control = find_user(lambda u: bucket_value(u + "exp_checkout") < 5000)
    d = client.create_user_context(control, {"age": 30, "$opt_bucketing_id": treated}).decide(
        "checkout"
    )
    assert d.variation_key == "treatment"
    d = client.create_user_context(control, {"age": 30, "$opt_bucketing_id": 5}).decide(
        "checkout", [R]
    )
    assert d.variation_key == "control"
    assert "Bucketing ID attribute is not a string. Defaulted to user_id." in d.reasons


def test_flag_level_forced_decision() -> None:
    doc = base_datafile()
    doc["holdouts"] = [holdout("h1", "everyone_held")]
    client, col = make(doc)
    user = client.create_user_context("u", {"age": 30})
    user.set_forced_decision(DecisionContext("checkout"), ForcedDecision("on"))
    d = user.decide("checkout", [R])
    # The forced variation wins over the holdout; "on" is found in the flag's rollout rules.
    assert (d.variation_key, d.rule_key, d.enabled) == ("on", None, True)
    assert (
        "Variation (on) is mapped to flag (checkout) and user (u) in the forced decision map."
        in d.reasons
    )
    decision = col.payloads()[-1]["visitors"][0]["snapshots"][0]["decisions"][0]
    assert decision["campaign_id"] == ""
    assert decision["experiment_id"] == ""
    assert decision["metadata"]["rule_type"] == "feature-test"
    assert user.get_forced_decision(DecisionContext("checkout")) == ForcedDecision("on")
    assert user.remove_forced_decision(DecisionContext("checkout")) is True
    assert user.remove_forced_decision(DecisionContext("checkout")) is False


def test_invalid_forced_decision_falls_through() -> None:
    client, _ = make()
    user = client.create_user_context("u", {"age": 5, "country": "US"})
    user.set_forced_decision(DecisionContext("checkout"), ForcedDecision("nope"))
    d = user.decide("checkout", [R])
    assert d.rule_key == "us_rule"
    invalid = "Invalid variation is mapped to flag (checkout) and user (u)"
    assert d.reasons.count(f"{invalid} in the forced decision map.") == 1


def test_rule_level_forced_decision_checks_the_rule() -> None:
    client, _ = make()
    user = client.create_user_context("u", {"age": 30})
    user.set_forced_decision(DecisionContext("checkout", "us_rule"), ForcedDecision("on"))
    user.set_forced_decision(
        DecisionContext("checkout", "checkout_test"), ForcedDecision("control")
    )
    assert user.decide("checkout").rule_key == "checkout_test"
    assert user.decide("checkout").variation_key == "control"
    # A variation of another rule of the flag is not accepted (the reference accepts it).
    user.set_forced_decision(DecisionContext("checkout", "checkout_test"), ForcedDecision("off"))
    d = user.decide("checkout", [R])
    invalid = "Invalid variation is mapped to flag (checkout), rule (checkout_test) and user (u)"
    assert f"{invalid} in the forced decision map." in d.reasons
    user.remove_all_forced_decisions()
    assert user.get_forced_decision(DecisionContext("checkout", "us_rule")) is None


def test_forced_decision_on_delivery_rule() -> None:
    client, _ = make()
    user = client.create_user_context("u", {"age": 5})
    user.set_forced_decision(DecisionContext("checkout", "us_rule"), ForcedDecision("on"))
    d = user.decide("checkout")
    assert (d.rule_key, d.variation_key) == ("us_rule", "on")


def test_global_holdout() -> None:
    doc = base_datafile()
    doc["holdouts"] = [holdout("h1", "held", traffic=10000)]
    client, col = make(doc)
    d = client.create_user_context("u", {"age": 30}).decide("checkout", [R])
    assert (d.variation_key, d.rule_key, d.enabled) == ("ho_off", "held", False)
    assert d.variables["count"] == 1
    assert "The user 'u' is bucketed into holdout 'held' for feature flag 'checkout'." in d.reasons
    decision = col.payloads()[-1]["visitors"][0]["snapshots"][0]["decisions"][0]
    assert decision["metadata"]["rule_type"] == "holdout"
    assert decision["campaign_id"] == "h1"  # holdouts have no layer: the id is used


def test_holdout_audience_and_traffic_miss() -> None:
    doc = base_datafile()
    doc["holdouts"] = [
        holdout("h1", "us_only", audienceIds=["aud_us"]),
        holdout("h2", "nobody", traffic=0),
    ]
    client, _ = make(doc)
    d = client.create_user_context("u", {"age": 5, "country": "FR"}).decide("checkout", [R])
    assert d.rule_key == "everyone_else"
    assert "User 'u' does not meet the conditions for holdout 'us_only'." in d.reasons
    assert "User 'u' is not bucketed into any variation for holdout 'nobody'." in d.reasons


def test_holdout_excluding_targeted_deliveries() -> None:
    doc = base_datafile()
    doc["holdouts"] = [holdout("h1", "soft", excludeTargetedDeliveries=True)]
    client, col = make(doc)
    d = client.create_user_context("u", {"age": 30, "country": "US"}).decide("checkout", [R])
    assert d.rule_key == "us_rule"  # experiment skipped, delivery rule still applies
    kinds = [
        p["visitors"][0]["snapshots"][0]["decisions"][0]["metadata"]["rule_type"]
        for p in col.payloads()
    ]
    assert kinds == ["holdout", "rollout"]


def test_local_holdout_applies_only_to_its_rules() -> None:
    doc = base_datafile()
    doc["localHoldouts"] = [holdout("h3", "local", includedRules=["rule_us"])]
    client, _ = make(doc)
    treated = find_user(lambda u: bucket_value(u + "exp_checkout") >= 5000)
    d = client.create_user_context(treated, {"age": 30}).decide("checkout")
    assert d.rule_key == "checkout_test"
    # Local holdouts run before the rule's own audience check, as in the reference.
    d = client.create_user_context("u", {"age": 5, "country": "FR"}).decide("checkout", [R])
    assert d.rule_key == "local"
    assert (
        "The user 'u' is bucketed into local holdout 'local' for delivery rule 'us_rule'."
        in d.reasons
    )


def test_qualified_segments_drive_audiences() -> None:
    doc = base_datafile()
    doc["rollouts"][0]["experiments"][0]["audienceIds"] = ["aud_vip"]
    client, _ = make(doc)
    user = client.create_user_context("u", {"age": 5})
    assert user.decide("checkout").rule_key == "everyone_else"
    user.set_qualified_segments(["vip"])
    assert user.is_qualified_for("vip")
    assert not user.is_qualified_for("other")
    assert user.decide("checkout").rule_key == "us_rule"
    assert user.get_qualified_segments() == ["vip"]


class MemoryProfiles:
    def __init__(self, stored: dict[str, Any] | None = None, fail: bool = False) -> None:
        self.stored = stored
        self.fail = fail
        self.lookups: list[str] = []
        self.saves: list[dict[str, Any]] = []

    def lookup(self, user_id: str) -> dict[str, Any] | None:
        self.lookups.append(user_id)
        if self.fail:
            raise OSError("store down")
        return self.stored

    def save(self, profile: dict[str, Any]) -> None:
        self.saves.append(profile)


def test_profile_service_one_lookup_one_save_per_call() -> None:
    ups = MemoryProfiles()
    client, _ = make(user_profile_service=ups)
    user = client.create_user_context("u", {"age": 30})
    user.decide_all()
    assert ups.lookups == ["u"]
    assert len(ups.saves) == 1
    saved = ups.saves[0]
    assert saved["user_id"] == "u"
    assert set(saved["experiment_bucket_map"]) == {"exp_checkout", "exp_ga"} or set(
        saved["experiment_bucket_map"]
    ) == {"exp_checkout", "exp_gb"}
    # Nothing new bucketed → lookup but no save; delivery rules are never saved.
    ups.stored = saved
    user.decide_all()
    assert len(ups.lookups) == 2
    assert len(ups.saves) == 1


def test_profile_service_sticky_variation_and_ignore_option() -> None:
    control = find_user(lambda u: bucket_value(u + "exp_checkout") < 5000)
    ups = MemoryProfiles(
        {"user_id": control, "experiment_bucket_map": {"exp_checkout": {"variation_id": "102"}}}
    )
    client, _ = make(user_profile_service=ups)
    user = client.create_user_context(control, {"age": 30})
    d = user.decide("checkout", [R])
    assert d.variation_key == "treatment"
    assert any("from user profile" in r for r in d.reasons)
    assert (
        user.decide("checkout", [DecideOption.IGNORE_USER_PROFILE_SERVICE]).variation_key
        == "control"
    )
    assert len(ups.lookups) == 1


def test_profile_lookup_failure_keeps_deciding_and_never_overwrites() -> None:
    ups = MemoryProfiles(fail=True)
    client, _ = make(user_profile_service=ups)
    decisions = client.create_user_context("u", {"age": 30}).decide_all()
    assert decisions["checkout"].rule_key == "checkout_test"
    assert ups.saves == []


def test_options_variables_enabled_only_and_defaults_untouched() -> None:
    defaults = [DecideOption.ENABLED_FLAGS_ONLY]
    client, _ = make(default_decide_options=defaults)
    user = client.create_user_context("u", {"age": 5, "country": "FR"})
    assert user.decide("checkout").enabled is False  # single decide ignores the filter
    all_ = user.decide_all()
    assert all(d.enabled for d in all_.values())
    assert "checkout" not in all_
    assert user.decide_all() == all_  # the client's defaults were not mutated by decide
    assert defaults == [DecideOption.ENABLED_FLAGS_ONLY]
    d = user.decide("checkout", [DecideOption.EXCLUDE_VARIABLES])
    assert d.variables == {}
    assert user.decide("checkout").reasons == []
    assert user.decide("checkout", ["INCLUDE_REASONS", "NOT_AN_OPTION"]).reasons


def test_reasons_are_not_duplicated() -> None:
    doc = base_datafile()
    doc["holdouts"] = [holdout("h2", "nobody", traffic=0)]
    client, _ = make(doc)
    user = client.create_user_context("u", {"age": 5})
    user.set_forced_decision(DecisionContext("checkout"), ForcedDecision("bad"))
    reasons = user.decide("checkout", [R]).reasons
    assert len(reasons) == len(set(reasons))


def test_unknown_flags_and_bad_types() -> None:
    client, _ = make()
    user = client.create_user_context("u")
    d = user.decide("missing")
    assert d.reasons == ['No flag was found for key "missing".']
    assert (d.variation_key, d.enabled, d.variables, d.rule_key) == (None, False, {}, None)
    many = user.decide_for_keys(["missing", "checkout"])
    assert many["missing"].reasons == ['No flag was found for key "missing".']
    assert "missing" not in user.decide_for_keys(["missing"], [DecideOption.ENABLED_FLAGS_ONLY])
    with pytest.raises(TypeError):
        user.decide(5)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        user.decide_for_keys("checkout")
    with pytest.raises(TypeError):
        client.create_user_context(5)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        client.create_user_context("u", ["not", "a", "dict"])  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        user.decide("checkout", "INCLUDE_REASONS")
    with pytest.raises(TypeError):
        user.set_forced_decision("checkout", ForcedDecision("on"))  # type: ignore[arg-type]


def test_not_configured_client() -> None:
    client = Client()
    user = client.create_user_context("u")
    d = user.decide("checkout")
    assert d.reasons == ["Optimizely SDK not configured properly yet."]
    assert user.decide_all() == {}
    assert user.decide_for_keys(["checkout"]) == {}


def test_decision_snapshot_and_fresh_variables() -> None:
    client, _ = make()
    user = client.create_user_context("u", {"age": 5, "country": "US"})
    d1 = user.decide("checkout")
    d1.variables["blob"]["a"] = 999
    user.set_attribute("country", "FR")
    assert d1.user_context is not None
    assert d1.user_context.get_user_attributes() == {"age": 5, "country": "US"}
    assert d1.as_dict()["user_context"] == {
        "user_id": "u",
        "attributes": {"age": 5, "country": "US"},
    }
    d2 = user.decide("checkout")
    assert d2.variables["blob"] == {"a": 1}
    assert d2.rule_key == "everyone_else"


def test_variable_cast_errors_give_none() -> None:
    doc = base_datafile()
    doc["featureFlags"][0]["variables"][1]["defaultValue"] = "10.5"  # integer
    doc["featureFlags"][0]["variables"][0]["defaultValue"] = "True"  # boolean, case-sensitive
    doc["featureFlags"][0]["variables"][4]["defaultValue"] = "{oops"  # json
    client, _ = make(doc)
    d = client.create_user_context("u").decide("checkout")
    assert d.variables["count"] is None
    assert d.variables["show"] is False
    assert d.variables["blob"] is None


# -- the same flows described with asyncexp.testing.DatafileBuilder -----------


def built_checkout() -> DatafileBuilder:
    """``checkout`` as in tests/datafiles.py: an adults A/B test, a US delivery rule,
    everyone else off; ``rollout_only``: half of the US, then everyone on."""
    builder = DatafileBuilder(revision="7")
    adult = builder.audience(
        "adult", ["and", {"type": "custom_attribute", "name": "age", "match": "ge", "value": 18}]
    )
    us = builder.audience(
        "US",
        ["or", {"type": "custom_attribute", "name": "country", "match": "exact", "value": "US"}],
    )
    flag = builder.flag("checkout").variable("count", 1).variable("label", "default")
    flag.variation("control", enabled=False, variables={"count": 5})
    flag.variation("treatment", variables={"count": 7, "label": "on"})
    flag.variation("on", variables={"label": "targeted"}).variation("off", enabled=False)
    flag.experiment("checkout_test", split={"control": 1, "treatment": 1}, audiences=[adult])
    flag.rollout_rule("us_rule", "on", audiences=[us]).everyone_else("off")
    only = builder.flag("rollout_only").variable("label", "default")
    only.variation("on", variables={"label": "rollout"})
    only.rollout_rule("half_us", "on", percent=50, audiences=[us]).serve("on")
    return builder


def test_built_experiment_treatment_and_control() -> None:
    builder = built_checkout()
    client, _ = make(builder.build())
    rule_id = builder.rule_id("checkout_test")
    treated = find_user(lambda u: bucket_value(u + rule_id) >= 5000)
    d = client.create_user_context(treated, {"age": 30}).decide("checkout")
    assert (d.variation_key, d.enabled, d.rule_key) == ("treatment", True, "checkout_test")
    assert d.variables == {"count": 7, "label": "on"}
    control = find_user(lambda u: bucket_value(u + rule_id) < 5000)
    d = client.create_user_context(control, {"age": 30}).decide("checkout")
    assert (d.variation_key, d.enabled) == ("control", False)
    assert d.variables["count"] == 1  # disabled variation → defaults, not its own 5


def test_built_rollout_targeted_and_everyone_else() -> None:
    client, col = make(built_checkout().build())
    d = client.create_user_context("kid", {"age": 10, "country": "US"}).decide("checkout")
    assert (d.variation_key, d.rule_key, d.variables["label"]) == ("on", "us_rule", "targeted")
    d = client.create_user_context("kid", {"age": 10, "country": "FR"}).decide("checkout")
    assert (d.variation_key, d.rule_key, d.enabled) == ("off", "everyone_else_checkout", False)
    d = client.create_user_context("nobody").decide("checkout", [R])
    assert 'Audiences for experiment "checkout_test" collectively evaluated to FALSE.' in d.reasons
    assert len(col.payloads()) == 3  # sendFlagDecisions: rollout decisions are sent too


def test_built_traffic_miss_skips_to_everyone_else() -> None:
    builder = built_checkout()
    client, _ = make(builder.build())
    rule_id = builder.rule_id("half_us")
    user = find_user(lambda u: bucket_value(u + rule_id) >= 5000)
    d = client.create_user_context(user, {"country": "US"}).decide("rollout_only", [R])
    assert d.rule_key == "everyone_else_rollout_only"
    assert (
        f'User "{user}" not bucketed into a targeting rule 1. Checking "Everyone Else" rule now.'
        in d.reasons
    )
    inside = find_user(lambda u: bucket_value(u + rule_id) < 5000)
    d = client.create_user_context(inside, {"country": "US"}).decide("rollout_only")
    assert (d.rule_key, d.variables) == ("half_us", {"label": "rollout"})


def test_built_global_and_local_holdouts() -> None:
    builder = built_checkout()
    builder.holdout("local", rules=["us_rule"])
    client, _ = make(builder.build())
    d = client.create_user_context("u", {"age": 5, "country": "FR"}).decide("checkout", [R])
    assert d.rule_key == "local"
    assert (
        "The user 'u' is bucketed into local holdout 'local' for delivery rule 'us_rule'."
        in d.reasons
    )
    builder.holdout("held")
    client, col = make(builder.build())
    d = client.create_user_context("u", {"age": 30}).decide("checkout", [R])
    assert (d.variation_key, d.rule_key, d.enabled) == ("off", "held", False)
    assert "The user 'u' is bucketed into holdout 'held' for feature flag 'checkout'." in d.reasons
    decision = col.payloads()[-1]["visitors"][0]["snapshots"][0]["decisions"][0]
    assert decision["metadata"]["rule_type"] == "holdout"
