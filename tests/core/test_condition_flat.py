"""Flattened audience checks (asyncexp.core.flags.condition_flat) give the closures'
results, and no datafile text ever becomes source."""

from __future__ import annotations

from typing import Any

from asyncexp.core.flags import condition_flat
from asyncexp.core.flags.condition_flat import flatten
from asyncexp.core.flags.datafile import parse_datafile
from tests.compat.datafile_gen import SEGMENTS, generate_datafile, generate_users


def test_flattened_audiences_match_the_closures_on_generated_datafiles() -> None:
    compared = flattened = 0
    for seed in range(20):
        datafile = generate_datafile(seed)
        config = parse_datafile(datafile)
        users = generate_users(datafile, seed, 150)
        for rule in (*config.rules_by_id.values(), *config.global_holdouts):
            flat = flatten(rule.audience)
            flattened += flat is not rule.audience
            for user in users:
                for segments in (None, frozenset(user.segments or ()), frozenset(SEGMENTS)):
                    expected = rule.audience(user.attributes, segments)
                    assert flat(user.attributes, segments) is expected, (seed, rule.key)
                    compared += 1
    assert flattened > 50
    assert compared > 100_000


def _leaf(name: str, match: str, value: Any) -> dict[str, Any]:
    return {"type": "custom_attribute", "name": name, "match": match, "value": value}


def test_no_datafile_text_becomes_source() -> None:
    evil = '"); import os; os._exit(3); ("'
    tree = [
        "or",
        ["and", _leaf(evil, "exact", evil), _leaf("n", "gt", 1)],
        ["not", _leaf(evil, "substring", evil)],
        _leaf("v", "semver_lt", "2.0.0"),
    ]
    datafile = generate_datafile(1)
    datafile["typedAudiences"] = [{"id": "evil", "name": evil, "conditions": tree}]
    datafile["experiments"][0]["audienceConditions"] = ["and", "evil", ["not", "evil"]]
    config = parse_datafile(datafile)
    rule = config.rules_by_id[datafile["experiments"][0]["id"]]
    flat = flatten(rule.audience)
    assert flat is not rule.audience
    sources = list(condition_flat._compiled)
    assert sources
    assert not any(evil in source or "import" in source for source in sources)
    for attributes in ({evil: evil, "n": 2}, {"n": 0, "v": "1.5.0"}, {evil: "x" + evil}, {}):
        assert flat(attributes, None) is rule.audience(attributes, None)


def test_big_trees_are_left_as_they_are() -> None:
    leaves = [_leaf(f"a{i}", "exact", i) for i in range(condition_flat.MAX_NODES + 5)]
    datafile = generate_datafile(2)
    datafile["typedAudiences"] = [{"id": "big", "name": "big", "conditions": ["or", *leaves]}]
    datafile["experiments"][0]["audienceConditions"] = ["and", "big", "big"]
    config = parse_datafile(datafile)
    rule = config.rules_by_id[datafile["experiments"][0]["id"]]
    assert flatten(rule.audience) is rule.audience
