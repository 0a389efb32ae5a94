"""The inputs the fuzz tests found, kept as plain tests. Where a case raised an
undocumented exception before its fix, the comment names it; the other cases pin
the neighbouring behaviour the fix must keep."""

from __future__ import annotations

import json
from typing import Any

import pytest

from asyncexp.core.appconfig import parse_experiment_run
from asyncexp.core.appconfig.rule_eval import compile_rule
from asyncexp.core.flags.datafile import MAX_DEPTH_LIMIT, parse_datafile
from asyncexp.errors import ConfigError, RuleSyntaxError
from tests.appconfig_samples import run_dict
from tests.datafiles import base_datafile
from tests.fuzz.strategies import deep, deep_text
from tests.fuzz.test_fuzz_datafile import exercise


def _datafile(**edits: Any) -> dict[str, Any]:
    doc = base_datafile()
    for path, value in edits.items():
        node: Any = doc
        *steps, last = path.split("__")
        for step in steps:
            node = node[int(step)] if step.isdigit() else node[step]
        node[int(last) if last.isdigit() else last] = value
    return doc


@pytest.mark.parametrize(
    ("edits", "path"),
    [
        # TypeError: unhashable type: 'list' (the everyone-else lookup of fr rules)
        ({"featureFlags__0__rolloutId": ["ro_checkout"]}, "featureFlags[0].rolloutId"),
        ({"featureFlags__0__rolloutId": {}}, "featureFlags[0].rolloutId"),
        # TypeError: 'int' object is not iterable
        ({"featureFlags__0__experimentIds": 5}, "featureFlags[0].experimentIds"),
        # TypeError: unhashable type: 'list' (any experiment id, fr or not)
        ({"experiments__0__id": ["exp_checkout"]}, "experiments[0].id"),
        # TypeError: 'int' object is not iterable (an fr rule's variations)
        (
            {"experiments__0__type": "fr", "experiments__0__variations": 5},
            "experiments[0].variations",
        ),
        (
            {"experiments__0__type": "fr", "experiments__0__trafficAllocation": "x"},
            "experiments[0].trafficAllocation",
        ),
        # TypeError in the config view ("'NoneType' object is not iterable"): the parser took
        # null for [] where the reference's schema requires an array
        ({"events__0__experimentIds": None}, "events[0].experimentIds"),
    ],
)
def test_mistyped_fields_read_before_validation(edits: dict[str, Any], path: str) -> None:
    doc = _datafile(**edits)
    for form in (doc, json.dumps(doc)):
        with pytest.raises(ConfigError) as raised:
            parse_datafile(form)
        assert raised.value.path == path


def test_an_fr_rule_without_traffic_still_gets_the_everyone_else_range() -> None:
    doc = _datafile(experiments__0__type="fr")
    del doc["experiments"][0]["trafficAllocation"]
    rule = parse_datafile(doc).rules_by_id["exp_checkout"]
    assert rule.traffic == ((10000, "502"),)


def _leaf(value: Any) -> list[Any]:
    return ["and", {"type": "custom_attribute", "name": "age", "match": "exact", "value": value}]


def test_deep_leaf_values_are_refused_not_recursion_errors() -> None:
    # RecursionError in json.dumps of the "unsupported condition value" warning
    text = json.dumps(_datafile(typedAudiences__0__conditions=_leaf("@@")))
    with pytest.raises(ConfigError, match="nested deeper than 32") as raised:
        parse_datafile(text.replace('"@@"', deep_text(1000)))
    assert raised.value.path == "typedAudiences[0].conditions[1]"
    # RecursionError in the audience reasons (decide with INCLUDE_REASONS) and the view
    text = json.dumps(_datafile(experiments__0__audienceConditions=["or", "@@"]))
    with pytest.raises(ConfigError, match="nested deeper than 32"):
        parse_datafile(text.replace('"@@"', deep_text(1000, "dict")))
    # Up to the limit, what a leaf holds is printed and decided like before.
    config = parse_datafile(_datafile(typedAudiences__0__conditions=_leaf(deep(32))))
    assert any("unsupported condition value" in w for w in config.warnings)
    exercise(config)


def test_max_depth_has_a_ceiling_that_every_printer_survives() -> None:
    with pytest.raises(ConfigError, match="max_depth"):
        parse_datafile(base_datafile(), max_depth=MAX_DEPTH_LIMIT + 1)
    with pytest.raises(ConfigError, match="max_depth"):
        parse_datafile(base_datafile(), max_depth=0)
    tree: Any = {"type": "custom_attribute", "name": "age", "value": deep(MAX_DEPTH_LIMIT)}
    audiences: Any = "aud_adult"
    for _ in range(MAX_DEPTH_LIMIT):
        tree = ["and", tree]
        audiences = ["or", audiences]
    doc = _datafile(typedAudiences__0__conditions=tree)
    doc["experiments"][0]["audienceConditions"] = audiences
    config = parse_datafile(json.dumps(doc), max_depth=MAX_DEPTH_LIMIT)
    exercise(config)  # reasons and the config view print these trees recursively


@pytest.mark.parametrize(
    "text",
    [
        "(eq $x " + "9" * 5000 + ")",  # ValueError: Exceeds the limit (4300 digits)
        "(eq $x -" + "0" * 10 + "9" * 20 + ")",
        "(eq $age ²)",  # AssertionError: "²".isdigit() but no number token
        "(eq $age ٣)",
    ],
    ids=["5000 digits", "20 digits", "superscript two", "arabic three"],
)
def test_rule_number_tokens(text: str) -> None:
    with pytest.raises(RuleSyntaxError):
        compile_rule(text)


def test_leading_zeros_are_still_a_64_bit_integer() -> None:
    rule = compile_rule("(eq $x " + "0" * 50 + "7)")
    assert rule.evaluate({"x": 7}) is True


def test_rule_evaluation_with_numbers_python_cannot_print() -> None:
    # ValueError from int() / str() past 4300 digits; TypeError from orjson past 64 bits
    assert compile_rule("(gt $x 1)").evaluate({"x": "9" * 5000}) is True
    assert compile_rule("(lt $x 1)").evaluate({"x": "-" + "9" * 5000}) is True
    assert compile_rule('(eq $x "1")').evaluate({"x": 10**5000}) is False
    assert compile_rule('(begins_with $x "1")').evaluate({"x": 10**5000}) is False
    assert compile_rule("(split pct::50 by::$id)").evaluate({"id": 2**64}) is None
    assert compile_rule("(split pct::50 by::$id)").evaluate({"id": {1: "x"}}) is None
    assert compile_rule("(split pct::50 by::$id)").evaluate({"id": 2**63 - 1}) in (True, False)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("ExposurePercentage", 10**400),  # OverflowError: int too large to convert to float
        ("StartedAt", 10**400),  # OverflowError
        ("StartedAt", -9007199254740993),  # ValueError: year is out of range
        ("UpdatedAt", 1e300),  # OverflowError: timestamp out of range for platform time_t
    ],
    ids=["exposure 10**400", "started 10**400", "started -2**53-1", "updated 1e300"],
)
def test_run_numbers_out_of_range(field: str, value: Any) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_experiment_run(run_dict(**{field: value}))
    assert raised.value.path == field


def test_treatment_weight_out_of_float_range() -> None:
    data = run_dict()
    data["ExperimentDefinitionSnapshot"]["Treatments"][0]["Weight"] = 10**400
    with pytest.raises(ConfigError, match="finite"):
        parse_experiment_run(data)
