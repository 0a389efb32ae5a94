"""Fuzzing the AppConfig rule language, experiment runs and feature-flag documents.

Contracts checked:

* ``compile_rule`` (parse + compile) returns a ``Rule`` or raises ``RuleSyntaxError``
  whose ``position`` is an offset into the text; nothing else, for any text —
  random characters, near-valid rules with edits, 10,000 levels of nesting.
* A compiled rule evaluated with any context (huge numbers, NaN, long digit
  strings, lists, dicts, dates…) yields True, False or None and never raises.
* ``parse_experiment_run`` and ``parse_feature_flags`` raise only ``ConfigError``
  (``RuleSyntaxError`` is one), and what they accept can be decided.
"""

from __future__ import annotations

import contextlib
import copy
import math
from datetime import UTC, date, datetime
from typing import Any

import pytest
from hypothesis import given, note
from hypothesis import strategies as st

from asyncexp.core.appconfig import assign, parse_experiment_run, parse_feature_flags
from asyncexp.core.appconfig.rule_eval import Rule, compile_rule
from asyncexp.core.appconfig.rule_parser import MAX_RULE_LENGTH
from asyncexp.errors import ConfigError, RuleSyntaxError
from tests.appconfig_samples import AUDIENCE, FLAGS_DOCUMENT, run_dict
from tests.fuzz.profile import fuzz
from tests.fuzz.strategies import Mutated, json_values, mutated, named


def compile_or_syntax_error(text: str) -> Rule | None:
    """The documented contract: a ``Rule``, or ``RuleSyntaxError`` with a position."""
    try:
        return compile_rule(text, path="rule", default_seed="seed")
    except RuleSyntaxError as exc:
        error = exc
    assert isinstance(error.position, int)
    assert 0 <= error.position <= max(len(text), MAX_RULE_LENGTH)
    assert error.path == "rule"
    return None


# -- a grammar for near-valid rules ----------------------------------------------------------

KEYS = ("age", "country", "plan", "ts", "tags", "id", "x.y", "a-b")
OPS_2 = ("eq", "gt", "gte", "lt", "lte", "begins_with", "ends_with", "contains", "in")
LITERALS = st.one_of(
    st.integers(-(2**63), 2**63 - 1).map(str),
    st.sampled_from(
        [
            "0",
            "-7",
            "+3",
            "3.14",
            "1.234e-5",
            "1e308",
            "1e309",
            ".5",
            "9223372036854775808",
            "9" * 30,
            "2024",
            "2024-01",
            "2024-01-31",
            "2012-03-04T05:06:07-08:00",
            "2024-02-30",
            "2024-01-01T25:00Z",
            "true",
            "false",
            '""',
            '"US"',
            '"\\u00e9"',
            '"\\uZZZZ"',
            '"a\\qb"',
            '"unterminated',
            "²",
            "٣",
        ]
    ),
    st.text(alphabet=st.characters(blacklist_characters='"\\'), max_size=6).map(lambda t: f'"{t}"'),
)


def _ref() -> st.SearchStrategy[str]:
    return st.sampled_from(KEYS).map(lambda k: f"${k}")


def _list() -> st.SearchStrategy[str]:
    return st.lists(LITERALS, max_size=4).map(lambda items: "[" + ", ".join(items) + "]")


def _operand() -> st.SearchStrategy[str]:
    return st.one_of(_ref(), LITERALS, _list())


def _leaf() -> st.SearchStrategy[str]:
    return st.one_of(
        st.tuples(st.sampled_from(OPS_2), _operand(), _operand()).map(
            lambda t: f"({t[0]} {t[1]} {t[2]})"
        ),
        _ref().map(lambda r: f"(exists {r})"),
        st.sampled_from(KEYS).map(lambda k: f'(exists key::"{k}")'),
        st.tuples(
            _ref(), st.sampled_from(['"^a.*z$"', '"(a|b)+"', '"[0-9]{2,4}"', '"(a*)*b"'])
        ).map(lambda t: f"(matches in::{t[0]} pattern::{t[1]})"),
        st.tuples(st.sampled_from(["0", "50", "100", "33.3", "101", "-1"]), _ref()).map(
            lambda t: f"(split pct::{t[0]} by::{t[1]})"
        ),
        st.tuples(_ref(), st.text(max_size=4)).map(
            lambda t: f'(split pct::50 by::{t[0]} seed::"{t[1]}")'
        ),
        _ref(),
        st.sampled_from(["true", "false"]),
    )


def rules() -> st.SearchStrategy[str]:
    return st.recursive(
        _leaf(),
        lambda inner: st.one_of(
            st.lists(inner, min_size=1, max_size=3).map(lambda xs: "(and " + " ".join(xs) + ")"),
            st.lists(inner, min_size=1, max_size=3).map(lambda xs: "(or " + " ".join(xs) + ")"),
            inner.map(lambda x: f"(not {x})"),
        ),
        max_leaves=8,
    )


@st.composite
def near_valid_rules(draw: st.DrawFn) -> str:
    """A grammar rule with a few character-level edits."""
    text = draw(rules())
    for _ in range(draw(st.integers(0, 3))):
        if not text:
            break
        at = draw(st.integers(0, len(text)))
        op = draw(st.sampled_from(["delete", "insert", "dup", "swap"]))
        if op == "delete":
            text = text[:at] + text[at + 1 :]
        elif op == "insert":
            text = (
                text[:at] + draw(st.sampled_from(list('()[]$":, \\\t\n-+.e0²٣\x00é'))) + text[at:]
            )
        elif op == "dup":
            end = min(len(text), at + draw(st.integers(1, 10)))
            text = text[:at] + text[at:end] + text[at:]
        elif at + 1 < len(text):
            text = text[:at] + text[at + 1] + text[at] + text[at + 2 :]
    note(f"rule: {text!r}")
    return text


