"""Regular expressions for the ``matches`` operator, safe against catastrophic backtracking.

Python's ``re`` backtracks and has no timeout, so a pattern such as ``(a+)+$``
or ``.*.*x`` can take seconds or centuries on a hostile context value. The
policy here is a **timeout-free safe subset with a linear-time fallback**:

1. Patterns are literals of the rule, at most ``MAX_PATTERN_LENGTH`` characters,
   parsed and checked when the rule is compiled (a ``$context`` pattern is
   refused: it could not be checked in advance).
2. Only the regular subset is accepted: literals, ``.``, classes ``[…]`` with
   ranges and ``\\d \\w \\s`` (and their negations), groups ``(…)`` and
   ``(?:…)``, ``|``, anchors ``^ $``, and the quantifiers ``* + ? {m} {m,}
   {,n} {m,n}`` (greedy or lazy; counts at most ``MAX_REPEAT``). Backreferences,
   lookaround, conditionals, possessive quantifiers, inline flags, ``\\b`` and
   other escapes are refused, so every accepted pattern is a true regular
   expression and can be matched by an automaton.
3. Matching has search semantics (like ``re.search``; anchor with ``^…$`` for a
   whole-value match) and two engines that give the same answer:

   * ``re`` is used only when a bound on its backtracking is small: no quantifier
     applies to a group containing a quantifier or ``|``, and the backtracking
     bound ``(n+1) ** (k+1) * c`` stays within ``BACKTRACK_BUDGET`` steps, where
     ``n`` is the subject length, ``k`` the number of unbounded quantifiers and
     ``c`` the product of the bounded choices (``?`` counts 2, ``{m,n}`` counts
     ``n-m+1``, a ``|`` counts its branches);
   * otherwise a deterministic automaton (``regex_dfa``), built in full when
     the pattern is compiled, runs in O(len(subject)) with one dict lookup per
     character; the Thompson-NFA simulation of ``regex_nfa`` finishes the last
     character (where ``$`` may hold) and answers subjects shorter than two.

   A pattern whose automaton would exceed the limits of ``regex_dfa`` (states,
   transitions, build work) is refused when it is compiled, so every accepted
   pattern is searched in bounded time and memory.

4. Subjects longer than ``MAX_SUBJECT_LENGTH`` characters are not matched:
   ``search`` returns ``None`` (unknown) for them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from asyncexp.core.appconfig.regex_dfa import Dfa, DfaTooLargeError, build_dfa
from asyncexp.core.appconfig.regex_nfa import (
    ProgramTooLargeError,
    Step,
    analyse,
    build_program,
    nfa_search,
)
from asyncexp.core.appconfig.regex_parser import MAX_REPEAT, PatternError, RegexParser

__all__ = [
    "BACKTRACK_BUDGET",
    "MAX_PATTERN_LENGTH",
    "MAX_REPEAT",
    "MAX_SUBJECT_LENGTH",
    "PatternError",
    "SafePattern",
    "compile_pattern",
]

MAX_PATTERN_LENGTH = 256
MAX_SUBJECT_LENGTH = 4096
# re is used only below this many steps: past it the automaton is as fast or faster
BACKTRACK_BUDGET = 20_000


@dataclass(frozen=True, slots=True)
class SafePattern:
    """A vetted pattern; ``search`` never backtracks beyond ``BACKTRACK_BUDGET``."""

    source: str
    _regex: re.Pattern[str] = field(repr=False, compare=False)
    _program: tuple[Step, ...] = field(repr=False, compare=False)
    _unbounded: int = field(repr=False, compare=False)
    _choices: int = field(repr=False, compare=False)
    _backtrack_safe: bool = field(repr=False, compare=False)
    _dfa: Dfa = field(repr=False, compare=False)

    def search(self, subject: str) -> bool | None:
        """Whether the pattern matches somewhere in ``subject``; ``None`` if it is too long."""
        n = len(subject)
        if n > MAX_SUBJECT_LENGTH:
            return None
        if self._backtrack_safe and (n + 1) ** (self._unbounded + 1) * self._choices <= (
            BACKTRACK_BUDGET
        ):
            return self._regex.search(subject) is not None
        return self._dfa.search(subject)

    @property
    def weight(self) -> int:
        """What a search costs against a rule's matches budget (1 for most patterns)."""
        return self._dfa.weight

    def search_nfa(self, subject: str) -> bool:
        """Always use the automaton (tests compare it with ``re``)."""
        return nfa_search(self._program, subject)

    def search_dfa(self, subject: str) -> bool:
        """Always use the deterministic automaton (tests compare it with ``re``)."""
        return self._dfa.search(subject)


def compile_pattern(pattern: str) -> SafePattern:
    """Check ``pattern`` against the safe subset and compile it; raise ``PatternError``."""
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise PatternError(f"pattern is longer than {MAX_PATTERN_LENGTH} characters", 0)
    tree = RegexParser(pattern).parse()
    stats = [0, 1, 0]
    analyse(tree, stats)
    try:
        program = build_program(tree)
    except ProgramTooLargeError as exc:
        raise PatternError(str(exc), 0) from None
    try:
        dfa = build_dfa(program)
    except DfaTooLargeError as exc:
        hint = "" if "scattered" in str(exc) else "; bound the repetition that follows a loop"
        raise PatternError(f"{exc}{hint}", 0) from None
    try:
        regex = re.compile(pattern)
    except re.error as exc:  # pragma: no cover - the subset parser refuses these first
        raise PatternError(str(exc), exc.pos or 0) from None
    return SafePattern(pattern, regex, program, stats[0], stats[1], not stats[2], dfa)
