"""The project-config view: every field, the audience strings and the camelCase form.

Expectations are written by hand from reference §8 and ``tests/datafiles.py``;
the differential comparison with optimizely-sdk is in
``tests/compat/test_config_view_compat.py``.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from typing import Any

import pytest

from asyncexp.core.flags.datafile import parse_datafile
from asyncexp.flags.config_view import (
    AttributeView,
    AudienceView,
    EventView,
    ProjectConfigView,
    VariableView,
    build_config_view,
)
from asyncexp.flags.config_view_audiences import render_audiences
from tests.datafiles import base_datafile

NAMES = {"1": "A", "2": "B", "3": "C"}

DEFAULTS = {
    "show": ("v_bool", "boolean", "false"),
    "count": ("v_int", "integer", "1"),
    "price": ("v_double", "double", "9.5"),
    "label": ("v_str", "string", "default"),
    "blob": ("v_json", "json", '{"a": 1}'),
    "legacy": ("v_sjson", "json", "[1]"),  # string + subType json shows as json
}


def view_of(doc: dict[str, Any]) -> ProjectConfigView:
    return build_config_view(parse_datafile(json.dumps(doc)))


def values(variables: Any) -> dict[str, str]:
    return {key: var.value for key, var in variables.items()}


def default_values(**changes: str) -> dict[str, str]:
    return {key: value for key, (_id, _type, value) in DEFAULTS.items()} | changes


# -- the rendering table of §8, row by row -----------------------------------------------


@pytest.mark.parametrize(
    ("conditions", "expected"),
    [
        (["1"], '"A"'),
        (["and", "1"], '"A"'),
        (["not", "1"], 'NOT "A"'),
        (["or", "1", "2"], '"A" OR "B"'),
        (["and", "1", "2", "3"], '"A" AND "B" AND "C"'),
        (["and", ["or", "1", "2"], "3"], '("A" OR "B") AND "C"'),
        (["or", "1", ["and", "2", "3"]], '"A" OR ("B" AND "C")'),
        (["not", ["or", "1", "2"]], 'NOT ("A" OR "B")'),
        (["1", "2"], '"A" OR "B"'),
        (["and", ["or", "1"], ["or", "2"]], '("A") AND ("B")'),
        ([], ""),
    ],
)
def test_reference_rendering_table(conditions: list[Any], expected: str) -> None:
    assert render_audiences(conditions, NAMES) == expected


@pytest.mark.parametrize(
    ("conditions", "expected"),
    [
        # Where the reference's output is malformed or it raises: always well formed here.
        (["and", ["or", "1", "2"], "3", "1"], '("A" OR "B") AND "C" AND "A"'),
        (["or", ["not", "1"], ["and", "2"], ["or", "3"]], '(NOT "A") OR ("B") OR ("C")'),
        (["and", ["or", "1", "2"]], '("A" OR "B")'),
        ([["or", "1", "2"]], '("A" OR "B")'),
        # As evaluation reads them: "not" takes one operand, later operator words are ids.
        (["not", "1", "2"], 'NOT "A"'),
        (["1", "and", "2"], '"A" OR "and" OR "B"'),
        ("2", '"B"'),
        # Unknown ids stay as the id; an operator without operands and None render nothing.
        (["or", "1", "404"], '"A" OR "404"'),
        (["and"], ""),
        (["not"], ""),
        (None, ""),
        (["and", [], "1"], '() AND "A"'),
        (["or", "1", 7], '"A" OR "7"'),
        (["and", ["or", ["not", "1"], "2"], "3"], '((NOT "A") OR "B") AND "C"'),
    ],
)
def test_rendering_outside_the_table(conditions: Any, expected: str) -> None:
    assert render_audiences(conditions, NAMES) == expected


def test_names_are_inserted_verbatim() -> None:
    assert render_audiences(["or", "1"], {"1": 'say "hi" (now)'}) == '"say "hi" (now)"'


# -- the view of tests/datafiles.base_datafile ---------------------------------------------


def test_top_level_fields_and_exact_datafile_text() -> None:
    text = json.dumps(base_datafile(), indent=3, sort_keys=True)  # unusual layout on purpose
    view = build_config_view(parse_datafile(text))
    assert (view.revision, view.sdk_key, view.environment_key) == ("7", "sdk-test", "production")
    assert view.get_datafile() == text
    assert text not in repr(view)  # the datafile is not dumped into reprs


def test_missing_sdk_key_and_environment_key_are_empty_strings() -> None:
    doc = base_datafile()
    del doc["sdkKey"]
    doc["environmentKey"] = None
    view = view_of(doc)
    assert (view.sdk_key, view.environment_key) == ("", "")


def test_experiments_map_holds_experiments_and_group_experiments_only() -> None:
    view = view_of(base_datafile())
    assert list(view.experiments_map) == ["checkout_test", "group_a", "group_b"]
    checkout = view.experiments_map["checkout_test"]
    assert (checkout.id, checkout.key) == ("exp_checkout", "checkout_test")
    assert checkout.audiences == '"Adults"'  # the typed audience's name wins
    assert view.experiments_map["group_a"].audiences == ""  # no audiences at all


def test_experiment_variations_apply_values_only_when_enabled() -> None:
    variations = view_of(base_datafile()).experiments_map["checkout_test"].variations_map
    assert list(variations) == ["control", "treatment"]
    control, treatment = variations["control"], variations["treatment"]
    assert (control.id, control.key, control.feature_enabled) == ("101", "control", False)
    assert values(control.variables_map) == default_values()  # its "5" is ignored: disabled
    assert treatment.feature_enabled is True
    assert values(treatment.variables_map) == default_values(
        show="true", count="7", price="1.25", label="on", blob='{"a": 2}'
    )
    assert treatment.variables_map["blob"] == VariableView("v_json", "blob", "json", '{"a": 2}')
    assert treatment.variables_map["legacy"] == VariableView("v_sjson", "legacy", "json", "[1]")


def test_feature_fields() -> None:
    view = view_of(base_datafile())
    assert list(view.features_map) == ["checkout", "grouped_a", "grouped_b", "rollout_only"]
    checkout = view.features_map["checkout"]
    assert (checkout.id, checkout.key) == ("f_checkout", "checkout")
    assert {k: (v.id, v.type, v.value) for k, v in checkout.variables_map.items()} == DEFAULTS
    assert list(checkout.variables_map) == list(DEFAULTS)
    # Experiment rules are the very objects of experiments_map.
    assert checkout.experiment_rules == (view.experiments_map["checkout_test"],)
    assert checkout.experiment_rules[0] is view.experiments_map["checkout_test"]
    assert dict(checkout.experiments_map) == {"checkout_test": checkout.experiment_rules[0]}
    assert [r.key for r in checkout.delivery_rules] == ["us_rule", "everyone_else"]
    assert view.features_map["grouped_a"].delivery_rules == ()
    assert dict(view.features_map["grouped_a"].variables_map) == {}
    assert view.features_map["rollout_only"].experiment_rules == ()


def test_delivery_rules_show_real_values_and_render_audience_ids() -> None:
    """Both deliberate differences: the reference shows defaults and ''."""
    view = view_of(base_datafile())
    us_rule, everyone_else = view.features_map["checkout"].delivery_rules
    assert (us_rule.id, us_rule.audiences) == ("rule_us", '"US"')
    on = us_rule.variations_map["on"]
    assert (on.id, on.feature_enabled) == ("501", True)
    assert values(on.variables_map) == default_values(label="targeted")
    assert everyone_else.audiences == ""
    off = everyone_else.variations_map["off"]
    assert values(off.variables_map) == default_values()
    half = view.features_map["rollout_only"].delivery_rules[0]
    assert values(half.variations_map["on"].variables_map) == default_values(label="rollout")


def test_rollout_shared_by_two_flags_shows_each_flags_variables() -> None:
    doc = base_datafile()
    doc["featureFlags"][2]["rolloutId"] = "ro_only"  # grouped_b: no variables
    view = view_of(doc)
    shared = view.features_map["grouped_b"].delivery_rules[0].variations_map["on"]
    assert dict(shared.variables_map) == {}
    own = view.features_map["rollout_only"].delivery_rules[0].variations_map["on"]
    assert own.variables_map["label"].value == "rollout"


def test_experiment_outside_any_flag_has_no_variables() -> None:
    doc = base_datafile()
    doc["featureFlags"] = [f for f in doc["featureFlags"] if f["key"] != "checkout"]
    treatment = view_of(doc).experiments_map["checkout_test"].variations_map["treatment"]
    assert treatment.feature_enabled is True
    assert dict(treatment.variables_map) == {}


def test_feature_enabled_absent_is_none() -> None:
    doc = base_datafile()
    del doc["experiments"][0]["variations"][0]["featureEnabled"]
    control = view_of(doc).experiments_map["checkout_test"].variations_map["control"]
    assert control.feature_enabled is None
    assert values(control.variables_map) == default_values()


def test_feature_rollout_experiment_lists_the_injected_variation() -> None:
    doc = base_datafile()
    doc["experiments"][0]["type"] = "fr"
    del doc["rollouts"][0]["experiments"][-1]["variations"][0]["featureEnabled"]
    variations = view_of(doc).experiments_map["checkout_test"].variations_map
    assert list(variations) == ["control", "treatment", "off"]
    # The reference's injected copy defaults featureEnabled to false; so does the view.
    assert variations["off"].feature_enabled is False
    delivery = view_of(doc).features_map["checkout"].delivery_rules[-1]
    assert delivery.variations_map["off"].feature_enabled is None


def test_duplicate_experiment_key_last_wins_in_first_position() -> None:
    doc = base_datafile()
    doc["groups"][0]["experiments"][1]["key"] = "checkout_test"
    view = view_of(doc)
    assert list(view.experiments_map) == ["checkout_test", "group_a"]
    assert view.experiments_map["checkout_test"].id == "exp_gb"


def test_attributes_events_and_audiences() -> None:
    doc = base_datafile()
    doc["audiences"].append(
        {"id": "$opt_dummy_audience", "name": "Optimizely-Generated", "conditions": "[]"}
    )
    doc["events"].append({"id": "ev_2", "key": "purchase", "experimentIds": ["exp_gb", "exp_ga"]})
    view = view_of(doc)
    assert view.attributes == (
        AttributeView("attr_age", "age"),
        AttributeView("attr_country", "country"),
        AttributeView("attr_opt", "$opt_reserved"),
    )
    # Repeated keys and the experiment id order are kept.
    assert view.events == (
        EventView("ev_buy", "purchase", ("exp_checkout",)),
        EventView("ev_2", "purchase", ("exp_gb", "exp_ga")),
    )
    # Typed first (json.dumps text), then legacy ones not overridden, never the dummy.
    assert view.audiences == (
        AudienceView(
            "aud_adult",
            "Adults",
            '["and", {"type": "custom_attribute", "name": "age", "match": "ge", "value": 18}]',
        ),
        AudienceView(
            "aud_vip",
            "VIP",
            '["or", {"type": "third_party_dimension", "name": "odp.audiences", '
            '"match": "qualified", "value": "vip"}]',
        ),
        AudienceView("aud_us", "US", doc["audiences"][0]["conditions"]),
    )


def test_unknown_audience_id_renders_as_the_id() -> None:
    doc = base_datafile()
    doc["experiments"][0]["audienceConditions"] = ["and", "aud_us", ["not", "aud_gone"]]
    view = view_of(doc)
    assert view.experiments_map["checkout_test"].audiences == '"US" AND (NOT "aud_gone")'


def test_audience_conditions_win_over_audience_ids() -> None:
    doc = base_datafile()
    rule = doc["experiments"][0]
    rule["audienceIds"] = ["aud_us"]
    rule["audienceConditions"] = []
    assert view_of(doc).experiments_map["checkout_test"].audiences == ""
    rule["audienceConditions"] = None  # null counts as absent, as in evaluation
    assert view_of(doc).experiments_map["checkout_test"].audiences == '"US"'


# -- immutability and the camelCase form --------------------------------------------------


def test_view_is_immutable() -> None:
    view = view_of(base_datafile())
    with pytest.raises(dataclasses.FrozenInstanceError):
        view.revision = "8"  # type: ignore[misc]
    with pytest.raises(TypeError):
        view.features_map["x"] = view.features_map["checkout"]  # type: ignore[index]
    variation = view.experiments_map["checkout_test"].variations_map["treatment"]
    with pytest.raises(TypeError):
        variation.variables_map["show"] = variation.variables_map["count"]  # type: ignore[index]
    assert isinstance(view.attributes, tuple)
    assert isinstance(view.events[0].experiment_ids, tuple)


def test_to_dict_uses_the_object_model_names() -> None:
    doc = base_datafile()
    data = view_of(doc).to_dict()
    assert list(data) == [
        "revision",
        "sdkKey",
        "environmentKey",
        "experimentsMap",
        "featuresMap",
        "attributes",
        "audiences",
        "events",
    ]
    assert (data["revision"], data["sdkKey"], data["environmentKey"]) == (
        "7",
        "sdk-test",
        "production",
    )
    feature = data["featuresMap"]["checkout"]
    assert list(feature) == [
        "id",
        "key",
        "experimentRules",
        "deliveryRules",
        "experimentsMap",
        "variablesMap",
    ]
    experiment = feature["experimentRules"][0]
    assert experiment == data["experimentsMap"]["checkout_test"]
    assert list(experiment) == ["id", "key", "audiences", "variationsMap"]
    treatment = experiment["variationsMap"]["treatment"]
    assert list(treatment) == ["id", "key", "featureEnabled", "variablesMap"]
    assert treatment["featureEnabled"] is True
    assert treatment["variablesMap"]["count"] == {
        "id": "v_int",
        "key": "count",
        "type": "integer",
        "value": "7",
    }
    assert feature["deliveryRules"][0]["audiences"] == '"US"'
    assert feature["experimentsMap"] == {"checkout_test": experiment}
    assert feature["variablesMap"]["legacy"]["type"] == "json"
    assert data["attributes"][0] == {"id": "attr_age", "key": "age"}
    assert data["audiences"][2] == {
        "id": "aud_us",
        "name": "US",
        "conditions": doc["audiences"][0]["conditions"],
    }
    assert data["events"] == [
        {"id": "ev_buy", "key": "purchase", "experimentIds": ["exp_checkout"]}
    ]
    assert json.loads(json.dumps(data)) == data  # plain JSON types only


def test_to_dict_returns_fresh_copies() -> None:
    view = view_of(base_datafile())
    first = view.to_dict()
    expected = copy.deepcopy(first)
    first["featuresMap"]["checkout"]["experimentRules"].clear()
    first["events"][0]["experimentIds"].append("x")
    assert view.to_dict() == expected
    assert view.features_map["checkout"].experiment_rules != ()