# -- hostile contexts --------------------------------------------------------------------------

CONTEXT_VALUES = st.one_of(
    json_values(max_leaves=4),
    named(
        {
            "5000 digits": "9" * 5000,
            "-4400 digits": "-" + "1" * 4400,
            "5000 digits and a fraction": "1" * 5000 + ".5",
            "1e999": "1e999",
            "NaN text": "NaN",
            "true": "true",
            "TRUE": "TRUE",
            "date text": "2024-01-31",
            "zone +23:59": "2024-01-31T00:00:00+23:59",
            "arabic three": "٣",
            "nan": math.nan,
            "inf": math.inf,
            "2**64": 2**64,
            "10**5000": 10**5000,
            "naive datetime": datetime(2024, 1, 1),
            "aware datetime": datetime(2024, 1, 1, tzinfo=UTC),
            "date": date(2024, 1, 1),
            "tuple": ("a", 1),
            "set": {"x", "y"},
            "bytes": b"bytes",
        }
    ),
)
CONTEXTS = st.dictionaries(st.sampled_from(KEYS), CONTEXT_VALUES, max_size=5)


def check_evaluation(rule: Rule, context: dict[str, Any]) -> None:
    assert rule.evaluate(context) in (True, False, None)
    assert rule.matches(context) in (True, False)


# -- tests -----------------------------------------------------------------------------------


@fuzz(500)
@given(st.text(max_size=80))
def test_random_text(text: str) -> None:
    compile_or_syntax_error(text)


@fuzz(300)
@given(st.text(alphabet='()[]$":,\\ -+.e0123456789atrufslxinqg_\n', max_size=60))
def test_random_rule_alphabet(text: str) -> None:
    compile_or_syntax_error(text)


@fuzz(500)
@given(near_valid_rules(), CONTEXTS)
def test_near_valid_rules(text: str, context: dict[str, Any]) -> None:
    rule = compile_or_syntax_error(text)
    if rule is not None:
        check_evaluation(rule, context)


@fuzz(300)
@given(rules(), st.lists(CONTEXTS, min_size=1, max_size=3))
def test_grammar_rules_evaluate_with_any_context(text: str, contexts: list[dict[str, Any]]) -> None:
    rule = compile_or_syntax_error(text)
    if rule is not None:
        for context in contexts:
            check_evaluation(rule, context)


def test_the_sample_audience_with_huge_values() -> None:
    rule = compile_rule(AUDIENCE)
    for value in ("9" * 5000, 10**5000, -(10**5000), math.nan, "1" * 5000 + ".5"):
        check_evaluation(rule, {"country": "US", "age": value, "plan": value})
    split = compile_rule("(split pct::50 by::$id)")
    values: list[Any] = [10**5000, 2**64, {1: "non-str key"}, [[[]]], math.nan]
    for other in values:
        check_evaluation(split, {"id": other})


@pytest.mark.parametrize(
    "text",
    [
        "(not " * 10_000 + "true" + ")" * 10_000,  # longer than the length limit
        "(not " * 3_000 + "true" + ")" * 3_000,  # within it: the depth limit answers
        "(" * 10_000,
        "[" * 10_000,
        "(and " + "[" * 5_000,
        '(eq $x "' + "\\" * 10_000,
        "(eq $x " + "9" * 5_000 + ")",
        "(eq $x -" + "0" * 4_000 + "1" * 4_000 + ")",
        "(in $x [" + "1, " * 5_000 + "])",
        "(and " + "true " * 5_000 + ")",
    ],
    ids=lambda text: f"{text[:12]!r}…{len(text)}",
)
def test_pathological_rules_raise_rule_syntax_error_or_compile(text: str) -> None:
    rule = compile_or_syntax_error(text)
    if rule is not None:
        check_evaluation(rule, {"x": "1"})


# -- experiment runs and flag documents ------------------------------------------------------

RUN_SEEDS = st.builds(run_dict)


@fuzz(300)
@given(mutated(RUN_SEEDS), st.text(max_size=10), CONTEXTS)
def test_mutated_experiment_runs(document: Mutated, entity: str, context: dict[str, Any]) -> None:
    try:
        run = parse_experiment_run(document.doc)
    except ConfigError:
        return
    decision = assign(run, entity or "e", context)
    assert decision.reason is not None


@fuzz(200)
@given(json_values(max_leaves=30))
def test_random_experiment_runs(data: Any) -> None:
    with contextlib.suppress(ConfigError):
        parse_experiment_run(data)


FLAG_SEEDS = st.builds(lambda: copy.deepcopy(FLAGS_DOCUMENT))


@fuzz(300)
@given(mutated(FLAG_SEEDS), CONTEXTS)
def test_mutated_feature_flag_documents(document: Mutated, context: dict[str, Any]) -> None:
    try:
        flags = parse_feature_flags(document.doc)
    except ConfigError:
        return
    for key in ("checkout", "banner", "ui_refresh", "missing"):
        flags.evaluate(key, context)
