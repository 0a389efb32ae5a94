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
  categories can still tell characters apart. Class codes fit one byte
  (at most ``MAX_CLASSES``). A subject becomes its class codes in C code only:
  one shared table, built once per process with the first pattern (~0.2 s,
  during a document parse), folds every non-ASCII character below U+40000
  into one of four category bytes 0x80–0x83 (nothing from U+40000 up is a
  digit, word or space character: those fold to "other" with one regex
  substitution), and a 256-byte table per pattern maps ASCII and category
  bytes to class codes. A character the pattern does not name is classed by
  its category alone, so only *named* non-ASCII characters need more
  (``_Named``): when a probe regex finds one in the subject, each character
  gets a group (its named region's kind, 0 if unnamed) from a ``codecs``
  charmap (up to 254 BMP characters named in part-named 256-code-point
  blocks) and from per-byte tables over its UTF-32 bytes (blocks named in
  full, astral blocks named in part, at most ``MAX_NAMED_PASSES``), and the
  256-byte table maps fold byte + group × 4 to the class. Past those limits a
  pattern keeps a per-character map filled on first sight (~0.35 µs of Python
  per new character, 4096 remembered).
* **Pairs.** When the automaton is small (``_PAIR_ENTRIES``), a search of 64
  characters or more steps two characters at a time: a key byte per pair
  (first × symbols + second, big-integer arithmetic in C) indexes pair rows,
  halving the ``reduce`` steps (~25 ns each), the largest cost of a search.
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

import codecs
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
    "MAX_NAMED_PASSES",
    "Dfa",
    "DfaTooLargeError",
    "build_dfa",
]

MAX_DFA_STATES = 1024
MAX_DFA_TRANSITIONS = 32768  # states × classes: bounds the memory of one pattern
MAX_DFA_WORK = 400_000  # NFA steps spent building: bounds the compile time
MAX_CLASSES = 254  # class codes and the "unforeseen" code are bytes
_CLASSMAP_CAP = 4096  # non-ASCII characters remembered per pattern
_PAIR_ENTRIES = 16384  # pair-row entries per pattern (~130 KB at most)
_PAIRS_FROM = 64  # shorter subjects step one character at a time
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
# table passes of the C path beyond the charmap: planes with blocks named in full, and
# blocks named in part that the charmap cannot hold (astral, or past 254 characters);
# each costs ~10 µs on 4096 characters. Past it a pattern is refused (a search would
# need Python per character); a pattern with many passes weighs more against the
# rule's matches budget (``Dfa.weight``).
MAX_NAMED_PASSES = 12
_SCATTERED = (
    "pattern names non-ASCII characters in too many scattered places to be searched in bounded time"
)
_MAX_GROUPS = 31  # kinds of named character: 0x80 + group × 4 + category index is a byte


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
        "named",
        "newline",
        "pairs",
        "program",
        "states",
        "weight",
    )

    def __init__(self, program: tuple[Step, ...], classmap: _ClassMap, classes: int) -> None:
        self.program = program
        self.classmap = classmap
        self.bytemap: bytes | None = None  # the C-only path's table, when it applies
        self.named: _Named | None = None  # and its tables for named non-ASCII characters
        self.pairs: tuple[Row, bytes] | None = None  # see _pair_rows
        # what one search costs, in units of a plain matches clause: 1, plus one for
        # every 4 table passes for named non-ASCII characters
        self.weight = 1
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
        codes = self.codes(subject)
        try:
            if self.pairs is None or len(codes) < _PAIRS_FROM:
                return bool(reduce(getitem, codes, self.initial)[end])
            pairs, times = self.pairs
            n = len(codes)
            firsts, seconds = codes[0 : n & ~1 : 2], codes[1::2]
            keys = int.from_bytes(firsts.translate(times), "little")
            keys += int.from_bytes(seconds, "little")  # each byte: first × width + second
            row = reduce(getitem, keys.to_bytes(n >> 1, "little"), pairs)[-1]
            if n & 1:
                row = row[codes[-1]]
            return bool(row[end])
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
            named = self.named
            if named is not None and named.probe.search(subject) is not None:
                raw = named.keys(subject, raw)
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
    """Set up the C-only path of ``Dfa.codes`` (always, unless too many blocks are named)."""
    table = bytearray(256)
    for cp in range(128):
        table[cp] = ord(classmap[cp])
    last = len(classmap.bounds) - 2
    # the last region (up to U+10FFFF) is named by no set: its classes are those of
    # every character the pattern does not name
    other = [classmap.by_bits.get((last, b if classmap.uses_bits else _BITS[3])) for b in _BITS]
    if None in other:
        # the pattern names U+10FFFF itself: no class is left for unnamed characters,
        # and a per-character search is not bounded (issue 15: refuse what cannot be)
        raise DfaTooLargeError(_SCATTERED)
    plain = [symbol for symbol in other if symbol is not None]
    for i, symbol in enumerate(plain):
        table[0x80 + i] = ord(symbol)
    if classmap.bounds[-2] > 128:
        runs, keys = _group_runs(classmap, plain)
        if runs:
            named = _named_tables(runs, keys, table)
            if named is None:
                # past MAX_NAMED_PASSES the search would need Python per character
                # (2-7 ms on 4096 fresh characters): refused, so every accepted rule stays
                # within its CPU bound
                raise DfaTooLargeError(_SCATTERED)
            dfa.named = named
            dfa.weight = 1 + (len(named.whole) + len(named.partial)) // 4
    dfa.bytemap = bytes(table)
    _fold_table()  # built here, while a document is compiled, not during a search


