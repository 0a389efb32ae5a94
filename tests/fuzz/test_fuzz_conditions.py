"""Fuzzing audience condition trees: random and/or/not trees with random leaves.

Contracts checked:

* Compiling a condition tree or an audience-id tree returns an evaluator or
  raises ``ConfigError`` (trees nested past ``max_depth``, 10,000 levels
  included); nothing else.
* An evaluator, called with any attributes and segments, returns True, False or
  None and never raises.
* The compiled tree (with its constant folding and short cuts) gives the same
  answer as a plain recursive reading of the documented rules, applied to the
  same leaves compiled one by one.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from asyncexp.core.flags.conditions import Evaluator, compile_audience_tree, compile_condition_tree
from asyncexp.errors import ConfigError
from tests.fuzz.profile import fuzz
from tests.fuzz.strategies import deep, json_values

NAMES = ("age", "country", "version", "flag", "odp.audiences", "missing")
MATCHES = (
    "exact",
    "exists",
    "substring",
    "gt",
    "ge",
    "lt",
    "le",
    "semver_eq",
    "semver_gt",
    "semver_ge",
    "semver_lt",
    "semver_le",
    "qualified",
    "regex",
    None,
)
VALUES = st.one_of(
    st.integers(-100, 100),
    st.floats(),
    st.booleans(),
    st.none(),
    st.sampled_from(["US", "1.2.3", "2.0.0-beta", "1.2-beta", "²", "", "vip", "gold", "9" * 30]),
    st.sampled_from([2**53, 2**53 + 1, 2**64, 1e308, math.nan, math.inf]),
    json_values(max_leaves=3),
)

LEAVES = st.one_of(
    st.fixed_dictionaries(
        {
            "type": st.sampled_from(["custom_attribute", "third_party_dimension", "other"]),
            "name": st.one_of(st.sampled_from(NAMES), st.integers(), st.none()),
            "value": VALUES,
        },
        optional={"match": st.sampled_from(MATCHES)},
    ),
    json_values(max_leaves=3),  # anything at all where a leaf should be
)


def trees(leaves: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.recursive(
        leaves,
        lambda inner: st.one_of(
            st.tuples(st.sampled_from(["and", "or", "not"]), st.lists(inner, max_size=4)).map(
                lambda t: [t[0], *t[1]]
            ),
            st.lists(inner, max_size=4),  # implicit OR (or empty: UNKNOWN)
        ),
        max_leaves=12,
    )


ATTRIBUTE_VALUES = st.one_of(
    VALUES,
    st.sampled_from(["1.2.3", "1.2.3-beta", "2.9.1", "1..2", "1.2.3.4", "v1", "1.²"]),
    st.builds(lambda: 10**5000),  # past the int/str conversion limit
    st.builds(lambda: "9" * 5000),
)
ATTRIBUTES = st.dictionaries(st.sampled_from(NAMES), ATTRIBUTE_VALUES, max_size=6)
SEGMENTS = st.one_of(st.none(), st.lists(st.sampled_from(["vip", "gold", "US", ""]), max_size=3))


# -- a reference reading of the rules ----------------------------------------------------------

OPERATORS = ("and", "or", "not")


def reference(tree: Any, leaf: Any) -> bool | None:
    """The module docstring's rules, read recursively and without any short cut."""
    if not isinstance(tree, list):
        result: bool | None = leaf(tree)
        return result
    if not tree:
        return None
    head = tree[0]
    if isinstance(head, str) and head in OPERATORS:
        operands = tree[1:]
        if head == "not":
            if not operands:
                return None
            inner = reference(operands[0], leaf)
            return None if inner is None else not inner
    else:
        head, operands = "or", tree
    results = [reference(op, leaf) for op in operands]  # every operand: results only
    stop = head == "or"
    if any(r is stop for r in results):
        return stop
    if any(r is None for r in results):
        return None
    return not stop


def check_condition_tree(tree: Any, attributes: dict[str, Any], segments: list[str] | None) -> None:
    warnings: list[str] = []
    try:
        evaluator = compile_condition_tree(tree, "conditions", warnings)
    except ConfigError:
        return
    assert all(isinstance(w, str) for w in warnings)
    got = evaluator(attributes, segments)
    assert got in (True, False, None)

    def leaf(node: Any) -> bool | None:
        result: bool | None = compile_condition_tree(node, "leaf", [])(attributes, segments)
        return result

    assert got is reference(tree, leaf)


@fuzz(500)
@given(trees(LEAVES), ATTRIBUTES, SEGMENTS)
def test_condition_trees(tree: Any, attributes: dict[str, Any], segments: list[str] | None) -> None:
    check_condition_tree(tree, attributes, segments)


@fuzz(300)
@given(json_values(max_leaves=30), ATTRIBUTES, SEGMENTS)
def test_random_json_as_condition_tree(
    tree: Any, attributes: dict[str, Any], segments: list[str] | None
) -> None:
    check_condition_tree(tree, attributes, segments)


IDS = ("a", "b", "c", "unknown", "and", "or", "not")


def _const(value: bool | None) -> Evaluator:
    def evaluate(attributes: Mapping[str, object], segments: Collection[str] | None) -> bool | None:
        return value

    return evaluate


@fuzz(400)
@given(
    trees(st.one_of(st.sampled_from(IDS), json_values(max_leaves=2))),
    st.fixed_dictionaries(
        {k: st.sampled_from([True, False, None]) for k in ("a", "b", "c", "and", "or", "not")}
    ),
)
def test_audience_id_trees(tree: Any, verdicts: dict[str, bool | None]) -> None:
    audiences = {k: _const(v) for k, v in verdicts.items()}
    try:
        evaluator = compile_audience_tree(tree, audiences, "audienceConditions")
    except ConfigError:
        return
    got = evaluator({}, None)
    if tree is None or tree == []:
        assert got is True  # no audience: everyone
        return

    def leaf(node: Any) -> bool | None:
        return verdicts.get(node) if isinstance(node, str) else None

    assert got is reference(tree, leaf)


@pytest.mark.parametrize("levels", [33, 1_000, 10_000])
@pytest.mark.parametrize("kind", ["list", "leaf value", "leaf dict", "and"])
def test_deep_trees_raise_config_error(levels: int, kind: str) -> None:
    leaf = {"type": "custom_attribute", "name": "age", "match": "exact"}
    tree: Any
    if kind == "list":
        tree = deep(levels)
    elif kind == "leaf value":
        tree = ["and", {**leaf, "value": deep(levels)}]
    elif kind == "leaf dict":
        tree = ["or", {**leaf, "value": deep(levels, "dict")}]
    else:
        tree = {"type": "custom_attribute"}
        for _ in range(levels):
            tree = ["and", tree]
    with pytest.raises(ConfigError):
        compile_condition_tree(tree, "conditions", [])
    with pytest.raises(ConfigError):
        compile_audience_tree(tree, {}, "audienceConditions")
