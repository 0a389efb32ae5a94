"""Compiled audience conditions (behaviour reference §3.1–3.3), checked directly and
against the installed optimizely-sdk 5.7.0, which is called here as an oracle."""

from __future__ import annotations

import importlib
import itertools
import json
import logging
import random
from collections.abc import Collection, Iterator, Mapping
from typing import Any

import pytest

from asyncexp.core.flags.conditions import (
    Evaluator,
    audience_result,
    compile_audience_tree,
    compile_condition_tree,
)
from asyncexp.errors import ConfigError

BIG = 2**53
NAN = float("nan")
INF = float("inf")
UPGRADE = "You may need to upgrade to a newer release of the Optimizely SDK."


def cond(
    match: str | None, value: object, name: str = "a", kind: str = "custom_attribute"
) -> dict[str, object]:
    condition: dict[str, object] = {"name": name, "value": value, "type": kind}
    if match is not None:
        condition["match"] = match
    return condition


def run(
    tree: object,
    attributes: Mapping[str, object],
    segments: Collection[str] | None = None,
) -> bool | None:
    warnings: list[str] = []
    return compile_condition_tree(tree, "aud", warnings)(attributes, segments)


def leaf(
    match: str | None, value: object, user: object = None, *, missing: bool = False
) -> bool | None:
    return run(cond(match, value), {} if missing else {"a": user})


# --- leaves -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("match", "value", "user", "expected"),
    [
        # The [observed] examples of §3.3.
        ("exact", 1, 1.0, True),
        ("exact", 1, True, None),
        ("exact", True, 1, None),
        ("exact", BIG + 1, BIG + 1, None),
        ("exact", 1, BIG + 2, None),
        ("exists", None, 0, True),
        ("exists", None, False, True),
        ("exists", None, None, False),
        ("gt", 10, "11", None),
        ("gt", 10, True, None),
        ("gt", 10, NAN, None),
        ("gt", "10", 11, None),
        ("substring", "ell", 5, None),
        ("qualified", 5, "x", None),
    ],
)
def test_observed_examples(match: str, value: object, user: object, expected: bool | None) -> None:
    assert leaf(match, value, user) is expected


@pytest.mark.parametrize(
    ("value", "user", "expected"),
    [
        ("abc", "abc", True),
        ("abc", "ABC", False),  # case-sensitive
        ("", "", True),
        ("é", "é", True),
        ("1", 1, None),  # str never equals a number
        (True, True, True),
        (False, True, False),
        (False, 0, None),  # bool never equals a number ...
        (0, False, None),  # ... either way round
        (True, "true", None),
        (1, 1, True),
        (1.0, 1, True),
        (0, -0.0, True),
        (-0.0, 0, True),
        (1.5, 1, False),
        (BIG, float(BIG), True),
        (-BIG, -BIG, True),
        (1, -BIG - 1, None),  # user number past 2**53
        (1, INF, None),
        (1, -INF, None),
        (1, NAN, None),
        (1, "1", None),
        (1, [1], None),
    ],
)
def test_exact(value: object, user: object, expected: bool | None) -> None:
    assert leaf("exact", value, user) is expected
    # A missing match is exact.
    assert leaf(None, value, user) is expected


@pytest.mark.parametrize("value", [NAN, INF, -INF, BIG + 1, -BIG - 1, None, [1], {"x": 1}])
def test_exact_rejects_condition_value_at_compile_time(value: object) -> None:
    warnings: list[str] = []
    evaluator = compile_condition_tree(cond("exact", value), "aud", warnings)
    assert evaluator({"a": value}, None) is None
    assert evaluator({"a": 1}, None) is None
    assert len(warnings) == 1
    assert warnings[0].endswith(f"has an unsupported condition value. {UPGRADE}")


