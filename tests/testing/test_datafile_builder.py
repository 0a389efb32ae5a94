"""``DatafileBuilder``: the datafiles it builds parse and decide as described."""

from __future__ import annotations

import json

import pytest

from asyncexp import Client, ConfigError
from asyncexp.core.flags.bucketing import bucket_value
from asyncexp.core.flags.datafile import parse_datafile
from asyncexp.testing import CapturingCollector, DatafileBuilder

US = {"type": "custom_attribute", "name": "country", "match": "exact", "value": "US"}


def test_built_datafile_parses_with_typed_variables() -> None:
    builder = DatafileBuilder(revision="42")
    flag = builder.flag("f")
    flag.variable("on", False).variable("n", 1).variable("x", 1.5).variable("s", "a")
    flag.variable("j", {"k": [1]})
    flag.variation("v", variables={"on": True, "n": 2, "x": 2.25, "s": "b", "j": [1, 2]})
    flag.serve("v")
    config = parse_datafile(builder.to_json())
    assert config.revision == "42"
    types = {v.key: v.type for v in config.flags["f"].variables}
    assert types == {"on": "boolean", "n": "integer", "x": "double", "s": "string", "j": "json"}
    client = Client(datafile=builder.build())
    d = client.create_user_context("u").decide("f")
    assert (d.enabled, d.variation_key) == (True, "v")
    assert d.variables == {"on": True, "n": 2, "x": 2.25, "s": "b", "j": [1, 2]}


def test_flag_without_rules_serves_defaults() -> None:
    builder = DatafileBuilder()
    builder.flag("quiet").variable("label", "default").variation("on")
    d = Client(datafile=builder.build()).create_user_context("u").decide("quiet")
    assert (d.enabled, d.variation_key, d.variables) == (False, None, {"label": "default"})


def test_experiment_split_and_percent_become_ranges() -> None:
    builder = DatafileBuilder()
    flag = builder.flag("f").variation("a").variation("b")
    flag.experiment("exp", split={"a": 1, "b": 3}, percent=50)
    (rule,) = builder.build()["experiments"]
    assert rule["trafficAllocation"] == [
        {"entityId": "var_f_a", "endOfRange": 1250},
        {"entityId": "var_f_b", "endOfRange": 5000},
    ]
    client = Client(datafile=builder.build())
    rule_id = builder.rule_id("exp")
    for i in range(200):
        user = f"user{i}"
        bucket = bucket_value(user + rule_id)
        expected = "a" if bucket < 1250 else "b" if bucket < 5000 else None
        assert client.create_user_context(user).decide("f").variation_key == expected


def test_audiences_and_rollout_rules() -> None:
    builder = DatafileBuilder()
    us = builder.audience("US", ["and", US])
    flag = builder.flag("f").variation("on").variation("off", enabled=False)
    flag.rollout_rule("us", "on", audiences=[us]).everyone_else("off")
    doc = builder.build()
    assert doc["attributes"] == [{"id": "attr_country", "key": "country"}]
    client = Client(datafile=doc)
    d = client.create_user_context("u", {"country": "US"}).decide("f")
    assert (d.rule_key, d.enabled) == ("us", True)
    d = client.create_user_context("u", {"country": "FR"}).decide("f")
    assert (d.rule_key, d.enabled) == ("everyone_else_f", False)


def test_global_and_local_holdouts() -> None:
    builder = DatafileBuilder()
    flag = builder.flag("f").variation("on")
    flag.experiment("exp", split={"on": 1}).serve("on")
    builder.holdout("local", rules=["exp"])
    doc = builder.build()
    assert [h["includedRules"] for h in doc["localHoldouts"]] == [["rule_exp"]]
    d = Client(datafile=doc).create_user_context("u").decide("f")
    assert (d.rule_key, d.variation_key, d.enabled) == ("local", "off", False)
    builder.holdout("everyone")
    d = Client(datafile=builder.build()).create_user_context("u").decide("f")
    assert d.rule_key == "everyone"


def test_events_reach_the_collector() -> None:
    builder = DatafileBuilder()
    builder.flag("f").variation("on").experiment("exp", split={"on": 1})
    builder.event("buy", experiments=["exp"])
    collector = CapturingCollector()
    client = Client(datafile=builder.build(), collector=collector)
    client.create_user_context("u").track_event("buy")
    (payload,) = collector.payloads()
    assert payload["visitors"][0]["snapshots"][0]["events"][0]["key"] == "buy"


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda b: b.flag("f").variation("v", variables={"nope": 1}), "no variable 'nope'"),
        (lambda b: b.flag("f").variable("n", 1).variation("v", variables={"n": "x"}), "integer"),
        (
            lambda b: b.flag("f").variation("v").experiment("e", split={"v": 1}, percent=101),
            "0 to 100",
        ),
        (lambda b: (b.flag("f"), b.flag("f")), "declared twice"),
    ],
)
def test_bad_descriptions_raise_config_error(build: object, message: str) -> None:
    builder = DatafileBuilder()
    with pytest.raises(ConfigError, match=message):
        build(builder)  # type: ignore[operator]


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda b: b.flag("f").serve("missing"), "no variation 'missing'"),
        (
            lambda b: b.flag("f").variation("v").rollout_rule("r", "v", audiences=["aud_x"]),
            "no audience",
        ),
        (lambda b: b.holdout("h", rules=["nope"]), "no rule 'nope'"),
    ],
)
def test_dangling_references_raise_at_build(build: object, message: str) -> None:
    builder = DatafileBuilder()
    build(builder)  # type: ignore[operator]
    with pytest.raises(ConfigError, match=message):
        builder.build()


def test_build_returns_fresh_json_compatible_dicts() -> None:
    builder = DatafileBuilder()
    builder.flag("f").variation("v").serve("v")
    first = builder.build()
    first["featureFlags"].clear()
    assert builder.build()["featureFlags"][0]["key"] == "f"
    assert json.loads(builder.to_json()) == builder.build()
