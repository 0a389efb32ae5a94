"""Parser of the safe regex subset into ``regex_nfa`` syntax nodes, and its ``PatternError``."""

from __future__ import annotations

import re

from asyncexp.core.appconfig.regex_nfa import (
    CATEGORY_TESTS,
    Alt,
    Anchor,
    Cat,
    Char,
    CharSet,
    Node,
    Rep,
)

__all__ = ["MAX_REPEAT", "PatternError", "RegexParser"]

MAX_REPEAT = 100


class PatternError(ValueError):
    """The pattern is outside the safe subset; ``offset`` points into the pattern."""

    def __init__(self, message: str, offset: int) -> None:
        self.offset = offset
        super().__init__(f"{message} (pattern offset {offset})")


_HEX = frozenset("0123456789abcdefABCDEF")
_QUANTIFIER = re.compile(r"\{(\d*)(,?)(\d*)\}")
_CONTROL = {"t": "\t", "n": "\n", "r": "\r", "f": "\f", "v": "\v"}
_DOT = CharSet(frozenset("\n"), negated=True)  # "." is anything but a newline, as in re


class RegexParser:
    __slots__ = ("pattern", "pos")

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        self.pos = 0

    def peek(self) -> str:
        return self.pattern[self.pos] if self.pos < len(self.pattern) else ""

    def parse(self) -> Node:
        node = self.alternation()
        if self.pos < len(self.pattern):
            raise PatternError("unbalanced ')'", self.pos)
        return node

    def alternation(self) -> Node:
        branches = [self.concat()]
        while self.peek() == "|":
            self.pos += 1
            branches.append(self.concat())
        return branches[0] if len(branches) == 1 else Alt(branches)

    def concat(self) -> Node:
        items: list[Node] = []
        while self.peek() not in ("", "|", ")"):
            items.append(self.repeat())
        return Cat(items)

    def repeat(self) -> Node:
        start = self.pos
        atom = self.atom()
        bounds = self.quantifier()
        if bounds is None:
            return atom
        if isinstance(atom, Anchor):
            raise PatternError("nothing to repeat", start)
        if self.peek() == "?":
            self.pos += 1  # lazy: the same yes/no answer
        if self.peek() in ("*", "+", "?", "{"):
            raise PatternError("multiple or possessive quantifiers are not supported", self.pos)
        return Rep(atom, bounds[0], bounds[1])

    def quantifier(self) -> tuple[int, int | None] | None:
        ch = self.peek()
        if ch in ("*", "+", "?"):
            self.pos += 1
            return {"*": (0, None), "+": (1, None), "?": (0, 1)}[ch]
        if ch != "{":
            return None
        m = _QUANTIFIER.match(self.pattern, self.pos)
        if m is None or (not m.group(1) and not m.group(3)) or (not m.group(2) and not m.group(1)):
            raise PatternError("a '{' must start a quantifier {m}, {m,}, {,n} or {m,n}", self.pos)
        lo = int(m.group(1) or 0)
        hi: int | None = lo if not m.group(2) else (int(m.group(3)) if m.group(3) else None)
        if lo > MAX_REPEAT or (hi is not None and (hi > MAX_REPEAT or hi < lo)):
            raise PatternError(f"repeat counts must be ordered and at most {MAX_REPEAT}", self.pos)
        self.pos = m.end()
        return lo, hi

    def atom(self) -> Node:
        ch, start = self.peek(), self.pos
        self.pos += 1
        if ch == "(":
            if self.pattern.startswith("?:", self.pos):
                self.pos += 2
            elif self.peek() == "?":
                raise PatternError("only (…) and (?:…) groups are supported", start)
            node = self.alternation()
            if self.peek() != ")":
                raise PatternError("missing ')'", start)
            self.pos += 1
            return node
        if ch == "[":
            return Char(self.char_class(start))
        if ch == ".":
            return Char(_DOT)
        if ch == "^":
            return Anchor(at_end=False)
        if ch == "$":
            return Anchor(at_end=True)
        if ch in ("*", "+", "?"):
            raise PatternError("nothing to repeat", start)
        if ch in ("{", "}"):
            raise PatternError(f"escape a literal {ch!r} as '\\{ch}'", start)
        if ch == "\\":
            esc = self.escape(in_class=False)
            return Char(esc if isinstance(esc, CharSet) else CharSet(frozenset(esc)))
        return Char(CharSet(frozenset(ch)))

    def escape(self, *, in_class: bool) -> str | CharSet:
        start = self.pos - 1
        ch = self.peek()
        if ch == "":
            raise PatternError("pattern ends with '\\'", start)
        self.pos += 1
        if ch in CATEGORY_TESTS:
            return CharSet(cats=(ch,))
        if ch in _CONTROL:
            return _CONTROL[ch]
        for prefix, width in (("x", 2), ("u", 4)):
            if ch == prefix:
                digits = self.pattern[self.pos : self.pos + width]
                if len(digits) != width or not all(d in _HEX for d in digits):
                    raise PatternError(f"'\\{prefix}' needs {width} hex digits", start)
                self.pos += width
                return chr(int(digits, 16))
        if ch.isascii() and ch.isalnum():
            where = "in a class" if in_class else "here"
            raise PatternError(f"escape '\\{ch}' is not supported {where}", start)
        return ch

    def char_class(self, start: int) -> CharSet:
        negated = self.peek() == "^"
        if negated:
            self.pos += 1
        chars: set[str] = set()
        ranges: list[tuple[str, str]] = []
        cats: list[str] = []
        first = True
        while True:
            ch = self.peek()
            if ch == "":
                raise PatternError("unterminated character class", start)
            if ch == "]" and not first:
                self.pos += 1
                break
            first = False
            item = self.class_item()
            if isinstance(item, CharSet):
                cats.extend(item.cats)
                continue
            if self.peek() == "-" and self.pattern[self.pos + 1 : self.pos + 2] not in ("]", ""):
                dash = self.pos
                self.pos += 1
                high = self.class_item()
                if isinstance(high, CharSet) or high < item:
                    raise PatternError("bad character range", dash)
                ranges.append((item, high))
            else:
                chars.add(item)
        return CharSet(frozenset(chars), tuple(ranges), tuple(dict.fromkeys(cats)), negated)

    def class_item(self) -> str | CharSet:
        ch = self.peek()
        self.pos += 1
        if ch == "\\":
            return self.escape(in_class=True)
        if ch == "[":
            raise PatternError("escape a literal '[' inside a class as '\\['", self.pos - 1)
        return ch
