"""A deterministic automaton for ``safe_regex``, built in full when the pattern is compiled.

Why: the Thompson simulation of ``regex_nfa`` is linear but costs O(program
size) Python steps per character, so ``((a|b)?){100}c`` on 4 KiB took ~0.4 s.
Here the program is determinised once, when the rule is compiled, and a search
is then one C-level dict lookup per character (``functools.reduce`` over the
subject), with no Python code per character on the common path.

How:

* **Alphabet classes.** Every character test of the program is a symbolic
  ``CharSet``, so the alphabet can be cut into a few classes whose characters
  every test treats alike: the code points named by the pattern (literals and
  range ends) cut it into regions, and inside a region only the ``\\d \\w \\s``
  categories can still tell characters apart. A ``str.translate`` map turns a
  subject into class codes (at most ``MAX_CLASSES``, so they fit one byte);
  it is filled for ASCII up front and on first sight for other characters
  (bounded; a full map computes without remembering). When every code point
  the pattern names is ASCII (the usual case) a C-only path applies instead:
  one shared table, built once per process with the first such pattern
  (~0.2 s, during a document parse), folds every non-ASCII character below U+40000 into one of four
  category bytes 0x80–0x83 (nothing from U+40000 up is a digit, word or space
  character: those fold to "other" with one regex substitution), and a
  256-byte table per pattern maps ASCII and category bytes to class codes. So
  even characters never seen before cost no Python code. Patterns naming
  non-ASCII code points keep the per-character map (~0.5 µs per character
  not seen before; benchmarks/README.md has the figures).
* **States.** A state is the set of NFA threads waiting for the next
  character (the restart thread of search semantics is implied). States are
  explored over all classes; a state whose closure reaches MATCH is the
  absorbing ``accept``. A state is a list: next state per class code, then
  ``None`` for the "unforeseen class" code (the search falls back to the NFA),
  then its two end answers below. Building stops with ``DfaTooLargeError``
  past ``MAX_DFA_STATES`` states, ``MAX_DFA_TRANSITIONS`` transitions or
  ``MAX_DFA_WORK`` closure steps, so a pattern is refused when it cannot be
  run in bounded time and memory (``(a|b)*a(a|b){20}`` needs 2**21 states).
* **Anchors.** ``^`` holds only at offset 0 and ``$`` only at the end or
  before a final newline, so the first character leaves a separate initial
  state, and each state knows (computed while building) whether a search
  ending there matches (``at_end``) and whether one with only a final newline
  left matches (``at_nl_end``). Subjects of 0 or 1 characters use answers
  computed once. So a search never runs the NFA, whatever the pattern.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from functools import reduce
from operator import getitem
from typing import Any

from asyncexp.core.appconfig.regex_nfa import CATEGORY_TESTS, CharSet, Step, nfa_run

__all__ = [
    "MAX_CLASSES",
    "MAX_DFA_STATES",
    "MAX_DFA_TRANSITIONS",
    "MAX_DFA_WORK",
    "Dfa",
    "DfaTooLargeError",
    "build_dfa",
]

MAX_DFA_STATES = 1024
MAX_DFA_TRANSITIONS = 32768  # states × classes: bounds the memory of one pattern
MAX_DFA_WORK = 400_000  # NFA steps spent building: bounds the compile time
MAX_CLASSES = 254  # class codes and the "unforeseen" code are bytes
_CLASSMAP_CAP = 4096  # non-ASCII characters remembered per pattern
_UNICODE_END = 0x110000
_CHAR, _SPLIT, _JMP, _BOL, _EOL, _MATCH = range(6)
# the category bits a character can have: (decimal, word, space)
_BITS = ((True, True, False), (False, True, False), (False, False, True), (False, False, False))
_CAT_BIT = {"d": 0, "D": 0, "w": 1, "W": 1, "s": 2, "S": 2}


class DfaTooLargeError(ValueError):
    """The pattern's automaton would exceed the state, transition or work limits."""


Row = list[Any]  # next row per class code, None, at_end, at_nl_end
_FOLD: list[str] = []  # the shared fold table, built on first use
_FOLD_END = 0x40000  # tests/hostile checks that nothing from here up has category bits
_HIGH = re.compile("[\U00040000-\U0010ffff]")
_OTHER = chr(0x80 + 3)  # the fold byte of _BITS[3]


def _fold_table() -> str:
    """ASCII → itself, other characters → chr(0x80 + index of their bits in _BITS)."""
    if not _FOLD:
        codes = {bits: chr(0x80 + i) for i, bits in enumerate(_BITS)}
        table = [chr(cp) for cp in range(128)]
        table.extend(codes.get(_bits(chr(cp)), _OTHER) for cp in range(128, _FOLD_END))
        _FOLD.append("".join(table))
    return _FOLD[0]