@pytest.mark.parametrize("match", ["exact", "substring", "gt", "ge", "lt", "le", "semver_eq"])
def test_missing_or_none_attribute_is_unknown(match: str) -> None:
    value = "1.0" if match in ("exact", "substring", "semver_eq") else 1
    assert leaf(match, value, missing=True) is None
    assert leaf(match, value, None) is None


def test_exists() -> None:
    for user in [0, False, "", [], 0.0, NAN, "x"]:
        assert leaf("exists", "ignored", user) is True
    assert leaf("exists", "ignored", None) is False
    assert leaf("exists", "ignored", missing=True) is False
    # The value is ignored, even one no other match would accept.
    assert leaf("exists", NAN, 1) is True


@pytest.mark.parametrize(
    ("value", "user", "expected"),
    [
        ("ell", "hello", True),
        ("ell", "HELLO", False),
        ("", "", True),
        ("", "x", True),
        ("hello", "ell", False),
        ("é", "café", True),
        ("1", 1, None),
        ("true", True, None),
    ],
)
def test_substring(value: str, user: object, expected: bool | None) -> None:
    assert leaf("substring", value, user) is expected


@pytest.mark.parametrize("value", [5, True, None, 1.0])
def test_substring_needs_a_string_value(value: object) -> None:
    warnings: list[str] = []
    assert (
        compile_condition_tree(cond("substring", value), "aud", warnings)({"a": "5"}, None) is None
    )
    assert len(warnings) == 1


@pytest.mark.parametrize(
    ("match", "user", "expected"),
    [
        ("gt", 11, True),
        ("gt", 10, False),
        ("gt", 10.5, True),
        ("ge", 10, True),
        ("ge", 10.0, True),
        ("ge", 9.99, False),
        ("lt", 9, True),
        ("lt", 10, False),
        ("lt", -BIG, True),
        ("le", 10, True),
        ("le", 10.01, False),
        ("gt", BIG, True),
        ("gt", BIG + 1, None),
        ("lt", -BIG - 1, None),
        ("lt", -INF, None),
        ("gt", INF, None),
        ("ge", NAN, None),
        ("le", False, None),
        ("gt", "11", None),
    ],
)
def test_numeric(match: str, user: object, expected: bool | None) -> None:
    assert leaf(match, 10, user) is expected


@pytest.mark.parametrize("match", ["gt", "ge", "lt", "le"])
@pytest.mark.parametrize("value", ["10", True, False, NAN, INF, BIG + 1, None])
def test_numeric_rejects_condition_value(match: str, value: object) -> None:
    warnings: list[str] = []
    evaluator = compile_condition_tree(cond(match, value), "aud", warnings)
    assert evaluator({"a": 11}, None) is None
    assert len(warnings) == 1


def test_number_subclasses_count_but_bool_does_not() -> None:
    class Float(float):
        pass

    assert leaf("exact", 1, Float(1.0)) is True
    assert leaf("gt", 0, Float(1.0)) is True
    assert leaf("ge", 0, True) is None


def test_qualified() -> None:
    qualified = cond("qualified", "seg", name="odp.audiences", kind="third_party_dimension")
    assert run(qualified, {}, ["other", "seg"]) is True
    assert run(qualified, {}, frozenset({"seg"})) is True
    assert run(qualified, {}, ["other"]) is False
    assert run(qualified, {}, []) is False
    assert run(qualified, {}, None) is False  # never fetched is FALSE, not UNKNOWN
    # Attributes do not matter.
    assert run(qualified, {"odp.audiences": "seg"}, None) is False
    warnings: list[str] = []
    assert compile_condition_tree(cond("qualified", 5), "aud", warnings)({}, ["5"]) is None
    assert len(warnings) == 1