def _group_runs(
    classmap: _ClassMap, other: list[str]
) -> tuple[list[tuple[int, int, int]], list[tuple[str, ...]]]:
    """Non-ASCII runs [lo, hi) whose classes differ from an unnamed character's, with a group."""
    bounds = classmap.bounds
    groups: dict[tuple[str, ...], int] = {}
    runs: list[tuple[int, int, int]] = []
    plain = tuple(other)
    for region, lo in enumerate(bounds[:-1]):
        hi = bounds[region + 1]
        lo = max(lo, 128)  # ASCII is classed by the 256-byte table
        if lo >= hi:
            continue
        single = classmap.single.get(region)
        if single is not None:
            key: tuple[str, ...] = (single,) * 4
        else:
            key = tuple(
                classmap.by_bits.get(
                    (region, b if classmap.uses_bits else _BITS[3]), classmap.unknown
                )
                for b in _BITS
            )
        if key == plain:
            continue  # folds like any unnamed character: no identity needed
        group = groups.setdefault(key, len(groups) + 1)
        if runs and runs[-1][1] == lo and runs[-1][2] == group:
            runs[-1] = (runs[-1][0], hi, group)
        else:
            runs.append((lo, hi, group))
    return runs, list(groups)


def _named_tables(
    runs: list[tuple[int, int, int]], keys: list[tuple[str, ...]], table: bytearray
) -> _Named | None:
    """The tables that give named non-ASCII characters their class in C code, or None.

    Named characters in blocks (cp >> 8) of one group get their group from the
    block; the others from one ``codecs`` charmap (up to 254 BMP characters) or,
    past that and beyond the BMP, from a table of low bytes per block.
    """
    if len(keys) > _MAX_GROUPS:
        return None
    pages: dict[int, bytearray] = {}  # block → group × 4 per low byte
    for lo, hi, group in runs:
        for page in range(lo >> 8, ((hi - 1) >> 8) + 1):
            start, stop = max(lo, page << 8), min(hi, (page + 1) << 8)
            low = pages.setdefault(page, bytearray(256))
            low[start & 0xFF : ((stop - 1) & 0xFF) + 1] = bytes([group << 2]) * (stop - start)
    whole: dict[int, bytearray] = {}  # plane → group × 4 per high byte
    partial: dict[int, bytes] = {}
    for page, low in sorted(pages.items()):
        if low.count(low[0]) == 256:
            whole.setdefault(page >> 8, bytearray(256))[page & 0xFF] = low[0]
        else:
            partial[page] = bytes(low)
    charmap = _charmap({p: t for p, t in partial.items() if p < 0x100})
    if charmap is not None:
        partial = {p: t for p, t in partial.items() if p >= 0x100}
    if len(whole) + len(partial) > MAX_NAMED_PASSES:
        return None
    # the key of a character is its fold byte plus group × 4: ASCII and unnamed
    # characters (group 0) keep their fold byte, named ones reach 0x84 and up
    for group, key in enumerate(keys, start=1):
        for i, symbol in enumerate(key):
            table[0x80 + (group << 2) + i] = ord(symbol)
    probe = re.compile("[" + "".join(f"{_esc(lo)}-{_esc(hi - 1)}" for lo, hi, _g in runs) + "]")
    return _Named(
        probe,
        charmap,
        [(p, bytes(t), _equal(p)) for p, t in sorted(whole.items())],
        [(p >> 8, t, _equal(p >> 8), _equal(p & 0xFF)) for p, t in sorted(partial.items())],
    )


def _esc(cp: int) -> str:
    return f"\\U{cp:08x}"