class _ClassMap(dict[int, str]):
    """``str.translate`` table: code point → class symbol, computed on first sight."""

    __slots__ = ("bounds", "by_bits", "single", "unknown", "uses_bits")

    def __init__(self, bounds: list[int], uses_bits: bool, unknown: str) -> None:
        super().__init__()
        self.bounds = bounds
        self.uses_bits = uses_bits
        self.unknown = unknown  # no row has it: the search falls back to the NFA
        self.single: dict[int, str] = {}  # region index → symbol, one-character regions
        self.by_bits: dict[tuple[int, tuple[bool, bool, bool]], str] = {}

    def classify(self, cp: int) -> str:
        region = bisect_right(self.bounds, cp) - 1
        symbol = self.single.get(region)
        if symbol is not None:
            return symbol
        bits = _bits(chr(cp)) if self.uses_bits else _BITS[3]
        return self.by_bits.get((region, bits), self.unknown)

    def __missing__(self, cp: int) -> str:
        symbol = self.classify(cp)
        if len(self) < _CLASSMAP_CAP:
            self[cp] = symbol
        return symbol


def _bits(c: str) -> tuple[bool, bool, bool]:
    return (c.isdecimal(), c.isalnum() or c == "_", c.isspace())


def _holds(cs: CharSet, lo: int, single: str | None, bits: tuple[bool, bool, bool]) -> bool:
    """Whether ``cs`` holds for the characters of a region starting at ``lo``."""
    if single is not None:
        return cs(single)
    c = chr(lo)  # no literal lies inside a multi-character region, only range ends bound it
    hit = any(a <= c <= b for a, b in cs.ranges) or any(
        bits[_CAT_BIT[k]] is not CATEGORY_TESTS[k][1] for k in cs.cats
    )
    return hit is not cs.negated


class Dfa:
    """The automaton of one program; ``search`` answers like ``nfa_search``."""

    __slots__ = (
        "accept",
        "bytemap",
        "classmap",
        "empty",
        "end",
        "initial",
        "newline",
        "program",
        "states",
    )

    def __init__(self, program: tuple[Step, ...], classmap: _ClassMap, classes: int) -> None:
        self.program = program
        self.classmap = classmap
        self.bytemap: bytes | None = None  # the C-only path's table, when it applies
        self.end = classes + 1  # index of at_end in a row; at_nl_end follows
        self.accept: Row = [None] * (classes + 3)
        self.accept[:classes] = [self.accept] * classes
        self.accept[self.end :] = [True, True]
        self.initial = self.accept
        self.states = 0
        self.empty = nfa_run(program, "", 0, ())
        self.newline = nfa_run(program, "\n", 0, ())

    def search(self, subject: str) -> bool:
        if not subject:
            return self.empty
        end = self.end
        if subject[-1] == "\n":
            if len(subject) == 1:
                return self.newline
            subject, end = subject[:-1], end + 1
        try:
            return bool(reduce(getitem, self.codes(subject), self.initial)[end])
        except TypeError:  # None: a character of a class the builder did not foresee
            return nfa_run(self.program, subject, 0, ())

    def codes(self, subject: str) -> bytes:
        """The class code of every character of ``subject``."""
        if self.bytemap is not None:
            if subject.isascii():
                return subject.encode("ascii").translate(self.bytemap)
            folded = subject.translate(_fold_table())
            try:
                raw = folded.encode("latin-1")
            except UnicodeEncodeError:  # characters from U+40000 up: all "other"
                raw = _HIGH.sub(_OTHER, folded).encode("latin-1")
            return raw.translate(self.bytemap)
        return subject.translate(self.classmap).encode("latin-1")


def _closure(
    prog: tuple[Step, ...], threads: tuple[int, ...], bol: bool, eol: bool = False
) -> tuple[bool, list[int], int]:
    """(reaches MATCH, CHAR steps ready, steps visited) from ``threads`` and the restart."""
    seen: set[int] = set()
    ready: list[int] = []
    stack = [0, *threads]
    while stack:
        pc = stack.pop()
        if pc in seen:
            continue
        seen.add(pc)
        op, _pred, x, y = prog[pc]
        if op == _CHAR:
            ready.append(pc)
        elif op == _SPLIT:
            stack.append(y)
            stack.append(x)
        elif op == _JMP:
            stack.append(x)
        elif op == _BOL:
            if bol:
                stack.append(pc + 1)
        elif op == _EOL:
            if eol:
                stack.append(pc + 1)
        elif op == _MATCH:
            return True, ready, len(seen)
    ready.sort()
    return False, ready, len(seen)