def test_unknown_type_and_match_warn_in_reference_words() -> None:
    warnings: list[str] = []
    unknown_type = compile_condition_tree(cond("exact", 1, kind="browser"), "aud", warnings)
    unknown_match = compile_condition_tree(cond("regex", 1), "aud", warnings)
    assert unknown_type({"a": 1}, None) is None
    assert unknown_match({"a": 1}, None) is None
    assert warnings == [
        'Audience condition "{"name": "a", "value": 1, "type": "browser", "match": "exact"}" '
        f"uses an unknown condition type. {UPGRADE}",
        'Audience condition "{"name": "a", "value": 1, "type": "custom_attribute", "match": '
        f'"regex"}}" uses an unknown match type. {UPGRADE}',
    ]


@pytest.mark.parametrize(
    "condition",
    [
        {"name": "a", "value": 1, "match": "exact"},  # no type
        cond("exact", 1, kind="Custom_Attribute"),  # type is case-sensitive
        cond("EXACT", 1),  # match too
        {"name": "a", "value": 1, "type": ["custom_attribute"], "match": "exact"},
        {"name": "a", "value": 1, "type": "custom_attribute", "match": ["exact"]},
    ],
)
def test_malformed_leaves_are_unknown(condition: dict[str, object]) -> None:
    warnings: list[str] = []
    assert compile_condition_tree(condition, "aud", warnings)({"a": 1}, None) is None
    assert len(warnings) == 1


def test_third_party_dimension_is_a_known_type() -> None:
    assert run(cond("exact", 1, kind="third_party_dimension"), {"a": 1}) is True


def test_nameless_condition_never_sees_an_attribute() -> None:
    warnings: list[str] = []
    exists = compile_condition_tree({"type": "custom_attribute", "match": "exists"}, "a", warnings)
    exact = compile_condition_tree({"type": "custom_attribute", "value": 1}, "a", warnings)
    assert exists({"a": 1}, None) is False
    assert exact({"a": 1}, None) is None
    assert len(warnings) == 2


# --- trees --------------------------------------------------------------------------

# Leaves with a fixed result against ATTRS: exact-true on True, on False, on missing.
T = cond("exact", True, name="t")
F = cond("exact", True, name="f")
N = cond("exact", True, name="n")
ATTRS = {"t": True, "f": False}
LEAVES: dict[bool | None, dict[str, object]] = {True: T, False: F, None: N}
ORDER = {False: 0, None: 1, True: 2}  # Kleene logic: and = min, or = max


def kleene_and(values: tuple[bool | None, ...]) -> bool | None:
    return min(values, key=ORDER.__getitem__) if values else True


def kleene_or(values: tuple[bool | None, ...]) -> bool | None:
    return max(values, key=ORDER.__getitem__) if values else False


def test_leaf_fixtures() -> None:
    assert [run(LEAVES[v], ATTRS) for v in (True, False, None)] == [True, False, None]


@pytest.mark.parametrize("size", [0, 1, 2, 3])
def test_truth_tables(size: int) -> None:
    for values in itertools.product((True, False, None), repeat=size):
        leaves = [LEAVES[v] for v in values]
        assert run(["and", *leaves], ATTRS) is kleene_and(values), values
        assert run(["or", *leaves], ATTRS) is kleene_or(values), values
        if leaves:
            assert run(leaves, ATTRS) is kleene_or(values), values  # implicit OR
            first = values[0]
            assert run(["not", *leaves], ATTRS) is (None if first is None else not first)


def test_operator_edge_cases() -> None:
    assert run(["and"], {}) is True
    assert run(["or"], {}) is False
    assert run(["not"], {}) is None
    assert run(["not", ["not", T]], ATTRS) is True
    assert run(["and", ["or", F, T], ["not", F]], ATTRS) is True
    assert run(["or", ["and", T, N], F], ATTRS) is None


def test_operators_are_exact_lowercase_first_elements() -> None:
    warnings: list[str] = []
    # "AND" is an implicit OR whose leaf "AND" is UNKNOWN (with a warning).
    evaluator = compile_condition_tree(["AND", F, F], "aud", warnings)
    assert evaluator(ATTRS, None) is None
    assert compile_condition_tree(["AND", T], "aud", warnings)(ATTRS, None) is True
    assert warnings[0] == 'Audience condition "AND" is not a condition.'
    # An operator later in the list is just an unknown leaf.
    assert run([F, "and"], ATTRS) is None
    assert run(["or", "not", T], ATTRS) is True


