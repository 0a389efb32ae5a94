"""Datafile parsing: versions, validation paths, limits and derived indexes."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from asyncexp.core.flags.datafile import parse_datafile
from asyncexp.errors import AsyncExpError, ConfigError, UnsupportedVersionError
from tests.datafiles import base_datafile, holdout


@pytest.mark.parametrize("version", ["2", "3", "4"])
def test_supported_versions_parse(version: str) -> None:
    doc = base_datafile()
    doc["version"] = version
    config = parse_datafile(json.dumps(doc))
    assert config.version == version
    assert config.revision == "7"


@pytest.mark.parametrize("version", ["1", "5", 4, None])
def test_unsupported_version_is_rejected(version: Any) -> None:
    doc = base_datafile()
    doc["version"] = version
    with pytest.raises(UnsupportedVersionError, match="unsupported datafile version") as info:
        parse_datafile(doc)
    assert info.value.path == "version"
    assert isinstance(info.value, AsyncExpError)


def test_input_forms_and_exact_text_kept() -> None:
    text = json.dumps(base_datafile(), indent=1)
    assert parse_datafile(text).datafile_text == text
    assert parse_datafile(text.encode()).datafile_text == text
    assert parse_datafile(base_datafile()).flags.keys() == parse_datafile(text).flags.keys()


@pytest.mark.parametrize(
    ("mutate", "path"),
    [
        (lambda d: d["experiments"][0].pop("key"), "experiments[0]"),
        (lambda d: d["experiments"][0].__setitem__("key", 5), "experiments[0].key"),
        (
            lambda d: d["experiments"][0]["variations"][1].__setitem__("id", None),
            "experiments[0].variations[1].id",
        ),
        (
            lambda d: d["experiments"][0]["trafficAllocation"][0].__setitem__("endOfRange", "5"),
            "experiments[0].trafficAllocation[0].endOfRange",
        ),
        (lambda d: d.pop("revision"), ""),
        (lambda d: d.__setitem__("attributes", {}), "attributes"),
        (
            lambda d: d["audiences"][0].__setitem__("conditions", "[not json"),
            "audiences[0].conditions",
        ),
        (
            # a type that is not a string is structural; an unknown string degrades (tests/hostile)
            lambda d: d["featureFlags"][0]["variables"][0].__setitem__("type", 7),
            "featureFlags[0].variables[0].type",
        ),
        (
            lambda d: d["groups"][0]["experiments"][0].__setitem__("status", 1),
            "groups[0].experiments[0].status",
        ),
    ],
)
def test_malformed_input_names_the_path(mutate: Any, path: str) -> None:
    doc = base_datafile()
    mutate(doc)
    with pytest.raises(ConfigError) as info:
        parse_datafile(doc)
    assert info.value.path == path
    if path:
        assert str(info.value).startswith(path + ":")


@pytest.mark.parametrize("bad", ["", "[]", "not json", b"\xff\xfe", 42])
def test_not_a_json_object(bad: Any) -> None:
    with pytest.raises(ConfigError):
        parse_datafile(bad)


def test_size_limit() -> None:
    text = json.dumps(base_datafile())
    with pytest.raises(ConfigError, match="larger than"):
        parse_datafile(text, max_bytes=len(text) - 1)
    assert parse_datafile(text, max_bytes=len(text)).revision == "7"


def test_condition_depth_limit() -> None:
    doc = base_datafile()
    tree: Any = {"type": "custom_attribute", "name": "age", "match": "gt", "value": 1}
    for _ in range(40):
        tree = ["and", tree]
    doc["typedAudiences"][0]["conditions"] = tree
    with pytest.raises(ConfigError, match="typedAudiences\\[0\\]"):
        parse_datafile(doc)
    assert parse_datafile(doc, max_depth=64).revision == "7"


def test_deeply_nested_json_is_rejected_not_crashing() -> None:
    text = "[" * 5000 + "]" * 5000
    with pytest.raises(ConfigError):
        parse_datafile('{"version": "4", "x": ' + text + "}")


def test_indexes() -> None:
    config = parse_datafile(base_datafile())
    assert list(config.flags) == ["checkout", "grouped_a", "grouped_b", "rollout_only"]
    assert config.attribute_ids["age"] == "attr_age"
    assert config.events["purchase"].id == "ev_buy"
    assert set(config.experiments_by_key) == {"checkout_test", "group_a", "group_b"}
    assert "rule_us" in config.rules_by_id  # delivery rules indexed by id too
    ga = config.rules_by_id["exp_ga"]
    assert (ga.group_id, ga.group_policy) == ("grp", "random")
    assert config.odp_host == "https://odp.invalid"
    assert config.odp_public_key == "pk"
    assert config.segments == ("vip",)
    assert config.event_context.endpoint == "https://logx.optimizely.com/v1/events"


def test_typed_audience_wins_over_legacy_with_same_id() -> None:
    config = parse_datafile(base_datafile())
    adult = config.audiences["aud_adult"]
    assert adult.name == "Adults"
    assert adult.evaluate({"age": 20}, None) is True
    assert adult.evaluate({"age": 2}, None) is False
    assert adult.conditions == json.dumps(base_datafile()["typedAudiences"][0]["conditions"])


def test_variable_types_and_json_subtype() -> None:
    flag = parse_datafile(base_datafile()).flags["checkout"]
    types = {v.key: v.type for v in flag.variables}
    assert types == {
        "show": "boolean",
        "count": "integer",
        "price": "double",
        "label": "string",
        "blob": "json",
        "legacy": "json",
    }
    assert flag.values_for(None) == {
        "show": False,
        "count": 1,
        "price": 9.5,
        "label": "default",
        "blob": {"a": 1},
        "legacy": [1],
    }


def test_feature_rollout_injection_leaves_input_untouched() -> None:
    doc = base_datafile()
    doc["experiments"][0]["type"] = "fr"
    before = copy.deepcopy(doc)
    config = parse_datafile(doc)
    assert doc == before
    rule = config.rules_by_id["exp_checkout"]
    assert [v.key for v in rule.variations] == ["control", "treatment", "off"]
    assert rule.traffic[-1] == (10000, "502")


def test_region_and_flags_of_the_event_context() -> None:
    doc = base_datafile()
    doc["region"] = "eu"
    doc["anonymizeIP"] = True
    config = parse_datafile(doc)
    assert config.region == "EU"
    assert config.event_context.endpoint == "https://eu.logx.optimizely.com/v1/events"
    assert config.event_context.anonymize_ip is True
    doc["region"] = "MARS"
    assert parse_datafile(doc).region == "US"


def test_holdouts_global_and_local() -> None:
    doc = base_datafile()
    doc["holdouts"] = [
        holdout("h1", "global_ho", includedRules=["exp_checkout"]),
        holdout("h2", "draft_ho", status="Draft"),
    ]
    doc["localHoldouts"] = [
        holdout("h3", "local_ho", includedRules=["exp_checkout", "rule_us"]),
        holdout("h4", "no_rules"),
    ]
    config = parse_datafile(doc)
    assert [h.key for h in config.global_holdouts] == ["global_ho"]  # drafts don't take part
    assert [h.key for h in config.local_holdouts["exp_checkout"]] == ["local_ho"]
    assert [h.key for h in config.local_holdouts["rule_us"]] == ["local_ho"]
    assert any("includedRules is ignored" in w for w in config.warnings)
    assert any("localHoldouts[1]" in w for w in config.warnings)
