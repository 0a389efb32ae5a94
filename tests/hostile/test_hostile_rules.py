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