def _charmap(pages: dict[int, bytes]) -> tuple[Any, bytes] | None:
    """A ``codecs`` encoding map of the named characters of ``pages`` (BMP blocks), or None.

    ``codecs.charmap_encode(subject, "replace", encoding_map)`` gives each
    character its slot byte in C code (unmapped ones become "?", slot 1; byte 0
    must decode to U+0000); the second item maps a slot to group × 4.
    """
    named = [(page << 8 | i, g) for page, low in pages.items() for i, g in enumerate(low) if g]
    if not named or len(named) > 254 or any(cp == 0xFFFE for cp, _g in named):
        return None  # U+FFFE marks an unmapped slot
    decoding = ["\ufffe"] * 256
    decoding[0], decoding[1] = "\x00", "?"
    slots = bytearray(256)
    for slot, (cp, group) in enumerate(named, start=2):
        decoding[slot] = chr(cp)
        slots[slot] = group
    return codecs.charmap_build("".join(decoding)), bytes(slots)


def _equal(value: int) -> bytes:
    """The ``bytes.translate`` table of a mask: 0xFF where a byte is ``value``, else 0."""
    return bytes(0xFF if i == value else 0 for i in range(256))


def _plane_mask(masks: dict[int, int], plane: int, planes: bytes, table: bytes) -> int:
    mask = masks.get(plane)
    if mask is None:
        mask = masks[plane] = int.from_bytes(planes.translate(table), "little")
    return mask


class _Named:
    """Per-pattern tables for characters the pattern names beyond ASCII (see ``Dfa.codes``)."""

    __slots__ = ("charmap", "partial", "probe", "whole")

    def __init__(
        self,
        probe: re.Pattern[str],
        charmap: tuple[Any, bytes] | None,
        whole: list[tuple[int, bytes, bytes]],
        partial: list[tuple[int, bytes, bytes, bytes]],
    ) -> None:
        self.probe = probe  # finds any named non-ASCII character
        self.charmap = charmap  # (encoding map, group × 4 per slot): named BMP characters
        # (plane, group × 4 per high byte, plane mask): the blocks of one group
        self.whole = whole
        # (plane, group × 4 per low byte, plane mask, high-byte mask): the other blocks
        self.partial = partial

    def keys(self, subject: str, folded: bytes) -> bytes:
        """Per character, its fold byte plus group × 4 (0 unless named), all in C code.

        Groups come from the charmap and from bytes of the UTF-32 form (plane,
        high and low byte of each character) through per-byte tables; big
        integers of one byte per character add them up and mask them.
        """
        n = len(subject)
        group = 0
        if self.charmap is not None:
            encoding_map, slots = self.charmap
            encoded = codecs.charmap_encode(subject, "replace", encoding_map)[0]
            group = int.from_bytes(encoded.translate(slots), "little")
        if self.whole or self.partial:
            utf32 = subject.encode("utf-32-be", "surrogatepass")
            planes, highs = utf32[1::4], utf32[2::4]
            astral = planes.count(0) != n
            in_planes: dict[int, int] = {}  # plane → mask, each computed once per search
            for plane, table, in_plane in self.whole:
                if plane and not astral:
                    continue
                found = int.from_bytes(highs.translate(table), "little")
                if astral:
                    found &= _plane_mask(in_planes, plane, planes, in_plane)
                group |= found
            lows = utf32[3::4] if self.partial else b""
            for plane, table, in_plane, in_block in self.partial:
                if plane and not astral:
                    continue
                found = int.from_bytes(lows.translate(table), "little")
                found &= int.from_bytes(highs.translate(in_block), "little")
                if astral:
                    found &= _plane_mask(in_planes, plane, planes, in_plane)
                group |= found
        if not group:
            return folded
        return (int.from_bytes(folded, "little") + group).to_bytes(n, "little")


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
    dfa.pairs = _pair_rows(dfa, [dfa.initial, accept, *states.values()], width + 1)
    return dfa


def _pair_rows(dfa: Dfa, rows: list[Row], symbols: int) -> tuple[Row, bytes] | None:
    """Rows stepped two characters at a time, when they fit ``_PAIR_ENTRIES``.

    Why: ``reduce(getitem)`` costs ~25 ns a step, the largest part of a search
    on 4096 characters; a key of one byte per pair (first × symbols + second,
    computed with big integers in C) halves the steps. A pair row holds the
    next pair row per key, then the single-step row it stands for (for an odd
    last character and the end answers).
    """
    if symbols * symbols > 256 or len(rows) * symbols * symbols > _PAIR_ENTRIES:
        return None
    pair_of: dict[int, Row] = {id(row): [None] * (symbols * symbols) + [row] for row in rows}
    for row in rows:
        pair = pair_of[id(row)]
        for first in range(symbols):
            middle = row[first]
            if middle is None:
                continue  # the unforeseen class: None, so the search falls back
            for second in range(symbols):
                last = middle[second]
                if last is not None:
                    pair[first * symbols + second] = pair_of[id(last)]
    times = bytes(c * symbols if c < symbols else 0 for c in range(256))
    return pair_of[id(dfa.initial)], times
