"""The AppConfig rule language: every operator, type mixing, unknowns, parse errors, limits."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest

from asyncexp.core.appconfig import compile_rule
from asyncexp.core.appconfig.rule_eval import split_bucket
from asyncexp.core.appconfig.rule_parser import (
    MAX_DEPTH,
    MAX_RULE_LENGTH,
    parse_rule,
    parse_timestamp,
)
from asyncexp.errors import ConfigError, RuleSyntaxError

CASES: list[tuple[str, dict[str, Any], bool | None]] = [
    # eq with each literal type
    ('(eq $state "Virginia")', {"state": "Virginia"}, True),
    ('(eq $state "Virginia")', {"state": "Ohio"}, False),
    ("(eq $n 42)", {"n": 42}, True),
    ("(eq $n 42)", {"n": 42.0}, True),
    ("(eq $n 42)", {"n": "42"}, True),  # header text is coerced to the literal's type
    ("(eq $n 3.14)", {"n": "3.14"}, True),
    ("(eq $n -7)", {"n": -7}, True),
    ("(eq $n 1.234e-5)", {"n": 0.00001234}, True),
    ("(eq $b true)", {"b": True}, True),
    ("(eq $b true)", {"b": "TRUE"}, True),
    ("(eq $b false)", {"b": True}, False),
    ('(eq $id "123")', {"id": 123}, True),  # an int meets a string as its decimal text
    # type mismatch: eq is false, ordering is unknown
    ("(eq $n 42)", {"n": "forty-two"}, False),
    ("(eq $n 42)", {"n": True}, False),
    ("(eq $b true)", {"b": 1}, False),
    ("(gt $n 42)", {"n": "many"}, None),
    ('(gt $s "m")', {"s": 5.5}, None),
    ("(gt $n 42)", {"n": [1]}, None),
    # ordering
    ("(gt $age 65)", {"age": 70}, True),
    ("(gt $age 65)", {"age": 65}, False),
    ("(gte $age 65)", {"age": 65}, True),
    ("(lt $osVersion 1.8)", {"osVersion": "1.5"}, True),
    ("(lte $osVersion 1.8)", {"osVersion": 1.8}, True),
    ("(lt $osVersion 1.8)", {"osVersion": 2}, False),
    ('(gt $name "m")', {"name": "z"}, True),
    ('(lt $name "m")', {"name": "z"}, False),
    ("(lt 5 $n)", {"n": 6}, True),  # the literal may come first
    ("(gte 5 $n)", {"n": 6}, False),
    # timestamps (W3C)
    ("(gt $t 2024-01)", {"t": "2024-02-01T00:00:00Z"}, True),
    ("(gt $t 2024-01)", {"t": datetime(2023, 12, 31, tzinfo=UTC)}, False),
    ("(eq $t 2024-01-15)", {"t": date(2024, 1, 15)}, True),
    ("(lt $t 2012-03-04T05:06:07-08:00)", {"t": "2012-03-04T13:06:06Z"}, True),
    ("(lt $t 2012-03-04T05:06:07-08:00)", {"t": "2012-03-04T13:06:07Z"}, False),
    ("(gte $t 2024-01-01T10:00Z)", {"t": datetime(2024, 1, 1, 10, 0)}, True),  # naive = UTC
    ("(gt $t 2024-01)", {"t": "not a date"}, None),
    ("(eq $t 2024-01)", {"t": 2024}, False),
    # two context values
    ("(eq $a $b)", {"a": "x", "b": "x"}, True),
    ("(eq $a $b)", {"a": 2, "b": "2"}, True),
    ("(gt $a $b)", {"a": 3, "b": 2.5}, True),
    ("(eq $a $b)", {"a": True, "b": 1}, False),
    ("(gt $a $b)", {"a": True, "b": False}, None),
    ("(eq $a $b)", {"a": "x"}, None),
    # logical operators and three-valued logic
    ('(and (eq $a 1) (eq $b "x"))', {"a": 1, "b": "x"}, True),
    ('(and (eq $a 1) (eq $b "x"))', {"a": 1, "b": "y"}, False),
    ('(and (eq $a 1) (eq $b "x"))', {"a": 1}, None),
    ('(and (eq $a 1) (eq $b "x"))', {"a": 2}, False),  # false wins over unknown
    ('(or (eq $a 1) (eq $b "x"))', {"b": "x"}, True),  # true wins over unknown
    ('(or (eq $a 1) (eq $b "x"))', {"a": 2}, None),
    ('(or (eq $a 1) (eq $b "x"))', {"a": 2, "b": "y"}, False),
    ("(not (eq $a 1))", {"a": 2}, True),
    ("(not (eq $a 1))", {}, None),
    ("(and (eq $a 1) (eq $b 2) (eq $c 3))", {"a": 1, "b": 2, "c": 3}, True),
    ("(and true (eq $a 1))", {"a": 1}, True),
    ("(or false $flag)", {"flag": "true"}, True),
    ("(and $flag)", {"flag": "maybe"}, None),
    ('(not (not (exists key::"a")))', {"a": 0}, True),
    # custom string operators
    ('(begins_with $state "A")', {"state": "Alaska"}, True),
    ('(begins_with $state "A")', {"state": "Ohio"}, False),
    ('(ends_with $email "amazon.com")', {"email": "jane@amazon.com"}, True),
    ('(ends_with $email "amazon.com")', {"email": "jane@example.org"}, False),
    ('(contains $promoCode "WIN")', {"promoCode": "BIGWINNER"}, True),
    ('(contains $promoCode "WIN")', {"promoCode": "LOSE"}, False),
    ('(contains $tags "beta")', {"tags": ["alpha", "beta"]}, True),
    ('(contains $tags "beta")', {"tags": ("alpha",)}, False),
    ('(begins_with $n "12")', {"n": 1234}, True),
    ('(begins_with $n "12")', {"n": 1.5}, False),
    ('(contains $missing "x")', {}, None),
    ("(begins_with $a $b)", {"a": "prefix-rest", "b": "prefix"}, True),
    # in
    ('(in $userId ["123", "456"])', {"userId": "456"}, True),
    ('(in $userId ["123", "456"])', {"userId": "789"}, False),
    ('(in $userId ["123" "456"])', {"userId": 123}, True),  # commas optional
    ("(in $n [1, 2.5, 3])", {"n": "2.5"}, True),
    ("(in $n [1, 2, 3])", {"n": True}, False),
    ('(in $v [1, "one", true])', {"v": "one"}, True),
    ('(in $v [1, "one", true])', {"v": True}, True),
    ("(in $t [2024-01, 2025-01])", {"t": "2025-01-01T00:00:00Z"}, True),
    ('(in $userId ["123"])', {}, None),
    ("(in $n [])", {"n": 1}, False),
    ('(in "beta" $groups)', {"groups": ["alpha", "beta"]}, True),
    ("(in $n $allowed)", {"n": "2", "allowed": [1, 2]}, True),
    ("(in $n $allowed)", {"n": 5, "allowed": "12345"}, False),
    # matches
    ('(matches in::$greeting pattern::"h.*y")', {"greeting": "happy"}, True),
    ('(matches in::$greeting pattern::"h.*y")', {"greeting": "hello"}, False),
    ('(matches in::$greeting pattern::"^h.*y$")', {"greeting": "oh happy day"}, False),
    ('(matches $email "^[a-z]+@example\\\\.com$")', {"email": "bob@example.com"}, True),
    ('(matches $email "^[a-z]+@example\\\\.com$")', {"email": "bob@exampleXcom"}, False),
    ('(matches in::$n pattern::"^\\\\d{3}$")', {"n": 123}, True),
    ('(matches in::$g pattern::"x")', {}, None),
    ('(matches in::$g pattern::"x")', {"g": "x" * 5000}, None),  # too long to look at
    # exists
    ('(exists key::"country")', {"country": "US"}, True),
    ('(exists key::"country")', {}, False),
    ('(exists key::"country")', {"country": None}, False),
    ("(exists $country)", {"country": ""}, True),
    ('(not (exists key::"country"))', {}, True),  # exists is never unknown
    # split
    ("(split pct::100 by::$userId)", {"userId": "u1"}, True),
    ("(split pct::0 by::$userId)", {"userId": "u1"}, False),
    ("(split pct::50 by::$userId)", {}, None),
]


@pytest.mark.parametrize(("source", "context", "expected"), CASES)
def test_rule_table(source: str, context: dict[str, Any], expected: bool | None) -> None:
    rule = compile_rule(source)
    assert rule.evaluate(context) is expected
    assert rule.matches(context) is (expected is True)


def test_references_lists_the_context_keys() -> None:
    rule = compile_rule('(or (eq $a 1) (exists key::"b") (split pct::5 by::$c) (in $d [1]))')
    assert rule.references == frozenset({"a", "b", "c", "d"})


def test_strings_and_escapes() -> None:
    rule = compile_rule(r'(eq $s "say \"hi\"\\ \u00e9\n\t\/")')
    assert rule.matches({"s": 'say "hi"\\ é\n\t/'})
    assert compile_rule('(eq $s "Ḽơᶉëᶆ ȋṕšᶙṁ")').matches({"s": "Ḽơᶉëᶆ ȋṕšᶙṁ"})


def test_whitespace_and_newlines_are_free() -> None:
    rule = compile_rule('\n  (and\n\t(eq $a 1)\r\n  (eq $b "x") )  \n')
    assert rule.matches({"a": 1, "b": "x"})


def test_w3c_timestamps() -> None:
    assert parse_timestamp("2024-01") == datetime(2024, 1, 1, tzinfo=UTC)
    assert parse_timestamp("2024") == datetime(2024, 1, 1, tzinfo=UTC)
    assert parse_timestamp("2012-03-04T05:06:07-08:00") == datetime(
        2012, 3, 4, 5, 6, 7, tzinfo=timezone(timedelta(hours=-8))
    )
    assert parse_timestamp("2024-01-01T10:00:00.25Z") == datetime(
        2024, 1, 1, 10, 0, 0, 250000, tzinfo=UTC
    )
    for bad in ("2024-13", "2024-02-30", "2024-1-1", "yesterday", "2024-01-01T25:00Z"):
        assert parse_timestamp(bad) is None, bad


def test_literal_kinds_from_the_parser() -> None:
    tree = parse_rule('(f "s" 7 -1.5 true 2024-01 $k [1])')
    kinds = [getattr(arg, "kind", type(arg).__name__) for arg in tree.args]
    assert kinds == [
        "string",
        "integer",
        "float",
        "boolean",
        "timestamp",
        "ContextRef",
        "ListLiteral",
    ]


PARSE_ERRORS: list[tuple[str, int, str]] = [
    ("", 0, "parenthesised"),
    ('eq $a "x"', 0, "parenthesised"),
    ("(eq $a 1", 8, "unclosed '('"),
    ("(eq $a 1))", 9, "after the end"),
    ("( 1 2)", 2, "operator name"),
    ("(neq $a 1)", 1, "unknown operator 'neq'"),
    ('(eq $a "open)', 7, "unterminated string"),
    (r'(eq $a "bad \q")', 12, "invalid escape"),
    ("(eq $a 12abc)", 7, "invalid number"),
    ("(eq $a 99999999999999999999)", 7, "64-bit"),
    ("(eq $a yes)", 7, "unexpected name 'yes'"),
    ("(eq $ 1)", 4, "context key"),
    ("(eq $a 1 2)", 0, "takes 2 argument"),
    ("(eq $a)", 0, "takes 2 argument"),
    ("(gt $a true)", 7, "cannot order booleans"),
    ("(eq $a [1, 2])", 7, "cannot compare a list"),
    ("(not (eq $a 1) (eq $b 2))", 0, "exactly one"),
    ("(and)", 0, "one or more"),
    ('(and "x")', 5, "boolean expression"),
    ("(in $a 5)", 7, "needs a list"),
    ("(in $a [1, $b])", 11, "literal values"),
    ("(in $a [, 1])", 8, "unexpected ','"),
    ("(in $a [1, 2)", 12, "unclosed '[' opened at position 7"),
    ("(matches in::$a pattern::$b)", 25, "string literal"),
    ("(matches in::$a)", 0, "needs in:: and pattern::"),
    ('(matches in::$a pattern::"(a+)+" pattern::"x")', 33, "given twice"),
    ('(matches in::$a pattern::"(?=x)")', 25, "unsafe or invalid pattern"),
    ('(matches in::$a pattern::"(a)\\\\1")', 25, "unsafe or invalid pattern"),
    ("(exists)", 0, "exists takes"),
    ("(exists key::5)", 13, "string key"),
    ("(split pct::10)", 0, "by::"),
    ("(split by::$u)", 0, "pct::"),
    ("(split pct::101 by::$u)", 12, "between 0 and 100"),
    ('(split pct::"10" by::$u)', 0, "pct::"),
    ("(split pct::10 by::$u seed::5)", 28, "seed:: must be a string"),
    ("(split pct::10 by::$u bogus::1)", 0, "no argument bogus::"),
    ("(split 10 $u)", 0, "only pct::"),
    ("(eq a::1 b::2)", 0, "no named argument a::"),
    ("(eq a::1 $b)", 9, "positional argument after a named"),
]


@pytest.mark.parametrize(("source", "position", "message"), PARSE_ERRORS)
def test_parse_errors_give_position_and_path(source: str, position: int, message: str) -> None:
    with pytest.raises(RuleSyntaxError) as info:
        compile_rule(source, path="values.flag._variants[0].rule")
    err = info.value
    assert message in str(err)
    assert err.position == position
    assert err.path == "values.flag._variants[0].rule"
    assert isinstance(err, ConfigError)


def test_a_rule_must_be_text() -> None:
    with pytest.raises(RuleSyntaxError, match="must be a string"):
        compile_rule(42)  # type: ignore[arg-type]


def test_size_and_depth_limits() -> None:
    deep_ok = "(not " * (MAX_DEPTH - 1) + "(exists $a)" + ")" * (MAX_DEPTH - 1)
    assert compile_rule(deep_ok).evaluate({"a": 1}) is (MAX_DEPTH % 2 == 1)
    too_deep = "(not " * MAX_DEPTH + "(exists $a)" + ")" * MAX_DEPTH
    with pytest.raises(RuleSyntaxError, match="nested deeper"):
        compile_rule(too_deep)
    long_list = "(in $a [" + ",".join(["1"] * 5000) + "])"
    with pytest.raises(RuleSyntaxError, match="nodes"):
        compile_rule(long_list)
    with pytest.raises(RuleSyntaxError, match="more than 16384") as info:
        compile_rule('(eq $a "' + "x" * MAX_RULE_LENGTH + '")')
    assert info.value.position == MAX_RULE_LENGTH


def test_split_bucket_is_murmur3_of_seed_and_value() -> None:
    # Golden values: changing them reassigns every user, so they are pinned.
    assert split_bucket("abc", "user-1") == split_bucket("abc", "user-1")
    assert [split_bucket("abc", f"u{i}") for i in range(3)] == [
        split_bucket("abc", "u0"),
        split_bucket("abc", "u1"),
        split_bucket("abc", "u2"),
    ]
    import mmh3

    assert split_bucket("abc", "user-1") == (mmh3.hash("abc:user-1", 1, signed=False) * 10000) >> 32


def test_split_share_and_seeds() -> None:
    rule = compile_rule('(split pct::10 by::$userId seed::"abc")')
    hits = sum(rule.matches({"userId": f"user-{i}"}) for i in range(100_000))
    assert abs(hits / 100_000 - 0.10) < 0.01
    same_seed = compile_rule('(split pct::10 by::$userId seed::"abc")')
    other_seed = compile_rule('(split pct::10 by::$userId seed::"xyz")')
    users = [{"userId": f"user-{i}"} for i in range(2000)]
    assert [rule.matches(u) for u in users] == [same_seed.matches(u) for u in users]
    assert [rule.matches(u) for u in users] != [other_seed.matches(u) for u in users]


def test_split_without_seed_uses_the_default_seed() -> None:
    users = [{"userId": f"user-{i}"} for i in range(2000)]
    flag_a = compile_rule("(split pct::50 by::$userId)", default_seed="flag_a")
    flag_a_again = compile_rule("(split pct::50 by::$userId)", default_seed="flag_a")
    flag_b = compile_rule("(split pct::50 by::$userId)", default_seed="flag_b")
    explicit = compile_rule('(split pct::50 by::$userId seed::"flag_a")', default_seed="other")
    assert [flag_a.matches(u) for u in users] == [flag_a_again.matches(u) for u in users]
    assert [flag_a.matches(u) for u in users] == [explicit.matches(u) for u in users]
    assert [flag_a.matches(u) for u in users] != [flag_b.matches(u) for u in users]


def test_split_hashes_non_strings_as_json_text() -> None:
    rule = compile_rule('(split pct::50 by::$id seed::"s")')
    for i in range(200):
        assert rule.evaluate({"id": i}) is rule.evaluate({"id": str(i)})
    assert rule.evaluate({"id": True}) is (split_bucket("s", "true") < 5000)


def test_split_first_match_wins_shares() -> None:
    """A:(split 20) B:(split 20) gives B nothing; A:20 B:25 gives B 5%."""
    a = compile_rule("(split by::$uniqueId pct::20)", default_seed="f")
    b20 = compile_rule("(split by::$uniqueId pct::20)", default_seed="f")
    b25 = compile_rule("(split by::$uniqueId pct::25)", default_seed="f")
    n = 100_000
    only_b20 = only_b25 = 0
    for i in range(n):
        ctx = {"uniqueId": f"id-{i}"}
        if a.matches(ctx):
            continue
        only_b20 += b20.matches(ctx)
        only_b25 += b25.matches(ctx)
    assert only_b20 == 0
    assert abs(only_b25 / n - 0.05) < 0.01