def test_not_ignores_and_does_not_compile_later_operands() -> None:
    warnings: list[str] = []
    deep: object = T
    for _ in range(40):
        deep = ["or", deep]
    evaluator = compile_condition_tree(["not", F, cond("regex", 1), deep], "aud", warnings)
    assert evaluator(ATTRS, None) is True
    assert warnings == []


def test_compiled_tree_does_not_read_the_json_again() -> None:
    tree: list[object] = ["and", cond("exact", "x"), cond("gt", 1, name="b")]
    evaluator = compile_condition_tree(tree, "aud", [])
    assert evaluator({"a": "x", "b": 2}, None) is True
    tree[0] = "or"
    tree.append(F)
    tree[1]["value"] = "y"  # type: ignore[index]
    assert evaluator({"a": "x", "b": 2}, None) is True
    assert evaluator({"a": "y", "b": 2}, None) is False


def test_empty_list_inside_a_tree_is_unknown() -> None:
    assert run(["and", []], ATTRS) is None
    assert run(["and", [], F], ATTRS) is False
    assert run(["or", [], T], ATTRS) is True
    assert run([], ATTRS) is None


def test_non_dict_leaves_are_unknown() -> None:
    for node in ("x", 0, 1.5, None, True):
        warnings: list[str] = []
        assert compile_condition_tree(["or", node], "aud", warnings)(ATTRS, None) is None
        assert len(warnings) == 1


class Boom(Mapping[str, object]):
    """Attributes that raise when ``boom`` is read, to prove a leaf never ran."""

    def __init__(self, data: dict[str, object]) -> None:
        self._data = data

    def __getitem__(self, key: str) -> object:
        if key == "boom":
            raise AssertionError("short-circuit failed: the 'boom' leaf was evaluated")
        return self._data[key]

    def get(self, key: str, default: object = None) -> object:
        if key == "boom":
            raise AssertionError("short-circuit failed: the 'boom' leaf was evaluated")
        return self._data.get(key, default)

    def __contains__(self, key: object) -> bool:
        if key == "boom":
            raise AssertionError("short-circuit failed: the 'boom' leaf was evaluated")
        return key in self._data

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)


BOOM = cond("exact", True, name="boom")


def test_short_circuit_in_condition_trees() -> None:
    attrs = Boom(dict(ATTRS))
    with pytest.raises(AssertionError):
        run(BOOM, attrs)  # the probe itself works
    assert run(["and", F, BOOM], attrs) is False
    assert run(["and", T, N, F, BOOM], attrs) is False  # UNKNOWN does not stop "and"
    assert run(["or", T, BOOM], attrs) is True
    assert run([F, N, T, BOOM], attrs) is True
    assert run(["not", F, BOOM], attrs) is True  # not reads only its first operand
    # A constant-UNKNOWN leaf (unknown match) does not change the order either.
    assert run(["and", cond("regex", 1), F, BOOM], attrs) is False
    assert run(["or", cond("regex", 1), T, BOOM], attrs) is True


def test_depth_limit() -> None:
    def nested(depth: int) -> object:
        tree: object = T
        for _ in range(depth):
            tree = ["and", tree]
        return tree

    assert run(nested(32), ATTRS) is True
    with pytest.raises(ConfigError) as raised:
        compile_condition_tree(nested(33), "audiences[2].conditions", [])
    assert raised.value.path == "audiences[2].conditions" + "[1]" * 32
    assert compile_condition_tree(nested(3), "x", [], max_depth=3)(ATTRS, None) is True
    with pytest.raises(ConfigError):
        compile_condition_tree(nested(4), "x", [], max_depth=3)
    with pytest.raises(ConfigError):
        compile_audience_tree(nested(40), {}, "x")


