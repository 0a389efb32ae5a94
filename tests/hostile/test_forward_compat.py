"""Unknown extensions degrade per item with one warning; structural errors still refuse."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from optimizely import optimizely

from asyncexp.client import Client
from asyncexp.core.appconfig import parse_experiment_run
from asyncexp.core.flags.datafile import parse_datafile
from asyncexp.errors import ConfigError
from tests.appconfig_samples import run_dict, snapshot
from tests.datafiles import base_datafile

FUTURE_VARIABLES = [
    {"id": "9001", "key": "future", "type": "future_type", "defaultValue": "raw-text"},
    {"id": "9002", "key": "future_int", "type": "future_type", "defaultValue": "12"},
    {"id": "9003", "key": "json_obj", "type": "json", "defaultValue": {"a": 1}},
    {"id": "9004", "key": "json_list", "type": "json", "defaultValue": [1, 2]},
]


def future_datafile() -> dict[str, Any]:
    doc = base_datafile()
    doc["featureFlags"][0]["variables"] = [*doc["featureFlags"][0]["variables"], *FUTURE_VARIABLES]
    doc["someFutureSection"] = {"anything": [1, 2, 3]}  # unknown keys are ignored
    doc["featureFlags"][0]["futureFlagField"] = True
    return doc


def test_future_variables_degrade_with_one_warning_each() -> None:
    config = parse_datafile(json.dumps(future_datafile()))
    flag = config.flags["checkout"]
    assert {v.key for v in flag.variables} >= {"future", "future_int", "json_obj", "json_list"}
    assert len(config.warnings) == 4
    assert sum("future_type" in w for w in config.warnings) == 2
    assert sum("json default" in w for w in config.warnings) == 2
    assert all(w.startswith("featureFlags[0].variables[") for w in config.warnings)


@pytest.mark.parametrize("user_id", ["user-1", "user-2", "user-77", "üser"])
def test_future_variables_are_served_like_the_reference(user_id: str) -> None:
    text = json.dumps(future_datafile())
    logging.disable(logging.CRITICAL)
    try:
        reference = optimizely.Optimizely(datafile=text)
        assert reference.is_valid
        expected = reference.create_user_context(user_id).decide("checkout")
    finally:
        logging.disable(logging.NOTSET)
    ours = Client(datafile=text).create_user_context(user_id).decide("checkout")
    assert ours.variation_key == expected.variation_key
    assert ours.variables == expected.variables
    assert ours.variables["future"] == "raw-text"  # the raw string, uncast
    assert ours.variables["future_int"] == "12"
    assert ours.variables["json_obj"] is None  # the reference cannot decode an object default


@pytest.mark.parametrize(
    ("change", "path"),
    [
        (lambda d: d["featureFlags"][0]["variables"][0].__setitem__("type", 7), ".type"),
        (lambda d: d["featureFlags"][0]["variables"][0].__setitem__("defaultValue", {}), ""),
        (lambda d: d.__setitem__("featureFlags", {}), "featureFlags"),
    ],
)
def test_structural_errors_still_refuse_with_a_path(change: Any, path: str) -> None:
    doc = base_datafile()
    change(doc)
    with pytest.raises(ConfigError) as info:
        parse_datafile(json.dumps(doc))
    assert path in str(info.value)


def test_unknown_union_member_in_an_attribute_drops_that_attribute_only() -> None:
    data = run_dict()
    attrs = snapshot(data)["Treatments"][0]["FlagValue"].setdefault("AttributeValues", {})
    attrs["color"] = {"StringValue": "red"}
    attrs["shape"] = {"SDK_UNKNOWN_MEMBER": {"name": "MapValue"}}
    attrs["when"] = {"DateValue": "2026-01-01"}  # the raw name, as JSON shows it
    run = parse_experiment_run(data)
    kept = run.definition.treatments[0].flag_value.attributes
    assert kept["color"] == "red"
    assert "shape" not in kept
    assert "when" not in kept
    assert len(run.warnings) == 2
    assert any("'MapValue'" in w and w.endswith("skipped") for w in run.warnings)


def test_unknown_union_member_in_overrides_means_no_overrides() -> None:
    run = parse_experiment_run(
        run_dict(TreatmentOverrides={"SDK_UNKNOWN_MEMBER": {"name": "S3Location"}})
    )
    assert dict(run.overrides) == {}
    assert run.warnings == (
        "TreatmentOverrides: unknown union member 'S3Location' (this client knows "
        "('Inline',)); skipped",
    )


def test_two_members_set_is_still_structural() -> None:
    data = run_dict()
    snapshot(data)["Treatments"][0]["FlagValue"]["AttributeValues"] = {
        "color": {"StringValue": "x", "SDK_UNKNOWN_MEMBER": {"name": "MapValue"}}
    }
    with pytest.raises(ConfigError, match="exactly one"):
        parse_experiment_run(data)


def test_unknown_keys_in_a_run_are_ignored() -> None:
    data = run_dict(FutureTopLevel={"x": 1})
    snapshot(data)["FutureSnapshotField"] = [1]
    assert parse_experiment_run(data).warnings == ()
