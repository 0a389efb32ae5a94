"""Small hand-written datafiles for tests: every id is readable on purpose."""

from __future__ import annotations

import copy
from typing import Any


def _variation(vid: str, key: str, enabled: bool, values: dict[str, str]) -> dict[str, Any]:
    return {
        "id": vid,
        "key": key,
        "featureEnabled": enabled,
        "variables": [{"id": k, "value": v} for k, v in values.items()],
    }


def _rule(
    rid: str,
    key: str,
    variations: list[dict[str, Any]],
    traffic: list[tuple[str, int]],
    *,
    audiences: list[str] | None = None,
    conditions: Any = None,
    status: str = "Running",
    layer: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    rule: dict[str, Any] = {
        "id": rid,
        "key": key,
        "status": status,
        "layerId": layer if layer is not None else f"layer_{rid}",
        "variations": variations,
        "trafficAllocation": [{"entityId": e, "endOfRange": end} for e, end in traffic],
        "audienceIds": audiences or [],
        "forcedVariations": {},
    }
    if conditions is not None:
        rule["audienceConditions"] = conditions
    rule.update(extra)
    return rule


VARS = [
    {"id": "v_bool", "key": "show", "type": "boolean", "defaultValue": "false"},
    {"id": "v_int", "key": "count", "type": "integer", "defaultValue": "1"},
    {"id": "v_double", "key": "price", "type": "double", "defaultValue": "9.5"},
    {"id": "v_str", "key": "label", "type": "string", "defaultValue": "default"},
    {"id": "v_json", "key": "blob", "type": "json", "defaultValue": '{"a": 1}'},
    {"id": "v_sjson", "key": "legacy", "type": "string", "subType": "json", "defaultValue": "[1]"},
]
ON_VALUES = {
    "v_bool": "true",
    "v_int": "7",
    "v_double": "1.25",
    "v_str": "on",
    "v_json": '{"a": 2}',
}


def base_datafile() -> dict[str, Any]:
    """Flags: ``checkout`` (A/B + rollout), ``grouped_a``/``grouped_b`` (mutex group),
    ``rollout_only`` (targeted rule + everyone else)."""
    control = _variation("101", "control", False, {"v_int": "5"})
    treatment = _variation("102", "treatment", True, ON_VALUES)
    ga = _variation("301", "ga_on", True, {})
    gb = _variation("401", "gb_on", True, {})
    targeted_on = _variation("501", "on", True, {"v_str": "targeted"})
    everyone_off = _variation("502", "off", False, {})
    rollout_on = _variation("601", "on", True, {"v_str": "rollout"})
    return {
        "version": "4",
        "accountId": "acct",
        "projectId": "proj",
        "revision": "7",
        "sdkKey": "sdk-test",
        "environmentKey": "production",
        "botFiltering": True,
        "anonymizeIP": False,
        "sendFlagDecisions": True,
        "attributes": [
            {"id": "attr_age", "key": "age"},
            {"id": "attr_country", "key": "country"},
            {"id": "attr_opt", "key": "$opt_reserved"},
        ],
        "audiences": [
            {
                "id": "aud_us",
                "name": "US",
                "conditions": '["or", {"type": "custom_attribute", '
                '"name": "country", "match": "exact", "value": "US"}]',
            },
            {"id": "aud_adult", "name": "legacy adult", "conditions": "[]"},
        ],
        "typedAudiences": [
            {
                "id": "aud_adult",
                "name": "Adults",
                "conditions": [
                    "and",
                    {"type": "custom_attribute", "name": "age", "match": "ge", "value": 18},
                ],
            },
            {
                "id": "aud_vip",
                "name": "VIP",
                "conditions": [
                    "or",
                    {
                        "type": "third_party_dimension",
                        "name": "odp.audiences",
                        "match": "qualified",
                        "value": "vip",
                    },
                ],
            },
        ],
        "events": [{"id": "ev_buy", "key": "purchase", "experimentIds": ["exp_checkout"]}],
        "experiments": [
            _rule(
                "exp_checkout",
                "checkout_test",
                [control, treatment],
                [("101", 5000), ("102", 10000)],
                audiences=["aud_adult"],
                conditions=["or", "aud_adult"],
            ),
        ],
        "groups": [
            {
                "id": "grp",
                "policy": "random",
                "trafficAllocation": [
                    {"entityId": "exp_ga", "endOfRange": 5000},
                    {"entityId": "exp_gb", "endOfRange": 10000},
                ],
                "experiments": [
                    _rule("exp_ga", "group_a", [ga], [("301", 10000)]),
                    _rule("exp_gb", "group_b", [gb], [("401", 10000)]),
                ],
            }
        ],
        "featureFlags": [
            {
                "id": "f_checkout",
                "key": "checkout",
                "rolloutId": "ro_checkout",
                "experimentIds": ["exp_checkout"],
                "variables": copy.deepcopy(VARS),
            },
            {
                "id": "f_ga",
                "key": "grouped_a",
                "rolloutId": "",
                "experimentIds": ["exp_ga"],
                "variables": [],
            },
            {
                "id": "f_gb",
                "key": "grouped_b",
                "rolloutId": "",
                "experimentIds": ["exp_gb"],
                "variables": [],
            },
            {
                "id": "f_ro",
                "key": "rollout_only",
                "rolloutId": "ro_only",
                "experimentIds": [],
                "variables": copy.deepcopy(VARS),
            },
        ],
        "rollouts": [
            {
                "id": "ro_checkout",
                "experiments": [
                    _rule(
                        "rule_us",
                        "us_rule",
                        [targeted_on],
                        [("501", 10000)],
                        audiences=["aud_us"],
                        layer="ro_checkout",
                    ),
                    _rule(
                        "rule_ee",
                        "everyone_else",
                        [everyone_off],
                        [("502", 10000)],
                        layer="ro_checkout",
                    ),
                ],
            },
            {
                "id": "ro_only",
                "experiments": [
                    _rule(
                        "rule_half",
                        "half_us",
                        [rollout_on],
                        [("601", 5000)],
                        audiences=["aud_us"],
                        layer="ro_only",
                    ),
                    _rule(
                        "rule_only_ee",
                        "only_everyone_else",
                        [rollout_on],
                        [("601", 10000)],
                        layer="ro_only",
                    ),
                ],
            },
        ],
        "integrations": [{"key": "odp", "host": "https://odp.invalid", "publicKey": "pk"}],
    }


def holdout(hid: str, key: str, *, traffic: int = 10000, **extra: Any) -> dict[str, Any]:
    return {
        "id": hid,
        "key": key,
        "status": "Running",
        "audienceIds": [],
        "variations": [{"id": f"{hid}_v", "key": "ho_off", "featureEnabled": False}],
        "trafficAllocation": [{"entityId": f"{hid}_v", "endOfRange": traffic}],
        **extra,
    }