# --- audience-id trees --------------------------------------------------------------


def constant(value: bool | None) -> Evaluator:
    def evaluator(
        attributes: Mapping[str, object], segments: Collection[str] | None
    ) -> bool | None:
        return value

    return evaluator


def explode(attributes: Mapping[str, object], segments: Collection[str] | None) -> bool | None:
    raise AssertionError("short-circuit failed: audience 'boom' was evaluated")


AUDIENCES: dict[str, Evaluator] = {
    "t": constant(True),
    "f": constant(False),
    "n": constant(None),
    "boom": explode,
}


def audiences(tree: object) -> bool | None:
    return compile_audience_tree(tree, AUDIENCES, "rule")({}, None)


def test_audience_tree_empty_is_true() -> None:
    assert audiences(None) is True
    assert audiences([]) is True


def test_audience_tree_missing_ids_are_unknown() -> None:
    assert audiences("nope") is None
    assert audiences(["or", "nope", "t"]) is True
    assert audiences(["and", "nope", "t"]) is None
    assert audiences(["and", "nope", "f"]) is False
    assert audiences(["or", 5, ["nope"]]) is None
    assert audiences(["AND", "t"]) is True  # implicit OR with a missing id "AND"
    assert audiences(["and", []]) is None


@pytest.mark.parametrize("size", [1, 2, 3, 4])
def test_audience_tree_truth_tables(size: int) -> None:
    names = {True: "t", False: "f", None: "n"}
    for values in itertools.product((True, False, None), repeat=size):
        ids = [names[v] for v in values]
        assert audiences(["and", *ids]) is kleene_and(values), values
        assert audiences(["or", *ids]) is kleene_or(values), values
        assert audiences(ids) is kleene_or(values), values
        assert audiences(["not", *ids]) is (None if values[0] is None else not values[0])


def test_audience_tree_short_circuits() -> None:
    assert audiences(["and", "f", "boom"]) is False
    assert audiences(["and", "n", "t", "f", "boom"]) is False
    assert audiences(["and", "nope", "f", "boom"]) is False
    assert audiences(["or", "t", "boom"]) is True
    assert audiences(["or", "nope", "n", "t", "boom"]) is True
    assert audiences(["not", "t", "boom"]) is False
    with pytest.raises(AssertionError):
        audiences(["and", "t", "boom"])


def test_single_operands_are_not_wrapped() -> None:
    single = AUDIENCES["n"]
    assert compile_audience_tree("n", AUDIENCES, "r") is single
    assert compile_audience_tree(["or", "n"], AUDIENCES, "r") is single
    assert compile_audience_tree(["and", "n"], AUDIENCES, "r") is single
    assert compile_audience_tree(["n"], AUDIENCES, "r") is single
    assert compile_audience_tree(["not", "n"], AUDIENCES, "r") is not single


def test_audience_result() -> None:
    assert audience_result(True) is True
    assert audience_result(False) is False
    assert audience_result(None) is False


# --- differential test against optimizely-sdk 5.7.0 -------------------------------

# The reference is only called, never copied; a missing install skips these tests only.


def ref(module: str) -> Any:
    pytest.importorskip("optimizely")
    return importlib.import_module(f"optimizely.{module}")


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


REF_LOG = logging.getLogger("asyncexp.tests.reference_sdk")
REF_LOG.propagate = False
REF_LOG.setLevel(logging.DEBUG)
REF_LOG.addHandler(logging.NullHandler())
COMPILE_TIME_WARNINGS = ("unknown condition type", "unknown match type", "unsupported condition")


class RefUserContext:
    """The two OptimizelyUserContext methods the reference's condition code calls."""

    def __init__(self, attributes: dict[str, object], segments: list[str] | None) -> None:
        self._attributes = attributes
        self._segments = segments

    def get_user_attributes(self) -> dict[str, object]:
        return dict(self._attributes)

    def is_qualified_for(self, segment: str) -> bool:
        return self._segments is not None and segment in self._segments


