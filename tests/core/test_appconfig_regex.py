"""The ``matches`` regex guard: the safe subset, and the automaton agreeing with ``re``."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from asyncexp.core.appconfig.safe_regex import (
    MAX_PATTERN_LENGTH,
    MAX_SUBJECT_LENGTH,
    PatternError,
    compile_pattern,
)

ACCEPTED: list[tuple[str, str, bool]] = [
    ("h.*y", "happy", True),
    ("^h.*y$", "oh happy", False),
    ("a|b|c", "zzc", True),
    ("x{2,3}", "axxb", True),
    ("x{2}", "axb", False),
    ("x{,2}y", "y", True),
    ("x{2,}", "xxxx", True),
    ("(ab)*c", "ababc", True),
    ("(?:ab)+c", "c", False),
    ("colou?r", "color", True),
    ("a$", "a\n", True),
    ("a.b", "a\nb", False),
    ("[^0-9]", "123", False),
    ("[a-c-]+x", "-bx", True),
    ("[]a]", "]", True),
    ("[\\d.]+%", "12.5%", True),
    ("\\d{3}-\\d{4}", "call 555-1234", True),
    ("\\w+@\\w+\\.com$", "me@host.com", True),
    ("\\s\\S", " x", True),
    ("\\D\\W", "a!", True),
    ("\\x41\\u00e9\\t", "Aé\t", True),
    ("\\.\\*\\(\\)\\[\\]\\{\\}\\|\\^\\$\\+\\?", ".*()[]{}|^$+?", True),
    ("a+?b", "aab", True),
    ("", "anything", True),
    ("é+", "café", True),
]


@pytest.mark.parametrize(("pattern", "subject", "expected"), ACCEPTED)
def test_accepted_patterns_match_like_re(pattern: str, subject: str, expected: bool) -> None:
    compiled = compile_pattern(pattern)
    assert bool(re.search(pattern, subject)) is expected
    assert compiled.search(subject) is expected
    assert compiled.search_nfa(subject) is expected


REFUSED: list[tuple[str, str]] = [
    ("(a)\\1", "\\1"),
    ("(?=a)", "groups"),
    ("(?!a)", "groups"),
    ("(?<=a)b", "groups"),
    ("(?P<name>a)", "groups"),
    ("(?i)abc", "groups"),
    ("\\bword", "\\b"),
    ("\\Aabc", "\\A"),
    ("a*+", "possessive"),
    ("a**", "multiple"),
    ("*a", "nothing to repeat"),
    ("^*", "nothing to repeat"),
    ("a{", "quantifier"),
    ("a{x}", "quantifier"),
    ("a}", "escape a literal"),
    ("a{1000}", "at most 100"),
    ("a{5,2}", "ordered"),
    ("[z-a]", "bad character range"),
    ("[abc", "unterminated"),
    ("[[a]]", "'['"),
    ("(ab", "missing ')'"),
    ("ab)", "unbalanced"),
    ("\\x4", "hex digits"),
    ("abc\\", "ends with"),
    ("[\\b]", "in a class"),
    ("x" * (MAX_PATTERN_LENGTH + 1), "longer than"),
    ("((((a{100}){100}){100}){100})", "more than"),
]


@pytest.mark.parametrize(("pattern", "message"), REFUSED)
def test_refused_patterns(pattern: str, message: str) -> None:
    with pytest.raises(PatternError) as info:
        compile_pattern(pattern)
    assert message in str(info.value)
    assert 0 <= info.value.offset <= len(pattern)


def test_catastrophic_patterns_use_the_automaton() -> None:
    nested = compile_pattern("(a+)+$")
    assert nested._backtrack_safe is False  # re would take exponential time here
    assert nested.search("a" * 3000 + "b") is False
    assert nested.search("a" * 3000) is True
    polynomial = compile_pattern(".*.*.*x")
    assert polynomial._backtrack_safe is True
    assert polynomial._unbounded == 3
    # (n+1)**4 is far over the budget, so the automaton answers
    assert polynomial.search("a" * MAX_SUBJECT_LENGTH) is False
    assert polynomial.search("a" * 2000 + "x") is True


def test_cheap_subjects_use_re_and_agree() -> None:
    compiled = compile_pattern("h.*y")
    for subject in ("happy", "hey", "h", "yh", "h\ny"):
        assert compiled.search(subject) is bool(re.search("h.*y", subject))


def test_subjects_over_the_limit_are_unknown() -> None:
    compiled = compile_pattern("x")
    assert compiled.search("x" * MAX_SUBJECT_LENGTH) is True
    assert compiled.search("x" * (MAX_SUBJECT_LENGTH + 1)) is None


def _patterns() -> st.SearchStrategy[str]:
    atoms = st.sampled_from(["a", "b", ".", "[ab]", "[^a]", "\\w", "^", "$", "x"])

    def extend(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        quantifier = st.sampled_from(["*", "+", "?", "{2}", "{1,3}", "{,2}", "{2,}", "*?"])
        return st.one_of(
            st.tuples(inner, inner).map("".join),
            st.tuples(inner, inner).map(lambda p: f"{p[0]}|{p[1]}"),
            inner.map(lambda p: f"({p})"),
            st.tuples(inner.map(lambda p: f"(?:{p})"), quantifier).map("".join),
            st.tuples(atoms.filter(lambda a: a not in "^$"), quantifier).map("".join),
        )

    return st.recursive(atoms, extend, max_leaves=6)


@settings(max_examples=400, deadline=None)
@given(_patterns(), st.text(alphabet="abx\n", max_size=12))
def test_automaton_agrees_with_re(pattern: str, subject: str) -> None:
    compiled = compile_pattern(pattern)
    expected = re.search(pattern, subject) is not None
    assert compiled.search_nfa(subject) is expected
    assert compiled.search(subject) is expected
