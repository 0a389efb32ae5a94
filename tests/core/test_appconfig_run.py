"""Parsing ``get_experiment_run`` responses: every shape, union case and validation error."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from asyncexp.core.appconfig import (
    RunResult,
    RunStatus,
    parse_experiment_run,
)
from asyncexp.errors import ConfigError, RuleSyntaxError
from tests.appconfig_samples import AUDIENCE, run_dict, snapshot


def test_full_response_with_datetimes() -> None:
    data = run_dict(
        Result={
            "ExecutiveSummary": "red wins",
            "ReasonsToLaunch": "+3%",
            "ReasonsNotToLaunch": "none",
        },
        EndedAt=datetime(2026, 7, 9, tzinfo=UTC),
        ResponseMetadata={"HTTPStatusCode": 200, "RequestId": "r-1"},
    )
    run = parse_experiment_run(data)
    assert run.application_id == "app1"
    assert run.experiment_definition_id == "exp1"
    assert run.run == 3
    assert run.identity == "app1:exp1:3"
    assert run.status is RunStatus.RUNNING
    assert run.exposure_percentage == 60.0
    assert run.description == "spring checkout test"
    assert dict(run.overrides) == {"qa-anna": "t2", "qa-bob": "c"}
    assert run.result == RunResult("red wins", "+3%", "none")
    assert run.started_at == datetime(2026, 7, 1, 12, 0, tzinfo=UTC)
    assert run.ended_at == datetime(2026, 7, 9, tzinfo=UTC)
    d = run.definition
    assert (d.flag_key, d.id, d.application_id, d.name) == (
        "checkout",
        "exp1",
        "app1",
        "checkout-button",
    )
    assert (d.configuration_profile_id, d.environment_id) == ("prof1", "env1")
    assert d.hypothesis == "a red button sells more"
    assert d.audience_description == "adult US pro users"
    assert d.launch_criteria == "conversion +2%"
    assert d.audience_rule == AUDIENCE
    assert run.audience is not None
    assert run.audience.source == AUDIENCE
    assert [arm.key for arm in run.arms] == ["c", "t1", "t2"]
    assert [arm.weight for arm in run.arms] == [1.0, 2.0, 1.0]
    assert run.treatment("t2") is d.treatments[1]
    assert run.treatment("t9") is None


def test_every_attribute_value_union_member() -> None:
    run = parse_experiment_run(run_dict())
    t1 = run.treatment("t1")
    assert t1 is not None
    assert t1.flag_value.enabled is True
    assert dict(t1.flag_value.attributes) == {
        "color": "red",
        "size": 1.5,
        "bold": True,
        "labels": ("buy", "now"),
        "steps": (1.0, 2.5),
    }
    t2 = run.treatment("t2")
    assert t2 is not None
    assert t2.flag_value.enabled is False
    assert dict(t2.flag_value.attributes) == {}
    with pytest.raises(TypeError):
        t1.flag_value.attributes["color"] = "green"  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        run.exposure_percentage = 100.0  # type: ignore[misc]


def test_json_shape_with_iso_strings_and_epoch_seconds() -> None:
    data = orjson.loads(orjson.dumps(run_dict()))
    data["StartedAt"] = "2026-07-01T12:00:00Z"
    data["UpdatedAt"] = 1782993600  # epoch seconds, as rest-json can carry
    data["EndedAt"] = "2026-07-09T00:00:00"  # naive means UTC
    run = parse_experiment_run(data)
    assert run.started_at == datetime(2026, 7, 1, 12, 0, tzinfo=UTC)
    assert run.updated_at == datetime.fromtimestamp(1782993600, UTC)
    assert run.ended_at == datetime(2026, 7, 9, tzinfo=UTC)


def test_minimal_run_and_defaults() -> None:
    data = run_dict(
        Description=None,
        ExposurePercentage=None,
        TreatmentOverrides=None,
        StartedAt=None,
        UpdatedAt=None,
    )
    snap = snapshot(data)
    for key in ("ApplicationId", "Id", "Name", "Hypothesis", "AudienceRule", "LaunchCriteria"):
        del snap[key]
    run = parse_experiment_run(data)
    assert run.exposure_percentage == 0.0  # absent exposure exposes nobody
    assert run.exposure_threshold == 0
    assert dict(run.overrides) == {}
    assert run.audience is None
    assert run.result is None
    assert run.started_at is None
    assert run.description == ""


def test_ids_fall_back_to_the_snapshot() -> None:
    data = run_dict(ApplicationId=None, ExperimentDefinitionId=None)
    run = parse_experiment_run(data)
    assert run.identity == "app1:exp1:3"


def test_done_status_and_equality() -> None:
    done = parse_experiment_run(run_dict(Status="DONE"))
    assert done.status is RunStatus.DONE
    assert done != parse_experiment_run(run_dict())
    assert parse_experiment_run(run_dict()) == parse_experiment_run(run_dict())


def test_bucket_thresholds() -> None:
    run = parse_experiment_run(run_dict(ExposurePercentage=25))
    assert run.exposure_threshold == 2**30
    assert run.arm_bounds == (2**30, 3 * 2**30, 2**32)
    full = parse_experiment_run(run_dict(ExposurePercentage=100.0))
    assert full.exposure_threshold == 2**32


def _mutate(path: list[Any], value: Any) -> dict[str, Any]:
    data = run_dict()
    target: Any = data
    for key in path[:-1]:
        target = target[key]
    if value is _DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return data


_DELETE = object()
S = "ExperimentDefinitionSnapshot"
T1 = [S, "Treatments", 0]
T1_ATTRS = [*T1, "FlagValue", "AttributeValues"]

INVALID: list[tuple[list[Any], Any, str, str]] = [
    (["Run"], 0, "Run", "integer ≥ 1"),
    (["Run"], "3", "Run", "integer ≥ 1"),
    (["Run"], True, "Run", "integer ≥ 1"),
    (["Status"], "PAUSED", "Status", "RUNNING or DONE"),
    (["ExposurePercentage"], 150.0, "ExposurePercentage", "between 0 and 100"),
    (["ExposurePercentage"], -1, "ExposurePercentage", "between 0 and 100"),
    (["ExposurePercentage"], "10", "ExposurePercentage", "must be a number"),
    (["ExposurePercentage"], float("nan"), "ExposurePercentage", "finite"),
    (["ApplicationId"], "App_1", "ApplicationId", "does not match"),
    (["Description"], "x" * 1025, "Description", "more than 1024"),
    (["StartedAt"], "yesterday", "StartedAt", "ISO-8601"),
    (["StartedAt"], [2026], "StartedAt", "timestamp"),
    (["Result"], "good", "Result", "must be an object"),
    ([S], _DELETE, S, "must be an object"),
    ([S, "FlagKey"], _DELETE, f"{S}.FlagKey", "is required"),
    ([S, "FlagKey"], "Checkout", f"{S}.FlagKey", "does not match"),
    ([S, "FlagKey"], "x", f"{S}.FlagKey", "does not match"),
    ([S, "Name"], "n" * 65, f"{S}.Name", "more than 64"),
    ([S, "AudienceRule"], "", f"{S}.AudienceRule", "non-empty string"),
    ([S, "Treatments"], [], f"{S}.Treatments", "1–5 treatments"),
    ([S, "Treatments"], "t1", f"{S}.Treatments", "must be a list"),
    ([S, "Control"], _DELETE, f"{S}.Control", "is required"),
    ([*T1, "Key"], "t-1", f"{S}.Treatments[0].Key", "does not match"),
    ([*T1, "Key"], "toolongkey", f"{S}.Treatments[0].Key", "does not match"),
    ([*T1, "Key"], "c", f"{S}.Treatments[0].Key", "used twice"),
    ([*T1, "Key"], _DELETE, f"{S}.Treatments[0].Key", "is required"),
    ([*T1, "Weight"], -5, f"{S}.Treatments[0].Weight", "≥ 0"),
    ([*T1, "Weight"], _DELETE, f"{S}.Treatments[0].Weight", "is required"),
    ([*T1, "Weight"], float("inf"), f"{S}.Treatments[0].Weight", "finite"),
    ([*T1, "FlagValue"], _DELETE, f"{S}.Treatments[0].FlagValue", "must be an object"),
    ([*T1, "FlagValue", "Enabled"], "yes", f"{S}.Treatments[0].FlagValue.Enabled", "boolean"),
    ([*T1_ATTRS, "enabled"], {"BooleanValue": True}, f"{S}.Treatments[0]", "AttributeKey"),
    ([*T1_ATTRS, "Color"], {"StringValue": "x"}, f"{S}.Treatments[0]", "AttributeKey"),
    ([*T1_ATTRS, "color"], {}, f"{S}.Treatments[0].FlagValue.AttributeValues.color", "exactly one"),
    (
        [*T1_ATTRS, "color"],
        {"StringValue": "x", "NumberValue": 1.0},
        f"{S}.Treatments[0].FlagValue.AttributeValues.color",
        "exactly one",
    ),
    ([*T1_ATTRS, "color"], {"StringValue": 5}, f"{S}.Treatments[0]", "must be a string"),
    ([*T1_ATTRS, "color"], {"StringValue": "x" * 1025}, "AttributeValues.color", "1024"),
    ([*T1_ATTRS, "size"], {"NumberValue": "1.5"}, "size.NumberValue", "must be a number"),
    ([*T1_ATTRS, "size"], {"NumberValue": True}, "size.NumberValue", "must be a number"),
    ([*T1_ATTRS, "bold"], {"BooleanValue": 1}, "bold.BooleanValue", "must be a boolean"),
    ([*T1_ATTRS, "labels"], {"StringArray": ["a", 1]}, "labels.StringArray[1]", "string"),
    ([*T1_ATTRS, "labels"], {"StringArray": "ab"}, "labels.StringArray", "must be a list"),
    ([*T1_ATTRS, "labels"], {"StringArray": ["a"] * 26}, "labels.StringArray", "more than 25"),
    ([*T1_ATTRS, "steps"], {"NumberArray": [1, "2"]}, "steps.NumberArray[1]", "number"),
    (
        T1_ATTRS,
        {f"a{i}": {"BooleanValue": True} for i in range(26)},
        f"{S}.Treatments[0].FlagValue.AttributeValues",
        "more than 25",
    ),
    # unknown union members degrade per value instead (tests/hostile/test_forward_compat.py)
    (["TreatmentOverrides"], {}, "TreatmentOverrides", "exactly one"),
    (["TreatmentOverrides", "Inline"], [], "TreatmentOverrides.Inline", "must be an object"),
    (
        ["TreatmentOverrides", "Inline"],
        {"u1": "t9"},
        "TreatmentOverrides.Inline.u1",
        "not a treatment key",
    ),
    (["TreatmentOverrides", "Inline"], {"": "t1"}, "TreatmentOverrides.Inline", "1–2048"),
    (
        ["TreatmentOverrides", "Inline"],
        {f"user{i}": "t1" for i in range(33)},
        "TreatmentOverrides.Inline",
        "more than 32",
    ),
]


@pytest.mark.parametrize(("path", "value", "where", "message"), INVALID)
def test_validation_errors_name_the_field(
    path: list[Any], value: Any, where: str, message: str
) -> None:
    with pytest.raises(ConfigError) as info:
        parse_experiment_run(_mutate(path, value))
    assert where in info.value.path
    assert message in str(info.value)


def test_more_than_five_treatments() -> None:
    data = run_dict()
    treatments = snapshot(data)["Treatments"]
    for i in range(3, 7):
        treatments.append({"Key": f"t{i}", "Weight": 1, "FlagValue": {"Enabled": True}})
    with pytest.raises(ConfigError, match="1–5 treatments") as info:
        parse_experiment_run(data)
    assert info.value.path == f"{S}.Treatments"


def test_weights_must_have_a_positive_sum() -> None:
    data = run_dict()
    for arm in (snapshot(data)["Control"], *snapshot(data)["Treatments"]):
        arm["Weight"] = 0
    with pytest.raises(ConfigError, match="positive sum"):
        parse_experiment_run(data)


def test_zero_weight_arm_is_allowed() -> None:
    data = run_dict()
    snapshot(data)["Treatments"][1]["Weight"] = 0
    run = parse_experiment_run(data)
    assert run.arm_bounds[1] == run.arm_bounds[2] == 2**32


def test_bad_audience_rule_reports_position_and_path() -> None:
    data = run_dict()
    snapshot(data)["AudienceRule"] = '(and (eq $a 1) (gt $b "x" 3))'
    with pytest.raises(RuleSyntaxError) as info:
        parse_experiment_run(data)
    assert info.value.path == f"{S}.AudienceRule"
    assert info.value.position == 15


def test_not_a_mapping() -> None:
    with pytest.raises(ConfigError, match="must be an object"):
        parse_experiment_run([])  # type: ignore[arg-type]


def test_missing_ids() -> None:
    data = run_dict(ApplicationId=None)
    del snapshot(data)["ApplicationId"]
    with pytest.raises(ConfigError) as info:
        parse_experiment_run(data)
    assert info.value.path == "ApplicationId"