class RefConfig:
    """The one ProjectConfig method the reference's audience evaluation calls."""

    def __init__(self, audiences: dict[str, Any]) -> None:
        self._audiences = audiences

    def get_audience(self, audience_id: str) -> Any:
        return self._audiences.get(audience_id)


POOL: list[object] = [
    0, -0.0, 1, 1.0, 10, 10.5, -3, True, False, BIG, float(BIG), BIG + 1, -BIG, -BIG - 1,
    NAN, INF, -INF, "", "abc", "ABC", "b", "é", "日本", "1", "10", "1.2.3", "1.2.3-beta",
    "1.2.3-beta.10", "2", "2.0.0+build", "2.9.1", "1.2", "2.x", "1 2", "1.2.3.4", "seg",
]  # fmt: skip
STRINGS: list[object] = ["", "abc", "ABC", "b", "é", "日本", "1", "seg", "a bc"]
NUMBERS: list[object] = [0, -0.0, 1, 1.0, 10, 10.5, -3, BIG, float(BIG), -BIG, BIG + 1, NAN, INF]
VERSIONS: list[object] = [
    "1.2.3",
    "1.2.3-beta",
    "2",
    "2.0.0+build",
    "1.2",
    "2.9.1",
    "1.2.3-",
    "1.2-beta",
]
# Each match with the pool its condition values usually come from, and the attribute
# that usually holds a matching user value; the rest of the time anything goes.
MATCHES: dict[str | None, tuple[list[object], str]] = {
    None: (POOL, "x"),
    "exact": (POOL, "x"),
    "exists": (POOL, "x"),
    "substring": (STRINGS, "s"),
    "qualified": (["seg", "abc", ""], "x"),
    "regex": (POOL, "x"),
    **{m: (NUMBERS, "n") for m in ("gt", "ge", "lt", "le")},
    **{f"semver_{m}": (VERSIONS, "v") for m in ("eq", "gt", "ge", "lt", "le")},
}
TYPES = ["custom_attribute"] * 6 + ["third_party_dimension", "browser"]
ATTRIBUTE_POOLS = {"s": STRINGS, "n": NUMBERS, "v": VERSIONS, "x": POOL}


def random_condition(rng: random.Random) -> dict[str, object]:
    match = rng.choice(list(MATCHES))
    values, name = MATCHES[match]
    typed = rng.random() < 0.85
    value = rng.choice(values if typed else POOL)
    name = name if typed else rng.choice(list(ATTRIBUTE_POOLS))
    return cond(match, value, name=name, kind=rng.choice(TYPES))


def random_tree(rng: random.Random, depth: int = 0) -> object:
    if rng.random() < 0.01:
        return []  # the reference raises IndexError on this
    if depth >= 3 or rng.random() < 0.45:
        return random_condition(rng)
    operands = [random_tree(rng, depth + 1) for _ in range(rng.randint(1, 3))]
    head = rng.choice(["and", "or", "not", None])
    return operands if head is None else [head, *operands]


def random_attributes(rng: random.Random) -> dict[str, object]:
    attributes: dict[str, object] = {}
    for name, pool in ATTRIBUTE_POOLS.items():
        if rng.random() < 0.9:
            attributes[name] = None if rng.random() < 0.05 else rng.choice(pool)
    return attributes


def reference_tree(tree: object, attributes: dict[str, object], segments: list[str] | None) -> Any:
    condition = ref("helpers.condition")
    structure, condition_list = condition.loads(json.dumps(tree))
    context = RefUserContext(attributes, segments)
    evaluator = condition.CustomAttributeConditionEvaluator(condition_list, context, REF_LOG)
    return ref("helpers.condition_tree_evaluator").evaluate(structure, evaluator.evaluate)


