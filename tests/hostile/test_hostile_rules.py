"""Bounded CPU for every accepted ``matches`` rule: the automaton, its limits, the refusals.

No timing here (the machine is shared): the bound is structural. Every accepted
pattern has a complete deterministic automaton within ``regex_dfa``'s limits,
so a search is one table step per character; what cannot be bounded is refused
at compile time with the position. ``benchmarks/bench_hostile_rules.py``
measures the µs.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from asyncexp.core.appconfig import compile_rule, regex_dfa
from asyncexp.core.appconfig.regex_dfa import MAX_DFA_STATES, MAX_DFA_TRANSITIONS
from asyncexp.core.appconfig.rule_compiler_base import MAX_MATCHES_PER_RULE
from asyncexp.core.appconfig.safe_regex import MAX_SUBJECT_LENGTH, PatternError, compile_pattern
from asyncexp.errors import RuleSyntaxError

ISSUE = "((a|b)?){100}c"


def _no_nfa(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_args: object) -> bool:
        raise AssertionError("the search fell back to the NFA simulation")

    monkeypatch.setattr(regex_dfa, "nfa_run", refuse)


def test_the_issue_pattern_runs_on_a_small_automaton(monkeypatch: pytest.MonkeyPatch) -> None:
    compiled = compile_pattern(ISSUE)
    assert compiled._dfa.states <= 8  # the NFA has ~500 steps; the automaton a handful
    _no_nfa(monkeypatch)
    ab = "ab" * (MAX_SUBJECT_LENGTH // 2)
    assert compiled.search(ab) is False
    assert compiled.search(ab[:-1] + "c") is True
    assert compiled.search("é" * 4000 + "c\n") is True


def test_twenty_clauses_of_it_are_refused_with_the_position() -> None:
    clause = f'(matches in::$v pattern::"{ISSUE}")'
    rule = "(or " + " ".join([clause] * 20) + ")"
    with pytest.raises(RuleSyntaxError, match=f"at most {MAX_MATCHES_PER_RULE}") as info:
        compile_rule(rule, path="AudienceRule")
    assert info.value.position == rule.index(clause) + (len(clause) + 1) * MAX_MATCHES_PER_RULE


def test_the_cap_itself_is_accepted() -> None:
    clause = f'(matches in::$v pattern::"{ISSUE}")'
    rule = compile_rule("(or " + " ".join([clause] * MAX_MATCHES_PER_RULE) + ")")
    assert rule.evaluate({"v": "ab" * 2048}) is False


@pytest.mark.parametrize("pattern", ["(a|b)*a(a|b){20}", ".*a.{30}", "[ab]*a[ab]{12}x"])
def test_exponential_automata_are_refused(pattern: str) -> None:
    with pytest.raises(PatternError, match="automaton"):
        compile_pattern(pattern)
    with pytest.raises(RuleSyntaxError, match="unsafe or invalid pattern") as info:
        compile_rule(f'(matches in::$v pattern::"{pattern}")')
    assert info.value.position == len("(matches in::$v pattern::")


def test_accepted_automata_stay_within_the_limits() -> None:
    for pattern in ("(a|b)*a(a|b){8}", "\\w+@\\w+\\.(com|org)$", ISSUE, ".*.*.*x", "(a+)+$"):
        dfa = compile_pattern(pattern)._dfa
        assert 1 <= dfa.states <= MAX_DFA_STATES
        assert dfa.states * (dfa.end - 1) <= MAX_DFA_TRANSITIONS


def test_non_ascii_subjects_take_the_c_path(monkeypatch: pytest.MonkeyPatch) -> None:
    compiled = compile_pattern("\\w+@\\w+\\.com$")
    assert compiled._dfa.bytemap is not None
    _no_nfa(monkeypatch)
    assert compiled.search_dfa("\U00020000\u4e00é@x.com") is True
    assert compiled.search_dfa("\U00050000@x.com") is False  # not a word character
    assert compiled.search_dfa("".join(map(chr, range(0x4E00, 0x5E00)))) is False


def test_nothing_from_the_fold_end_up_is_a_digit_word_or_space() -> None:
    # regex_dfa folds every code point from U+40000 up to "other" without looking
    for cp in range(regex_dfa._FOLD_END, 0x110000):
        c = chr(cp)
        assert not c.isalnum(), hex(cp)  # isdecimal implies isalnum
        assert not c.isspace(), hex(cp)


def _patterns() -> st.SearchStrategy[str]:
    atoms = st.sampled_from(["a", "b", "é", ".", "[ab]", "[^a]", "\\w", "\\d", "\\s", "^", "$"])

    def extend(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        quantifier = st.sampled_from(["*", "+", "?", "{2}", "{1,3}", "{,2}", "{2,}"])
        return st.one_of(
            st.tuples(inner, inner).map("".join),
            st.tuples(inner, inner).map(lambda p: f"{p[0]}|{p[1]}"),
            st.tuples(inner.map(lambda p: f"(?:{p})"), quantifier).map("".join),
            st.tuples(atoms.filter(lambda a: a not in "^$"), quantifier).map("".join),
        )

    return st.recursive(atoms, extend, max_leaves=6)


@settings(max_examples=300, deadline=None)
@given(_patterns(), st.text(alphabet="abé1 \n\u4e00\U00020000x", max_size=14))
def test_the_automaton_agrees_with_re_and_the_nfa(pattern: str, subject: str) -> None:
    compiled = compile_pattern(pattern)
    expected = re.search(pattern, subject) is not None
    dfa = compiled._dfa
    assert dfa.end - 1 not in dfa.codes(subject)  # no "unforeseen class": no NFA fallback
    assert compiled.search_dfa(subject) is expected
    assert compiled.search_nfa(subject) is expected


# code points around the edges the named-block tables cut at: block ends, planes,
# surrogates, the fold end, and characters of every category
_EDGES = [
    0x7F, 0x80, 0xBF, 0xD7, 0xDF, 0xE0, 0xF7, 0xFF, 0x100, 0x17F, 0x180, 0x1FF, 0x200,
    0x430, 0x44F, 0x451, 0x660, 0x669, 0x2028, 0x3000, 0x4E00, 0x4E10, 0x9FFF, 0xA000,
    0xD800, 0xDBFF, 0xDC00, 0xDFFF, 0xFF10, 0xFFFF, 0x10000, 0x1D7CE, 0x1F600, 0x1F64F,
    0x20000, 0x2A6DF, 0x3FFFF, 0x40000, 0xF0000, 0x10FFFF,
]  # fmt: skip


def _unicode_patterns() -> st.SearchStrategy[str]:
    # the characters themselves (the parser reads \\u but not \\U escapes)
    point = st.one_of(st.sampled_from(_EDGES), st.integers(0x80, 0x10FFFF)).map(chr)
    span = st.tuples(st.sampled_from(_EDGES), st.integers(0, 0x300)).map(
        lambda p: f"{chr(p[0])}-{chr(min(p[0] + p[1], 0x10FFFF))}"
    )
    cls = st.tuples(
        st.sampled_from(["[", "[^"]),
        st.lists(
            st.one_of(point, span, st.sampled_from(["\\d", "\\w", "\\s", "a"])),
            min_size=1,
            max_size=3,
        ),
    ).map(lambda p: p[0] + "".join(p[1]) + "]")
    atoms = st.one_of(point, cls, st.sampled_from(["a", ".", "\\w", "\\d", "\\s", "\\W"]))

    def extend(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        quantifier = st.sampled_from(["*", "+", "?", "{2}", "{1,3}"])
        return st.one_of(
            st.tuples(inner, inner).map("".join),
            st.tuples(inner, inner).map(lambda p: f"{p[0]}|{p[1]}"),
            st.tuples(inner.map(lambda p: f"(?:{p})"), quantifier).map("".join),
        )

    return st.recursive(atoms, extend, max_leaves=5)


def _subjects(pattern: str) -> st.SearchStrategy[str]:
    # characters the pattern names and their neighbours, block edges, anything at all
    named = sorted({ord(c) for c in pattern if ord(c) >= 0x80}) or [0xE9]

    def around(points: list[int]) -> st.SearchStrategy[str]:
        return st.tuples(st.sampled_from(points), st.integers(-1, 1)).map(
            lambda p: chr(min(max(p[0] + p[1], 0), 0x10FFFF))
        )

    char = st.one_of(
        around(named),
        around(named),
        around(_EDGES),
        st.characters(codec=None),
        st.sampled_from("a1 _\n\ud800\udfff"),
    )
    return st.lists(char, max_size=16).map("".join)


@settings(max_examples=400, deadline=None)
@given(_unicode_patterns(), st.data())
def test_patterns_naming_non_ascii_agree_with_re_on_any_text(
    pattern: str, data: st.DataObject
) -> None:
    if "\U0010fffe" in pattern or "\U0010ffff" in pattern:
        # the one refusal this strategy can reach: naming the last two noncharacters
        # leaves no class for unnamed characters, so no bounded search exists
        with pytest.raises(PatternError, match="scattered"):
            compile_pattern(pattern)
        return
    compiled = compile_pattern(pattern)
    subject = data.draw(_subjects(pattern))
    dfa = compiled._dfa
    expected = re.search(pattern, subject) is not None
    assert dfa.end - 1 not in dfa.codes(subject)  # no "unforeseen class"
    assert compiled.search_dfa(subject) is expected
    assert compiled.search_nfa(subject) is expected


@pytest.mark.parametrize(
    "pattern",
    [
        "[\u00e0-\u00ff\\d]+[\u0100-\u017f\\s]*z",
        "[\u4e00-\u9fff]+\\d",
        "[\U0001f600-\U0001f64f]\\w",
        "\u00e9[\u0430-\u044f\u0451]\\s",
        "[^\u00e9]\\d",
    ],
)
def test_patterns_naming_non_ascii_take_the_c_path(
    pattern: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    compiled = compile_pattern(pattern)
    dfa = compiled._dfa
    assert dfa.bytemap is not None
    assert dfa.named is not None
    # a subject of every named region's edges and of unnamed characters, read in C only
    text = "".join(chr(cp) for cp in _EDGES if not 0xD800 <= cp <= 0xDFFF) + "\ud800z1 \u0101"
    expected = bytes(ord(dfa.classmap.classify(ord(c))) for c in text)

    def refuse(*_args: object) -> str:
        raise AssertionError("a character was classed in Python")

    monkeypatch.setattr(regex_dfa._ClassMap, "__missing__", refuse)
    assert dfa.codes(text) == expected
    assert compiled.search_dfa(text) is (re.search(pattern, text) is not None)


def test_a_pattern_past_the_named_block_limit_is_refused() -> None:
    # literals in more astral blocks than MAX_NAMED_PASSES (the charmap holds BMP
    # characters only) would need Python per character (2-7 ms on 4096 fresh
    # characters): refused, so every accepted rule keeps its CPU bound
    blocks = range(1, regex_dfa.MAX_NAMED_PASSES + 2)
    pattern = "[" + "".join(chr(0x10000 + 0x100 * k + 0x41) for k in blocks) + "]"
    with pytest.raises(PatternError, match="scattered"):
        compile_pattern(pattern)
    within = "[" + "".join(chr(0x10000 + 0x100 * k + 0x41) for k in blocks[:-1]) + "]"
    compiled = compile_pattern(within)  # one block fewer: the C path
    assert compiled._dfa.bytemap is not None
    assert compiled.search_dfa("x" + chr(0x10141)) is True
    assert compiled.search_dfa("\u4e00" * 8) is False


def test_a_rule_with_an_unboundable_pattern_is_a_syntax_error() -> None:
    blocks = range(1, regex_dfa.MAX_NAMED_PASSES + 2)
    pattern = "[" + "".join(chr(0x10000 + 0x100 * k + 0x41) for k in blocks) + "]"
    with pytest.raises(RuleSyntaxError, match="scattered"):
        compile_rule(f'(matches in::$name pattern::"{pattern}")')


def test_category_tests_agree_with_re_on_every_code_point() -> None:
    # the fold and the named-block tables class by CATEGORY_TESTS; re must agree for
    # the automaton to answer as re does (lone surrogates included)
    from asyncexp.core.appconfig.regex_nfa import CATEGORY_TESTS

    every = "".join(map(chr, range(0x110000)))
    for key, regex in (("d", "\\d"), ("w", "\\w"), ("s", "\\s")):
        test, negated = CATEGORY_TESTS[key]
        assert not negated
        by_re = set(re.findall(regex, every))
        assert by_re == {c for c in every if test(c)}, key


@settings(max_examples=300, deadline=None)
@given(st.one_of(_patterns(), _unicode_patterns()), st.data())
def test_stepping_two_characters_at_a_time_agrees(pattern: str, data: st.DataObject) -> None:
    if "\U0010fffe" in pattern or "\U0010ffff" in pattern:
        with pytest.raises(PatternError, match="scattered"):
            compile_pattern(pattern)
        return
    compiled = compile_pattern(pattern)
    subject = data.draw(_subjects(pattern))
    expected = re.search(pattern, subject) is not None
    saved = regex_dfa._PAIRS_FROM
    regex_dfa._PAIRS_FROM = 0  # pair rows for every length (odd, even, one character)
    try:
        assert compiled.search_dfa(subject) is expected
    finally:
        regex_dfa._PAIRS_FROM = saved


def test_small_automata_step_two_characters_at_a_time() -> None:
    cases = [
        (ISSUE, False, True),
        ("\\w+@\\w+\\.(com|org|net)$", False, True),
        ("[\u00e0-\u00ff\\d]+[\u0100-\u017f\\s]*z", True, True),
    ]
    for pattern, plain, with_c in cases:  # (re backtracks for minutes on these)
        compiled = compile_pattern(pattern)
        assert compiled._dfa.pairs is not None, pattern
        long = "ab" * 2000 + "\u00e9z"
        assert compiled.search_dfa(long) is plain
        assert compiled.search_dfa(long + "c@x.org") is with_c
    # 16 kinds of character and "other": pair keys would not fit a byte
    assert compile_pattern("abcdefghijklmnop")._dfa.pairs is None


def test_a_heavy_pattern_counts_several_times_against_the_rule_budget() -> None:
    # a pattern naming characters in 12 astral blocks takes 12 table passes: weight 4
    heavy = "[" + "".join(chr(0x10000 + 0x100 * k + 0x41) for k in range(1, 13)) + "]"
    assert compile_pattern(heavy).weight == 4
    assert compile_pattern("[a-z]+@").weight == 1
    clause = f'(matches in::$name pattern::"{heavy}")'
    compile_rule(f"(or {clause} {clause})")  # 8 units: accepted
    plain = '(matches in::$name pattern::"[a-z]+@")'
    compile_rule("(or " + " ".join([plain] * 8) + ")")  # 8 plain clauses: accepted
    with pytest.raises(RuleSyntaxError, match="at most 8 times"):
        compile_rule(f"(or {clause} " + " ".join([plain] * 5) + ")")  # 4 + 5 units