def _alphabet(sets: list[CharSet]) -> tuple[_ClassMap, list[frozenset[int]]]:
    """The class map and, per class, the indices of the sets that hold for it."""
    points = {0, _UNICODE_END}
    for cs in sets:
        for c in cs.chars:
            points.update((ord(c), ord(c) + 1))
        for a, b in cs.ranges:
            points.update((ord(a), ord(b) + 1))
    bounds = sorted(points)
    uses_bits = any(cs.cats for cs in sets)
    plain: dict[str, list[int]] = {}  # literal-only sets hold on their own characters only
    general: list[int] = []
    for i, cs in enumerate(sets):
        if cs.ranges or cs.cats or cs.negated:
            general.append(i)
        else:
            for c in cs.chars:
                plain.setdefault(c, []).append(i)
    vectors: dict[frozenset[int], str] = {}
    pending: list[tuple[int, str | None, tuple[bool, bool, bool], frozenset[int]]] = []
    for region, lo in enumerate(bounds[:-1]):
        single = chr(lo) if bounds[region + 1] - lo == 1 else None
        combos = (_bits(single),) if single is not None else (_BITS if uses_bits else _BITS[3:])
        for bits in combos:
            held = [i for i in general if _holds(sets[i], lo, single, bits)]
            if single is not None:
                held.extend(plain.get(single, ()))
            vector = frozenset(held)
            if vector not in vectors:
                vectors[vector] = chr(len(vectors))
            pending.append((region, single, bits, vector))
    classes = list(vectors)
    if len(classes) > MAX_CLASSES:
        raise DfaTooLargeError(f"pattern tells apart more than {MAX_CLASSES} kinds of character")
    classmap = _ClassMap(bounds, uses_bits, chr(len(classes)))
    for region, single, bits, vector in pending:
        if single is not None:
            classmap.single[region] = vectors[vector]
        else:
            classmap.by_bits[(region, bits)] = vectors[vector]
    for cp in range(128):  # ASCII subjects never leave C code
        classmap[cp] = classmap.classify(cp)
    return classmap, classes


def _c_path(dfa: Dfa, classmap: _ClassMap) -> None:
    """Set up the C-only path of ``Dfa.codes`` when no named code point is beyond ASCII."""
    if classmap.bounds[-2] > 128:
        return
    table = bytearray(256)
    for cp in range(128):
        table[cp] = ord(classmap[cp])
    last = len(classmap.bounds) - 2
    for i, bits in enumerate(_BITS):
        # without categories in the pattern every fold byte is the last region's one class
        key = (last, bits if classmap.uses_bits else _BITS[3])
        table[0x80 + i] = ord(classmap.by_bits.get(key, classmap.unknown))
    dfa.bytemap = bytes(table)
    _fold_table()  # built here, while a document is compiled, not during a search


def build_dfa(prog: tuple[Step, ...]) -> Dfa:
    """Determinise ``prog``; raise ``DfaTooLargeError`` when it exceeds the limits."""
    sets: list[CharSet] = []
    index: dict[CharSet, int] = {}
    set_of_pc: dict[int, int] = {}
    for pc, (op, pred, _x, _y) in enumerate(prog):
        if op == _CHAR:
            assert isinstance(pred, CharSet)  # the parser builds only CharSet tests
            set_of_pc[pc] = index.setdefault(pred, len(index))
            if set_of_pc[pc] == len(sets):
                sets.append(pred)
    classmap, classes = _alphabet(sets)
    width = len(classes)
    dfa = Dfa(prog, classmap, width)
    _c_path(dfa, classmap)
    accept = dfa.accept
    states: dict[tuple[int, ...], Row] = {}
    work = 0
    todo: list[tuple[Row, list[int]]] = []

    def state(threads: tuple[int, ...]) -> Row:
        nonlocal work
        row = states.get(threads)
        if row is not None:
            return row
        matched, ready, steps = _closure(prog, threads, bol=False)
        work += steps
        if matched:
            return accept
        if len(states) >= MAX_DFA_STATES:
            raise DfaTooLargeError(f"pattern needs more than {MAX_DFA_STATES} automaton states")
        at_end, ready_end, steps = _closure(prog, threads, bol=False, eol=True)
        at_nl_end = at_end
        if not at_nl_end:  # "$" holds before the newline too, then the newline is consumed
            after = tuple(pc + 1 for pc in ready_end if prog[pc][1]("\n"))  # type: ignore[misc]
            at_nl_end, _ready, more = _closure(prog, after, bol=False, eol=True)
            steps += more
        work += steps
        row = states[threads] = [None] * width + [None, at_end, at_nl_end]
        todo.append((row, ready))
        return row

    def fill(row: Row, ready: list[int]) -> None:
        nonlocal work
        for c, vector in enumerate(classes):
            work += len(ready) + 1
            row[c] = state(tuple(pc + 1 for pc in ready if set_of_pc[pc] in vector))
        if work > MAX_DFA_WORK:
            raise DfaTooLargeError("pattern is too costly to turn into an automaton")
        if len(states) * width > MAX_DFA_TRANSITIONS:
            raise DfaTooLargeError(
                f"pattern needs more than {MAX_DFA_TRANSITIONS} automaton transitions"
            )

    matched, ready0, _steps = _closure(prog, (), bol=True)
    if not matched:
        dfa.initial = [None] * (width + 3)
        fill(dfa.initial, ready0)
        while todo:
            fill(*todo.pop())
    dfa.states = len(states)
    return dfa
