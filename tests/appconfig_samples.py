"""Sample ``get_experiment_run`` responses and feature-flag documents for the AppConfig tests."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

AUDIENCE = '(and (eq $country "US") (gte $age 18) (in $plan ["pro", "team"]))'
IN_AUDIENCE = {"country": "US", "age": 30, "plan": "pro"}

_RUN: dict[str, Any] = {
    "ApplicationId": "app1",
    "ExperimentDefinitionId": "exp1",
    "Run": 3,
    "Description": "spring checkout test",
    "Status": "RUNNING",
    "ExposurePercentage": 60.0,
    "TreatmentOverrides": {"Inline": {"qa-anna": "t2", "qa-bob": "c"}},
    "StartedAt": datetime(2026, 7, 1, 12, 0, tzinfo=UTC),
    "UpdatedAt": datetime(2026, 7, 2, 12, 0, tzinfo=UTC),
    "ExperimentDefinitionSnapshot": {
        "ApplicationId": "app1",
        "Id": "exp1",
        "Name": "checkout-button",
        "Hypothesis": "a red button sells more",
        "ConfigurationProfileId": "prof1",
        "EnvironmentId": "env1",
        "FlagKey": "checkout",
        "AudienceRule": AUDIENCE,
        "AudienceDescription": "adult US pro users",
        "LaunchCriteria": "conversion +2%",
        "Control": {
            "Key": "c",
            "Weight": 1.0,
            "Description": "blue",
            "FlagValue": {
                "Enabled": True,
                "AttributeValues": {"color": {"StringValue": "blue"}},
            },
        },
        "Treatments": [
            {
                "Key": "t1",
                "Weight": 2.0,
                "Description": "red",
                "FlagValue": {
                    "Enabled": True,
                    "AttributeValues": {
                        "color": {"StringValue": "red"},
                        "size": {"NumberValue": 1.5},
                        "bold": {"BooleanValue": True},
                        "labels": {"StringArray": ["buy", "now"]},
                        "steps": {"NumberArray": [1.0, 2.5]},
                    },
                },
            },
            {
                "Key": "t2",
                "Weight": 1.0,
                "FlagValue": {"Enabled": False},
            },
        ],
    },
}


def run_dict(**top: Any) -> dict[str, Any]:
    """A deep copy of the sample run; keyword arguments replace top-level fields
    (a value of ``None`` removes the field)."""
    data = copy.deepcopy(_RUN)
    for key, value in top.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    return data


def snapshot(data: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = data["ExperimentDefinitionSnapshot"]
    return result


FLAGS_DOCUMENT: dict[str, Any] = {
    "version": "1",
    "flags": {
        "checkout": {"name": "Checkout button", "attributes": {"color": {}}},
        "banner": {"name": "Banner"},
        "ui_refresh": {"name": "UI refresh"},
    },
    "values": {
        "checkout": {"enabled": True, "color": "green"},
        "banner": {"enabled": False},
        "ui_refresh": {
            "_variants": [
                {
                    "name": "BetaUsers",
                    "enabled": True,
                    "rule": '(ends_with $accountId "123")',
                    "attributeValues": {"theme": "dark"},
                },
                {
                    "name": "A",
                    "enabled": True,
                    "rule": "(split by::$userId pct::20)",
                    "attributeValues": {"theme": "a"},
                },
                {
                    "name": "B",
                    "enabled": True,
                    "rule": "(split by::$userId pct::25)",
                    "attributeValues": {"theme": "b"},
                },
                {"name": "Default", "enabled": False},
            ]
        },
    },
}