def cases(seed: int, count: int) -> Iterator[tuple[object, dict[str, object], list[str] | None]]:
    rng = random.Random(seed)
    for _ in range(count):
        segments = rng.choice([None, [], ["seg"], ["abc", "", "é"]])
        yield random_tree(rng), random_attributes(rng), segments


def test_differential_condition_trees() -> None:
    collect = _Collect()
    REF_LOG.addHandler(collect)
    compared = raised = 0
    try:
        for tree, attributes, segments in cases(seed=20240517, count=600):
            # Both sides see the same JSON-decoded tree (NaN/Infinity survive the trip).
            decoded = json.loads(json.dumps(tree))
            warnings: list[str] = []
            ours = compile_condition_tree(decoded, "aud", warnings)(attributes, segments)
            assert ours is True or ours is False or ours is None
            collect.messages.clear()
            try:
                expected = reference_tree(tree, attributes, segments)
            except (IndexError, TypeError, ValueError):
                raised += 1  # a documented deviation: we answer instead of raising
                continue
            compared += 1
            assert ours is expected, (tree, attributes, segments)
            # Every compile-time warning the reference logged, we produced verbatim.
            logged = [m for m in collect.messages if any(k in m for k in COMPILE_TIME_WARNINGS)]
            assert set(logged) <= set(warnings), (tree, logged, warnings)
    finally:
        REF_LOG.removeHandler(collect)
    assert compared >= 500
    assert raised < 60


def test_differential_leaf_grid() -> None:
    """Every match against every pool value, both as condition value and user value."""
    compared = 0
    for match in MATCHES:
        for value in POOL + VERSIONS:
            for user in [*POOL, None]:
                condition = cond(match, value)
                ours = compile_condition_tree(condition, "aud", [])({"a": user}, ["seg"])
                try:
                    expected = reference_tree(condition, {"a": user}, ["seg"])
                except ValueError:
                    assert ours is None
                    continue
                compared += 1
                assert ours is expected, (condition, user)
    assert compared > 15_000


def test_differential_audience_trees() -> None:
    """Whole rule-level evaluation through the reference's audience helper."""
    rng = random.Random(7)
    compared = 0
    for _ in range(300):
        trees = {f"a{i}": random_tree(rng) for i in range(3)}
        ids = [*trees, "missing"]
        shape = rng.random()
        rule: object
        if shape < 0.1:
            rule = rng.choice([None, []])
        elif shape < 0.4:
            rule = rng.choice(ids)
        else:
            rule = [rng.choice(["and", "or", "not"]), *rng.sample(ids, rng.randint(1, 3))]
        attributes = random_attributes(rng)
        segments = rng.choice([None, ["seg"]])
        compiled = {
            k: compile_condition_tree(json.loads(json.dumps(t)), k, []) for k, t in trees.items()
        }
        ours = audience_result(compile_audience_tree(rule, compiled, "rule")(attributes, segments))
        reference_audiences = {}
        for key, tree in trees.items():
            structure, condition_list = ref("helpers.condition").loads(json.dumps(tree))
            reference_audiences[key] = ref("entities").Audience(
                key, key, json.dumps(tree), structure, condition_list
            )
        try:
            expected, _reasons = ref("helpers.audience").does_user_meet_audience_conditions(
                RefConfig(reference_audiences),
                rule,
                ref("helpers.enums").ExperimentAudienceEvaluationLogs,
                "exp",
                RefUserContext(attributes, segments),
                REF_LOG,
            )
        except (IndexError, TypeError, ValueError):
            continue
        compared += 1
        assert ours is expected, (rule, trees, attributes, segments)
    assert compared >= 250


def test_valid_qualified_condition_compiles_without_warning() -> None:
    warnings: list[str] = []
    leaf = {
        "name": "odp.audiences",
        "value": "vip",
        "type": "third_party_dimension",
        "match": "qualified",
    }
    evaluator = compile_condition_tree(["or", leaf], "p", warnings)
    assert warnings == []
    assert evaluator({}, ["vip"]) is True
    assert evaluator({}, None) is False
