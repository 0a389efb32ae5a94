"""Rules read by the fast path (no path-aware readers) are the full reader's rules."""

from __future__ import annotations

from typing import Any

import pytest

from asyncexp.core.flags import rule_builder
from asyncexp.core.flags.datafile import parse_datafile
from asyncexp.examples_data import example_datafile
from tests.compat.datafile_gen import generate_datafile


def _rules(datafile: Any) -> dict[str, Any]:
    return parse_datafile(datafile).rules_by_id  # type: ignore[no-any-return]


def _variables(datafile: Any) -> dict[str, Any]:
    return {key: flag.variables for key, flag in parse_datafile(datafile).flags.items()}


def test_fast_variable_definitions_equal_the_full_readers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    datafiles = [example_datafile(), *(generate_datafile(seed) for seed in range(10))]
    fast = [_variables(datafile) for datafile in datafiles]
    assert sum(len(v) for flags in fast for v in flags.values()) > 100
    monkeypatch.setattr(rule_builder, "_variable_def_fast", lambda raw: None)
    full = [_variables(datafile) for datafile in datafiles]
    assert fast == full
    for fast_flags, full_flags in zip(fast, full, strict=True):
        for key, definitions in fast_flags.items():
            for one, other in zip(definitions, full_flags[key], strict=True):
                assert [type(x) for x in one] == [type(x) for x in other]


def test_fast_rules_equal_the_full_readers(monkeypatch: pytest.MonkeyPatch) -> None:
    datafiles = [example_datafile(), *(generate_datafile(seed) for seed in range(10))]
    built: list[object] = []
    original = rule_builder._rule_fast

    def counted(*args: Any) -> Any:
        rule = original(*args)
        built.append(rule)
        return rule

    monkeypatch.setattr(rule_builder, "_rule_fast", counted)
    fast = [_rules(datafile) for datafile in datafiles]
    assert sum(rule is not None for rule in built) > 100
    calls: list[object] = []
    monkeypatch.setattr(rule_builder, "_rule_fast", lambda raw, *args: calls.append(raw))
    full = [_rules(datafile) for datafile in datafiles]
    assert len(calls) > 100
    for fast_rules, full_rules in zip(fast, full, strict=True):
        assert fast_rules.keys() == full_rules.keys()
        for rule_id, rule in fast_rules.items():
            other = full_rules[rule_id]
            assert type(rule) is type(other)
            for name in rule._fields:
                if name == "audience":
                    continue
                assert getattr(rule, name) == getattr(other, name), (rule_id, name)
                assert type(getattr(rule, name)) is type(getattr(other, name)), (rule_id, name)


def test_repeated_legacy_conditions_warn_once_per_audience() -> None:
    datafile = generate_datafile(5)
    good = '{"type": "custom_attribute", "name": "c", "match": "exact", "value": "y"}'
    bad = f'["or", {good}, {{"type": "custom_attribute", "name": "a", "match": "regex"}}]'
    other = f'["and", {good}, {{"type": "custom_attribute", "name": "b", "match": "nope"}}]'
    datafile["typedAudiences"] = []
    datafile["audiences"] = [
        {"id": f"aud{i}", "name": f"aud{i}", "conditions": bad if i % 3 else other}
        for i in range(7)
    ]
    config = parse_datafile(datafile)
    texts = [warning for warning in config.warnings if "Audience condition" in warning]
    assert len(texts) == 7
    assert len([t for t in texts if "regex" in t]) == 4
    assert [("regex" in t) for t in texts] == [bool(i % 3) for i in range(7)]
    audiences = config.audiences
    assert audiences["aud1"].evaluate is audiences["aud2"].evaluate
    assert audiences["aud0"].evaluate is not audiences["aud1"].evaluate
