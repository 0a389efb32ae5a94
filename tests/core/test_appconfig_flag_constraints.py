"""Attribute ``constraints`` of ``AWS.AppConfig.FeatureFlags`` documents, enforced at parse time."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from asyncexp.core.appconfig import parse_feature_flags
from asyncexp.core.appconfig.flag_constraints import (
    ArrayConstraint,
    NumberConstraint,
    StringConstraint,
    parse_attribute_definitions,
)
from asyncexp.core.appconfig.safe_regex import MAX_SUBJECT_LENGTH, compile_pattern
from asyncexp.errors import ConfigError
from tests.appconfig_samples import FLAGS_DOCUMENT

DEFS = "flags.checkout.attributes"
LIMIT = {"type": "number", "minimum": 5, "maximum": 100}


def _doc(
    definitions: Any, values: dict[str, Any] | None = None, **more_values: Any
) -> dict[str, Any]:
    """One flag ``checkout`` with these attribute definitions and ``values.checkout``."""
    value = {"enabled": True, **(values or {}), **more_values}
    return {
        "version": "1",
        "flags": {"checkout": {"name": "Checkout", "attributes": definitions}},
        "values": {"checkout": value},
    }


def _one(constraints: dict[str, Any], value: Any) -> dict[str, Any]:
    """Attribute ``a`` with ``constraints`` and the flag-level value ``value``."""
    return _doc({"a": {"description": "under test", "constraints": constraints}}, a=value)


def _served(document: dict[str, Any]) -> Any:
    served = parse_feature_flags(document).evaluate("checkout", {})
    assert served is not None
    return served.attributes


def _refused(document: dict[str, Any]) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        parse_feature_flags(document)
    return info.value


def test_the_sample_document_still_parses() -> None:
    flags = parse_feature_flags(FLAGS_DOCUMENT)  # "color": {} declares no constraints
    checkout = flags.evaluate("checkout", {})
    assert checkout is not None
    assert checkout.as_dict() == {"enabled": True, "color": "green"}
    assert sorted(flags.flags) == ["banner", "checkout", "ui_refresh"]
    constrained = copy.deepcopy(FLAGS_DOCUMENT)
    constrained["flags"]["checkout"]["attributes"]["color"] = {
        "constraints": {"type": "string", "enum": ["green", "red"]}
    }
    assert _served(constrained) == {"color": "green"}
    constrained["values"]["checkout"]["color"] = "blue"
    assert _refused(constrained).path == "values.checkout.color"


# --- values -------------------------------------------------------------------------------

# (constraints, a value within them, a value breaking them)
ACCEPTED: list[tuple[dict[str, Any], Any, Any]] = [
    (LIMIT, 5, 4),
    (LIMIT, 100, 101),
    (LIMIT, 5.0, 4.5),
    (LIMIT, 99.5, 100.5),
    ({"type": "number"}, -1e300, "1"),
    ({"type": "number", "minimum": 0}, 10**12, -1),
    ({"type": "string", "pattern": "[0-9]{3}"}, "order-123-x", "order-12-x"),  # unanchored
    ({"type": "string", "pattern": "^ab$"}, "ab", "abc"),
    ({"type": "string", "pattern": ""}, "anything", 1),
    ({"type": "string", "enum": ["red", "blue", 7]}, "red", "RED"),
    ({"type": "string", "enum": ["red", "blue", 7]}, "7", 7),  # an int member's decimal text
    ({"type": "string", "enum": [-3]}, "-3", "3"),
    ({"type": "string"}, "", False),
    (
        {"type": "array", "elements": {"type": "number", "minimum": 0, "maximum": 10}},
        [0, 10, 2.5],
        [0, 10.5],
    ),
    ({"type": "array", "elements": {"type": "number"}}, [], ["1"]),
    ({"type": "array", "elements": {"type": "string", "enum": ["a", "b", 1]}}, ["b", "1"], ["c"]),
    ({"type": "array", "elements": {"type": "string", "pattern": "^x"}}, ["x1", "xy"], ["yx"]),
    ({"type": "array"}, ["no", "element", "constraint"], "a string"),
    ({"type": "boolean"}, True, "true"),
    ({"type": "boolean", "required": True}, False, 0),
]


@pytest.mark.parametrize(("constraints", "good", "bad"), ACCEPTED)
def test_values_within_the_constraints_are_served(
    constraints: dict[str, Any], good: Any, bad: Any
) -> None:
    served = _served(_one(constraints, good))
    assert served["a"] == (tuple(good) if isinstance(good, list) else good)
    assert _refused(_one(constraints, bad)).path.startswith("values.checkout.a")


REJECTED: list[tuple[dict[str, Any], Any, str, str]] = [
    (LIMIT, 4, "a", "4 is below the minimum 5"),
    (LIMIT, 4.99, "a", "4.99 is below the minimum 5"),
    (LIMIT, 101, "a", "101 is above the maximum 100"),
    (LIMIT, 150, "a", "150 is above the maximum 100"),
    (LIMIT, "50", "a", "must be a number, not a string"),
    (LIMIT, True, "a", "must be a number, not a boolean"),
    (LIMIT, [50], "a", "must be a number, not a list"),
    ({"type": "string", "pattern": "[0-9]{3}"}, "order-12-x", "a", "does not match the pattern"),
    ({"type": "string", "pattern": "^ab$"}, "xab", "a", "'xab' does not match the pattern '^ab$'"),
    ({"type": "string", "pattern": "x"}, 1, "a", "must be a string, not a number"),
    ({"type": "string", "enum": ["red", 7]}, "green", "a", "'green' is not one of the enum"),
    ({"type": "string", "enum": ["red", 7]}, "07", "a", "['red', '7']"),
    ({"type": "string", "enum": ["red", 7]}, 7, "a", "must be a string, not a number"),
    ({"type": "string", "enum": ["red"]}, "Red", "a", "not one of the enum"),
    (
        {"type": "array", "elements": {"type": "number", "maximum": 10}},
        [1, 11],
        "a[1]",
        "11 is above the maximum 10",
    ),
    ({"type": "array", "elements": {"type": "number"}}, ["1"], "a[0]", "must be a number"),
    ({"type": "array", "elements": {"type": "string", "enum": ["x"]}}, ["x", "y"], "a[1]", "enum"),
    ({"type": "array", "elements": {"type": "string", "pattern": "^x"}}, ["ax"], "a[0]", "match"),
    ({"type": "array", "elements": {"type": "string"}}, [1, 2], "a[0]", "must be a string"),
    ({"type": "array"}, "x", "a", "must be a list, not a string"),
    ({"type": "boolean"}, 1, "a", "must be a boolean, not a number"),
    ({"type": "boolean"}, "true", "a", "must be a boolean, not a string"),
]


@pytest.mark.parametrize(("constraints", "value", "where", "message"), REJECTED)
def test_values_breaking_a_constraint_are_refused(
    constraints: dict[str, Any], value: Any, where: str, message: str
) -> None:
    error = _refused(_one(constraints, value))
    assert error.path == f"values.checkout.{where}"
    assert message in str(error)


def test_long_values_are_shortened_in_messages() -> None:
    error = _refused(_one({"type": "string", "enum": ["x"]}, "y" * 1000))
    assert len(str(error)) < 200
    assert "yyy..." in str(error)


def test_a_too_long_subject_is_a_violation() -> None:
    """``SafePattern.search`` gives ``None`` past its limit; the check does not pass it."""
    constraint = StringConstraint(pattern=compile_pattern("x"))
    with pytest.raises(ConfigError, match="too long to search"):
        constraint.check("x" * (MAX_SUBJECT_LENGTH + 1), "values.f.a")
    constraint.check("x" * MAX_SUBJECT_LENGTH, "values.f.a")


def test_a_catastrophic_pattern_is_evaluated_safely() -> None:
    """``(a+)+$`` is in the safe subset; it runs on the automaton, not on backtracking ``re``."""
    assert compile_pattern("(a+)+$")._backtrack_safe is False
    constraints = {"type": "string", "pattern": "(a+)+$"}
    # exponential for re.search: were it used, this would hang until pytest-timeout fails it
    error = _refused(_one(constraints, "a" * 1023 + "!"))
    assert "does not match the pattern '(a+)+$'" in str(error)
    assert _served(_one(constraints, "b" + "a" * 1023))["a"].endswith("a")


def test_variant_values_are_checked_with_their_path() -> None:
    definitions = {"limit": {"constraints": LIMIT}}
    variants = [
        {"name": "low", "enabled": True, "rule": "(exists $low)", "attributeValues": {"limit": 5}},
        {"name": "high", "enabled": True, "attributeValues": {"limit": 150}},
    ]
    error = _refused(_doc(definitions, _variants=variants))
    assert error.path == "values.checkout._variants[1].attributeValues.limit"
    assert "150 is above the maximum 100" in str(error)
    variants[1]["attributeValues"] = {"limit": 100}
    served = parse_feature_flags(_doc(definitions, _variants=variants)).evaluate("checkout", {})
    assert served is not None
    assert served.attributes == {"limit": 100}


def test_disabled_flags_and_variants_still_have_their_values_checked() -> None:
    error = _refused(_doc({"limit": {"constraints": LIMIT}}, enabled=False, limit=1))
    assert error.path == "values.checkout.limit"
    variants = [{"name": "off", "enabled": False, "attributeValues": {"limit": 1}}]
    error = _refused(_doc({"limit": {"constraints": LIMIT}}, _variants=variants))
    assert error.path == "values.checkout._variants[0].attributeValues.limit"


def test_flag_level_values_of_a_multi_variant_flag_are_checked() -> None:
    variants = [{"name": "d", "enabled": True, "attributeValues": {"limit": 50}}]
    error = _refused(_doc({"limit": {"constraints": LIMIT}}, _variants=variants, limit=500))
    assert error.path == "values.checkout.limit"


def test_undeclared_and_unconstrained_attributes_stay_accepted() -> None:
    definitions = {"free": {"description": "no constraints"}, "limit": {"constraints": LIMIT}}
    served = _served(_doc(definitions, free=[1, 2], other="x", limit=7))
    assert served == {"free": (1, 2), "other": "x", "limit": 7}
    assert _refused(_doc(definitions, free=[1, 2], limit=700)).path == "values.checkout.limit"


# --- required -----------------------------------------------------------------------------

REQUIRED = {"limit": {"constraints": {**LIMIT, "required": True}}}


def test_required_on_an_enabled_flag() -> None:
    error = _refused(_doc(REQUIRED))
    assert error.path == "values.checkout.limit"
    assert "required" in str(error)
    assert _served(_doc(REQUIRED, limit=10)) == {"limit": 10}


def test_required_is_not_needed_on_a_disabled_flag() -> None:
    flags = parse_feature_flags(_doc(REQUIRED, enabled=False))
    assert flags.flags["checkout"].enabled is False
    no_values = _doc(REQUIRED)
    del no_values["values"]["checkout"]
    assert parse_feature_flags(no_values).flags["checkout"].enabled is False
    assert _refused(_doc(REQUIRED, enabled=True)).path == "values.checkout.limit"


def test_required_optional_false_allows_a_missing_value() -> None:
    optional = {"limit": {"constraints": {**LIMIT, "required": False}}}
    assert _served(_doc(optional)) == {}
    assert "required" in str(_refused(_doc(REQUIRED)))


def test_required_on_every_enabled_variant_only() -> None:
    variants: list[dict[str, Any]] = [
        {"name": "on", "enabled": True, "rule": "(exists $x)", "attributeValues": {"limit": 9}},
        {"name": "off", "enabled": False, "rule": "(exists $y)"},
        {"name": "default", "enabled": True, "attributeValues": {}},
    ]
    error = _refused(_doc(REQUIRED, _variants=variants))
    assert error.path == "values.checkout._variants[2].attributeValues.limit"
    assert "required" in str(error)
    variants[2]["attributeValues"] = {"limit": 12}
    # the flag level of a multi-variant flag needs no value: the variants serve it
    flags = parse_feature_flags(_doc(REQUIRED, _variants=variants))
    assert flags.evaluate("checkout", {"y": 1}) is not None
    variants[0]["attributeValues"] = {}
    error = _refused(_doc(REQUIRED, _variants=variants))
    assert error.path == "values.checkout._variants[0].attributeValues.limit"


# --- definition errors --------------------------------------------------------------------

C = f"{DEFS}.a.constraints"
BAD_CONSTRAINTS: list[tuple[Any, str, str]] = [
    ({"type": "integer"}, f"{C}.type", "must be one of number, string, array, boolean"),
    ({"minimum": 1}, f"{C}.type", "not None"),
    ({"type": ["number"]}, f"{C}.type", "must be one of"),
    ({"type": "number", "required": "yes"}, f"{C}.required", "must be a boolean"),
    ({"type": "boolean", "required": None}, f"{C}.required", "must be a boolean"),
    ({"type": "number", "minimum": 1.5}, f"{C}.minimum", "must be an integer"),
    ({"type": "number", "minimum": None}, f"{C}.minimum", "must be an integer"),
    ({"type": "number", "maximum": True}, f"{C}.maximum", "must be an integer"),
    ({"type": "number", "maximum": "9"}, f"{C}.maximum", "must be an integer"),
    ({"type": "number", "minimum": 10, "maximum": 5}, f"{C}.minimum", "10 is above the maximum 5"),
    ({"type": "string", "pattern": "a", "enum": ["a"]}, C, "both pattern and enum"),
    ({"type": "string", "enum": []}, f"{C}.enum", "1 to 100"),
    ({"type": "string", "enum": [str(i) for i in range(101)]}, f"{C}.enum", "1 to 100"),
    ({"type": "string", "enum": "red"}, f"{C}.enum", "1 to 100"),
    ({"type": "string", "enum": ["a", 1.5]}, f"{C}.enum[1]", "string or an integer"),
    ({"type": "string", "enum": ["a", True]}, f"{C}.enum[1]", "string or an integer"),
    ({"type": "string", "enum": [None]}, f"{C}.enum[0]", "string or an integer"),
    ({"type": "string", "pattern": 5}, f"{C}.pattern", "must be a string, not int"),
    ({"type": "string", "pattern": "(?=a)b"}, f"{C}.pattern", "safe regex subset"),
    ({"type": "string", "pattern": "ab("}, f"{C}.pattern", "missing ')' (pattern offset 2)"),
    ({"type": "string", "pattern": "x\\1"}, f"{C}.pattern", "(pattern offset 1)"),
    ({"type": "string", "pattern": "a{200}"}, f"{C}.pattern", "at most 100"),
    ({"type": "number", "pattern": "a"}, f"{C}.pattern", "not a key of number constraints"),
    ({"type": "string", "minimum": 1}, f"{C}.minimum", "not a key of string constraints"),
    ({"type": "boolean", "enum": [1]}, f"{C}.enum", "not a key of boolean constraints"),
    ({"type": "array", "pattern": "x"}, f"{C}.pattern", "not a key of array constraints"),
    ({"type": "number", "default": 1}, f"{C}.default", "not a key"),
    ({"type": "array", "elements": [1]}, f"{C}.elements", "must be an object"),
    ({"type": "array", "elements": {}}, f"{C}.elements.type", "must be one of number, string"),
    ({"type": "array", "elements": {"type": "array"}}, f"{C}.elements.type", "one of"),
    ({"type": "array", "elements": {"type": "boolean"}}, f"{C}.elements.type", "one of"),
    (
        {"type": "array", "elements": {"type": "number", "required": True}},
        f"{C}.elements.required",
        "not a key of array elements",
    ),
    (
        {"type": "array", "elements": {"type": "number", "minimum": 3, "maximum": 1}},
        f"{C}.elements.minimum",
        "above the maximum",
    ),
    (
        {"type": "array", "elements": {"type": "string", "pattern": "(?<=a)"}},
        f"{C}.elements.pattern",
        "safe regex subset",
    ),
    (
        {"type": "array", "elements": {"type": "string", "enum": ["a"], "pattern": "a"}},
        f"{C}.elements",
        "both pattern and enum",
    ),
    ("number", C, "must be an object, not str"),
    (None, C, "must be an object, not NoneType"),
]


@pytest.mark.parametrize(("constraints", "where", "message"), BAD_CONSTRAINTS)
def test_bad_constraints_are_refused_with_their_path(
    constraints: Any, where: str, message: str
) -> None:
    error = _refused(_doc({"a": {"constraints": constraints}}))
    assert error.path == where
    assert message in str(error)


BAD_DEFINITIONS: list[tuple[Any, str, str]] = [
    ([], DEFS, "must be an object, not list"),
    ({"a": "number"}, f"{DEFS}.a", "must be an object, not str"),
    ({"a": None}, f"{DEFS}.a", "must be an object"),
    ({"Limit": {}}, DEFS, "attribute name 'Limit'"),
    ({"1st": {}}, DEFS, "attribute name '1st'"),
    ({"a b": {}}, DEFS, "attribute name 'a b'"),
    ({"_variants": {}}, DEFS, "attribute name '_variants'"),
    ({"a" * 65: {}}, DEFS, "does not match [a-z][a-zA-Z0-9_-]{0,63}"),
    ({"enabled": {"constraints": {"type": "boolean"}}}, DEFS, "'enabled' is reserved"),
    ({f"a{i}": {} for i in range(26)}, DEFS, "has 26 attributes, more than 25"),
]


@pytest.mark.parametrize(("definitions", "where", "message"), BAD_DEFINITIONS)
def test_bad_attribute_definitions_are_refused(definitions: Any, where: str, message: str) -> None:
    error = _refused(_doc(definitions))
    assert error.path == where
    assert message in str(error)


def test_good_definitions_compile_to_immutable_constraints() -> None:
    definitions = {
        "a": {"constraints": {"type": "number", "minimum": 1}},
        "b" + "x" * 63: {"description": "longest name, no constraints"},
        "tags": {"constraints": {"type": "array", "elements": {"type": "string", "enum": [1]}}},
        **{f"n{i}": {} for i in range(22)},
    }
    compiled = parse_attribute_definitions(definitions, DEFS)
    assert dict(compiled) == {
        "a": NumberConstraint(minimum=1),
        "tags": ArrayConstraint(elements=StringConstraint(enum=("1",))),
    }
    with pytest.raises(TypeError):
        compiled["a"] = NumberConstraint()  # type: ignore[index]
    number = compiled["a"]
    assert isinstance(number, NumberConstraint)
    with pytest.raises(AttributeError):
        number.minimum = 2  # type: ignore[misc]
