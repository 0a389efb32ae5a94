"""The AppConfig experiment run: an immutable model and its parser.

``parse_experiment_run`` takes the dict ``get_experiment_run`` returns (from
boto3/aiobotocore, with ``datetime`` values, or decoded from JSON with ISO-8601
strings or epoch seconds) and checks what botocore does not check on responses:

* ``Run`` is an integer ≥ 1; ``Status`` is ``RUNNING`` or ``DONE``.
* ``ExposurePercentage`` is a finite number in 0–100. When it is absent or
  null the run exposes **nobody** (0): only overrides are served, which is the
  "validate before exposing users" setting, and the safe reading of a gap.
* Weights are finite and ≥ 0 with a positive sum; 1–5 treatments plus a
  control; treatment keys match ``[a-zA-Z0-9]{1,8}`` and are unique.
* ``TreatmentOverrides`` is a union whose only known member is ``Inline``:
  at most 32 entity ids of 1–2048 characters, each naming a known treatment.
* Forward compatibility: a union member this client does not know
  (``SDK_UNKNOWN_MEMBER``, which boto3 puts wherever AWS adds one, or an
  unknown name in JSON) drops that value only: the attribute is left out of
  its ``FlagValue``; unknown ``TreatmentOverrides`` mean no overrides. Each
  drop adds one line to ``ExperimentRun.warnings``; unknown keys are ignored.
* ``AttributeValues`` has at most 25 keys matching the service pattern; each
  value is a union of exactly one of StringValue (≤ 1024 characters),
  NumberValue, BooleanValue, StringArray or NumberArray (≤ 25 items each).
* Ids match ``[a-z0-9]{4,7}``; the flag key ``[a-z][a-zA-Z0-9_-]{1,64}``;
  texts are at most 1024 characters; the audience rule is compiled (a missing
  rule means everyone is in the audience).

Every error is a :class:`~asyncexp.errors.ConfigError` whose ``path`` names
the field, e.g. ``ExperimentDefinitionSnapshot.Treatments[1].Weight``.

**Buckets.** Exposure and the weighted choice use two independent 32-bit
hashes (see ``assignment``). The run stores the thresholds in that space:
``exposure_threshold = round(ExposurePercentage / 100 * 2**32)`` and, for the
arms in the order control, treatments…, the cumulative upper bounds
``round(cumulative_weight / total_weight * 2**32)`` (the last is ``2**32``).
A zero-weight arm has zero width.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from asyncexp.core.appconfig.fields import (
    UNKNOWN_MEMBER,
    AttributeValue,
    join,
    mapping,
    number,
    parse_attribute_values,
    text,
    timestamp,
    union_member,
    unknown_member_warning,
)
from asyncexp.core.appconfig.rule_eval import compile_rule
from asyncexp.core.appconfig.run_model import (
    ExperimentDefinitionSnapshot,
    ExperimentRun,
    FlagValue,
    RunResult,
    RunStatus,
    Treatment,
)
from asyncexp.errors import ConfigError

__all__ = [
    "AttributeValue",
    "ExperimentDefinitionSnapshot",
    "ExperimentRun",
    "FlagValue",
    "RunResult",
    "RunStatus",
    "Treatment",
    "parse_attribute_values",
    "parse_experiment_run",
]


SPACE = 2**32
MAX_TREATMENTS = 5
MAX_OVERRIDES = 32
MAX_ENTITY_ID = 2048
_ID = re.compile(r"[a-z0-9]{4,7}")
_FLAG_KEY = re.compile(r"[a-z][a-zA-Z0-9_-]{1,64}")
_TREATMENT_KEY = re.compile(r"[a-zA-Z0-9]{1,8}")


def _treatment(raw: Any, path: str, warnings: list[str]) -> Treatment:
    obj = mapping(raw, path)
    key = text(obj, "Key", path, required=True, pattern=_TREATMENT_KEY)
    if "Weight" not in obj:
        raise ConfigError("is required", join(path, "Weight"))
    weight = number(obj["Weight"], join(path, "Weight"))
    if weight < 0:
        raise ConfigError("must be ≥ 0", join(path, "Weight"))
    fv_path = join(path, "FlagValue")
    fv = mapping(obj.get("FlagValue"), fv_path)
    enabled = fv.get("Enabled")
    if not isinstance(enabled, bool):
        raise ConfigError("is required and must be a boolean", join(fv_path, "Enabled"))
    attributes = parse_attribute_values(
        fv.get("AttributeValues"), join(fv_path, "AttributeValues"), warnings
    )
    description = text(obj, "Description", path)
    return Treatment(key, weight, FlagValue(enabled, attributes), description)


def _snapshot(raw: Any, path: str, warnings: list[str]) -> ExperimentDefinitionSnapshot:
    obj = mapping(raw, path)
    raw_treatments = obj.get("Treatments")
    t_path = join(path, "Treatments")
    if not isinstance(raw_treatments, list | tuple):
        raise ConfigError("is required and must be a list", t_path)
    if not 1 <= len(raw_treatments) <= MAX_TREATMENTS:
        raise ConfigError(
            f"must have 1–{MAX_TREATMENTS} treatments, has {len(raw_treatments)}", t_path
        )
    treatments = tuple(
        _treatment(t, f"{t_path}[{i}]", warnings) for i, t in enumerate(raw_treatments)
    )
    if obj.get("Control") is None:
        raise ConfigError("is required", join(path, "Control"))
    control = _treatment(obj["Control"], join(path, "Control"), warnings)
    seen: set[str] = set()
    for i, arm in enumerate((control, *treatments)):
        if arm.key in seen:
            where = join(path, "Control") if i == 0 else f"{t_path}[{i - 1}]"
            raise ConfigError(f"treatment key {arm.key!r} is used twice", join(where, "Key"))
        seen.add(arm.key)
    if sum(arm.weight for arm in (control, *treatments)) <= 0:
        raise ConfigError("the weights of control and treatments must have a positive sum", t_path)
    rule = obj.get("AudienceRule")
    if rule is not None and (not isinstance(rule, str) or not rule):
        raise ConfigError("must be a non-empty string", join(path, "AudienceRule"))
    return ExperimentDefinitionSnapshot(
        flag_key=text(obj, "FlagKey", path, required=True, pattern=_FLAG_KEY),
        treatments=treatments,
        control=control,
        audience_rule=rule,
        id=text(obj, "Id", path, pattern=_ID),
        application_id=text(obj, "ApplicationId", path, pattern=_ID),
        name=text(obj, "Name", path, max_length=64),
        hypothesis=text(obj, "Hypothesis", path),
        configuration_profile_id=text(obj, "ConfigurationProfileId", path, pattern=_ID),
        environment_id=text(obj, "EnvironmentId", path, pattern=_ID),
        audience_description=text(obj, "AudienceDescription", path),
        launch_criteria=text(obj, "LaunchCriteria", path),
    )


def _overrides(raw: Any, arms: set[str], path: str, warnings: list[str]) -> Mapping[str, str]:
    if raw is None:
        return MappingProxyType({})
    member, inline = union_member(raw, path, ("Inline",))
    if member == UNKNOWN_MEMBER:
        warnings.append(unknown_member_warning(inline, path, ("Inline",)))
        return MappingProxyType({})
    where = join(path, "Inline")
    table = mapping(inline, where)
    if len(table) > MAX_OVERRIDES:
        raise ConfigError(f"has {len(table)} entries, more than {MAX_OVERRIDES}", where)
    out: dict[str, str] = {}
    for entity, key in table.items():
        if not isinstance(entity, str) or not 1 <= len(entity) <= MAX_ENTITY_ID:
            raise ConfigError(f"entity ids must be 1–{MAX_ENTITY_ID} characters", where)
        if not isinstance(key, str) or key not in arms:
            raise ConfigError(f"{key!r} is not a treatment key of this run", f"{where}.{entity}")
        out[entity] = key
    return MappingProxyType(out)


def _bounds(arms: tuple[Treatment, ...]) -> tuple[int, ...]:
    total = sum(arm.weight for arm in arms)
    bounds: list[int] = []
    running = 0.0
    for arm in arms:
        running += arm.weight
        bounds.append(round(running / total * SPACE))
    bounds[-1] = SPACE
    return tuple(bounds)


def parse_experiment_run(data: Mapping[str, Any]) -> ExperimentRun:
    """Validate a ``get_experiment_run`` response and build the immutable run."""
    obj = mapping(data, "")
    run_number = obj.get("Run")
    if isinstance(run_number, bool) or not isinstance(run_number, int) or run_number < 1:
        raise ConfigError(f"must be an integer ≥ 1, not {run_number!r}", "Run")
    status_raw = obj.get("Status")
    if status_raw not in ("RUNNING", "DONE"):
        raise ConfigError(f"must be RUNNING or DONE, not {status_raw!r}", "Status")
    exposure_raw = obj.get("ExposurePercentage")
    exposure = 0.0 if exposure_raw is None else number(exposure_raw, "ExposurePercentage")
    if not 0.0 <= exposure <= 100.0:
        raise ConfigError(f"must be between 0 and 100, not {exposure_raw!r}", "ExposurePercentage")
    warnings: list[str] = []
    definition = _snapshot(
        obj.get("ExperimentDefinitionSnapshot"), "ExperimentDefinitionSnapshot", warnings
    )
    application_id = text(obj, "ApplicationId", "", pattern=_ID) or definition.application_id
    definition_id = text(obj, "ExperimentDefinitionId", "", pattern=_ID) or definition.id
    if not application_id:
        raise ConfigError("is required", "ApplicationId")
    if not definition_id:
        raise ConfigError("is required", "ExperimentDefinitionId")
    arms = (definition.control, *definition.treatments)
    overrides = _overrides(
        obj.get("TreatmentOverrides"), {arm.key for arm in arms}, "TreatmentOverrides", warnings
    )
    result = None
    if obj.get("Result") is not None:
        res = mapping(obj["Result"], "Result")
        result = RunResult(
            text(res, "ExecutiveSummary", "Result"),
            text(res, "ReasonsToLaunch", "Result"),
            text(res, "ReasonsNotToLaunch", "Result"),
        )
    identity = f"{application_id}:{definition_id}:{run_number}"
    audience = None
    if definition.audience_rule is not None:
        audience = compile_rule(
            definition.audience_rule,
            path="ExperimentDefinitionSnapshot.AudienceRule",
            default_seed=identity,
        )
    return ExperimentRun(
        application_id=application_id,
        experiment_definition_id=definition_id,
        run=run_number,
        status=RunStatus(status_raw),
        exposure_percentage=exposure,
        overrides=overrides,
        definition=definition,
        description=text(obj, "Description", ""),
        result=result,
        started_at=timestamp(obj.get("StartedAt"), "StartedAt"),
        updated_at=timestamp(obj.get("UpdatedAt"), "UpdatedAt"),
        ended_at=timestamp(obj.get("EndedAt"), "EndedAt"),
        audience=audience,
        exposure_threshold=round(exposure / 100.0 * SPACE),
        arm_bounds=_bounds(arms),
        warnings=tuple(warnings),
    )
