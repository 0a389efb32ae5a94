"""The automaton behind ``safe_regex``: syntax nodes, cost analysis, Thompson NFA.

``safe_regex`` parses a pattern into the nodes defined here. ``analyse``
measures how far ``re`` could backtrack on it; ``build_program`` compiles the
nodes into a Thompson automaton (steps CHAR, SPLIT, JMP, BOL, EOL, MATCH) and
``nfa_search`` runs it over a subject in O(len(subject) × len(program)) time,
keeping a set of states instead of backtracking. ``$`` matches at the end or
before a final newline, and ``.`` matches anything but a newline, as in ``re``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

__all__ = [
    "MAX_PROGRAM",
    "Alt",
    "Anchor",
    "Cat",
    "Char",
    "CharPred",
    "CharSet",
    "Node",
    "ProgramTooLargeError",
    "Rep",
    "Step",
    "analyse",
    "build_program",
    "nfa_run",
    "nfa_search",
]

MAX_PROGRAM = 2000
CharPred = Callable[[str], bool]
_CHAR, _SPLIT, _JMP, _BOL, _EOL, _MATCH = range(6)


def _is_word(c: str) -> bool:
    return c.isalnum() or c == "_"


# \d \w \s and their negations; the DFA builder reads the same table
CATEGORY_TESTS: dict[str, tuple[CharPred, bool]] = {
    "d": (str.isdecimal, False),
    "D": (str.isdecimal, True),
    "w": (_is_word, False),
    "W": (_is_word, True),
    "s": (str.isspace, False),
    "S": (str.isspace, True),
}


@dataclass(frozen=True, slots=True)
class CharSet:
    """One character test, kept symbolic so ``regex_dfa`` can partition the alphabet.

    A character is in the set when it is one of ``chars``, inside one of the
    inclusive ``ranges``, or in one of the categories ``cats`` (keys of
    ``CATEGORY_TESTS``); ``negated`` flips the answer.
    """

    chars: frozenset[str] = frozenset()
    ranges: tuple[tuple[str, str], ...] = ()
    cats: tuple[str, ...] = ()
    negated: bool = False

    def __call__(self, c: str) -> bool:
        hit = (
            c in self.chars
            or any(lo <= c <= hi for lo, hi in self.ranges)
            or any(CATEGORY_TESTS[k][0](c) is not CATEGORY_TESTS[k][1] for k in self.cats)
        )
        return hit is not self.negated


@dataclass(slots=True)
class Char:
    pred: CharSet


@dataclass(slots=True)
class Anchor:
    at_end: bool


@dataclass(slots=True)
class Cat:
    items: list[Node]


@dataclass(slots=True)
class Alt:
    branches: list[Node]


@dataclass(slots=True)
class Rep:
    child: Node
    lo: int
    hi: int | None


Node = Char | Anchor | Cat | Alt | Rep


@dataclass(slots=True)
class _Ins:
    """One automaton step: CHAR(pred) → next; SPLIT(x, y); JMP(x); BOL; EOL; MATCH."""

    op: int
    pred: CharPred | None = None
    x: int = 0
    y: int = 0


class ProgramTooLargeError(ValueError):
    """The pattern expands to more than ``MAX_PROGRAM`` automaton steps."""


def analyse(node: Node, stats: list[int]) -> bool:
    """Add to ``stats`` = [unbounded, choices, unsafe]; return whether ``node`` can vary."""
    if isinstance(node, Cat):
        return any([analyse(child, stats) for child in node.items])
    if isinstance(node, Alt):
        stats[1] *= len(node.branches)
        for child in node.branches:
            analyse(child, stats)
        return True
    if isinstance(node, Rep):
        if analyse(node.child, stats):
            stats[2] = 1
        if node.hi is None:
            stats[0] += 1
        else:
            stats[1] *= node.hi - node.lo + 1
        return node.hi != node.lo
    return False


def _emit(node: Node, prog: list[_Ins]) -> None:
    if len(prog) > MAX_PROGRAM:
        raise ProgramTooLargeError(f"pattern expands to more than {MAX_PROGRAM} steps")
    if isinstance(node, Char):
        prog.append(_Ins(_CHAR, node.pred))
    elif isinstance(node, Anchor):
        prog.append(_Ins(_EOL if node.at_end else _BOL))
    elif isinstance(node, Cat):
        for child in node.items:
            _emit(child, prog)
    elif isinstance(node, Alt):
        jumps: list[_Ins] = []
        for child in node.branches[:-1]:
            split = _Ins(_SPLIT, x=len(prog) + 1)
            prog.append(split)
            _emit(child, prog)
            jumps.append(_Ins(_JMP))
            prog.append(jumps[-1])
            split.y = len(prog)
        _emit(node.branches[-1], prog)
        for jump in jumps:
            jump.x = len(prog)
    else:
        for _ in range(node.lo):
            _emit(node.child, prog)
        splits: list[_Ins] = []
        if node.hi is None:
            loop = len(prog)
            splits.append(_Ins(_SPLIT, x=loop + 1))
            prog.append(splits[-1])
            _emit(node.child, prog)
            prog.append(_Ins(_JMP, x=loop))
        else:
            for _ in range(node.hi - node.lo):
                splits.append(_Ins(_SPLIT, x=len(prog) + 1))
                prog.append(splits[-1])
                _emit(node.child, prog)
        for split in splits:
            split.y = len(prog)


Step = tuple[int, CharPred | None, int, int]


def build_program(tree: Node) -> tuple[Step, ...]:
    """Compile ``tree`` into automaton steps; raise ``ProgramTooLargeError``."""
    prog: list[_Ins] = []
    _emit(tree, prog)
    prog.append(_Ins(_MATCH))
    if len(prog) > MAX_PROGRAM:
        raise ProgramTooLargeError(f"pattern expands to more than {MAX_PROGRAM} steps")
    return tuple((ins.op, ins.pred, ins.x, ins.y) for ins in prog)


def nfa_search(prog: tuple[Step, ...], subject: str) -> bool:
    """Thompson simulation: is there a match starting anywhere in ``subject``?"""
    return nfa_run(prog, subject, 0, ())


def nfa_run(prog: tuple[Step, ...], subject: str, start: int, threads: tuple[int, ...]) -> bool:
    """Continue a search at ``subject[start]`` with the threads ``threads`` already running."""
    n = len(subject)
    pending: list[int] | tuple[int, ...] = threads
    for i in range(start, n + 1):
        seen: set[int] = set()
        ready: list[tuple[int, CharPred]] = []
        stack = [0, *pending]
        while stack:
            pc = stack.pop()
            if pc in seen:
                continue
            seen.add(pc)
            op, pred, x, y = prog[pc]
            if pred is not None:
                ready.append((pc, pred))
            elif op == _SPLIT:
                stack.append(y)
                stack.append(x)
            elif op == _JMP:
                stack.append(x)
            elif op == _BOL:
                if i == 0:
                    stack.append(pc + 1)
            elif op == _EOL:
                if i == n or (i == n - 1 and subject[i] == "\n"):
                    stack.append(pc + 1)
            else:
                return True
        if i == n:
            break
        c = subject[i]
        pending = [pc + 1 for pc, pred in ready if pred(c)]
    return False
