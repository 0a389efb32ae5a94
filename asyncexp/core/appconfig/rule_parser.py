"""Lexer and parser of the AppConfig rule language (audience rules, variant rules).

The language is a prefix S-expression: ``(op arg …)``. This module turns the
text into a small immutable syntax tree; ``rule_eval`` checks operator arity and
types and compiles the tree into closures.

Lexical rules kept here:

* Whitespace (space, tab, CR, LF) separates tokens; ``,`` separates list items
  and is optional there (``["a" "b"]`` equals ``["a", "b"]``); a trailing comma
  is allowed.
* Strings are double-quoted UTF-8 with the JSON escapes ``\\" \\\\ \\/ \\b \\f
  \\n \\r \\t \\uXXXX``; any other escape is an error.
* Integers are 64-bit signed (``-7``, ``42``); floats have a fraction or an
  exponent (``3.14``, ``1.234e-5``); a value outside the 64-bit range is an error.
* Timestamps are bare W3C date-times: ``2024-01``, ``2024-01-31``,
  ``2012-03-04T05:06:07-08:00``, ``…T05:06Z``, fractional seconds allowed.
  A bare four-digit year is an integer. A time without a zone means UTC.
* ``true`` / ``false`` are booleans; ``$key`` is a context reference
  (``key`` is ``[A-Za-z0-9_.-]+``); ``name::`` introduces a named argument.
* Limits for untrusted text: at most ``MAX_RULE_LENGTH`` characters,
  ``MAX_DEPTH`` nested parentheses and ``MAX_NODES`` syntax nodes.

Every error is a :class:`~asyncexp.errors.RuleSyntaxError` carrying the 0-based
character offset of the offending token and the JSON path of the rule.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

from asyncexp.errors import RuleSyntaxError

__all__ = [
    "MAX_DEPTH",
    "MAX_NODES",
    "MAX_RULE_LENGTH",
    "Call",
    "ContextRef",
    "ListLiteral",
    "Literal",
    "LiteralKind",
    "LiteralValue",
    "Node",
    "parse_rule",
    "parse_timestamp",
]

MAX_RULE_LENGTH = 16384  # the service's Rule shape allows 1–16384 characters
MAX_DEPTH = 32
MAX_NODES = 4096
_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1

LiteralValue = str | int | float | bool | datetime
LiteralKind = str  # "string" | "integer" | "float" | "boolean" | "timestamp"


@dataclass(frozen=True, slots=True)
class Literal:
    """A constant operand."""

    value: LiteralValue
    kind: LiteralKind
    position: int


@dataclass(frozen=True, slots=True)
class ContextRef:
    """``$key``: a value looked up in the evaluation context."""

    key: str
    position: int


@dataclass(frozen=True, slots=True)
class ListLiteral:
    """``[item, …]`` of literals."""

    items: tuple[Literal, ...]
    position: int


@dataclass(frozen=True, slots=True)
class Call:
    """``(op positional… name::value…)``; ``position`` is the ``(``."""

    op: str
    op_position: int
    args: tuple[Node, ...]
    named: tuple[tuple[str, Node], ...]
    position: int


Node = Literal | ContextRef | ListLiteral | Call

_W3C = re.compile(
    r"(\d{4})(?:-(\d{2})(?:-(\d{2})"
    r"(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|[+-]\d{2}:\d{2})?)?)?)?"
)
_INT = re.compile(r"[+-]?\d+")
_FLOAT = re.compile(r"[+-]?(?:\d+\.\d*|\.\d+|\d+(?=[eE]))(?:[eE][+-]?\d+)?")
_BARE = re.compile(r"[0-9A-Za-z.:+\-]+")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_CONTEXT_KEY = re.compile(r"[A-Za-z0-9_.\-]+")
_SIMPLE_ESCAPES = {
    '"': '"',
    "\\": "\\",
    "/": "/",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
}


def parse_timestamp(text: str) -> datetime | None:
    """Parse a W3C date-time (``YYYY`` … ``YYYY-MM-DDThh:mm:ss.sTZD``); ``None`` if invalid.

    The result is timezone-aware; a missing zone means UTC.
    """
    m = _W3C.fullmatch(text)
    if m is None:
        return None
    year, month, day, hour, minute, second, frac, tzd = m.groups()
    if tzd is None or tzd == "Z":
        tz: timezone = UTC
    else:
        sign = -1 if tzd[0] == "-" else 1
        offset = timedelta(hours=int(tzd[1:3]), minutes=int(tzd[4:6]))
        if offset >= timedelta(hours=24):
            return None
        tz = timezone(sign * offset)
    micro = int((frac or "0")[:6].ljust(6, "0"))
    try:
        return datetime(
            int(year),
            int(month or 1),
            int(day or 1),
            int(hour or 0),
            int(minute or 0),
            int(second or 0),
            micro,
            tzinfo=tz,
        )
    except ValueError:
        return None


class _Parser:
    __slots__ = ("depth", "nodes", "path", "pos", "text")

    def __init__(self, text: str, path: str) -> None:
        self.text = text
        self.path = path
        self.pos = 0
        self.depth = 0
        self.nodes = 0

    def error(self, message: str, position: int | None = None) -> RuleSyntaxError:
        return RuleSyntaxError(message, self.pos if position is None else position, self.path)

    def skip_ws(self) -> None:
        text, pos = self.text, self.pos
        while pos < len(text) and text[pos] in " \t\r\n":
            pos += 1
        self.pos = pos

    def count_node(self, position: int) -> None:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise self.error(f"rule has more than {MAX_NODES} nodes", position)

    def parse(self) -> Call:
        self.skip_ws()
        if self.pos >= len(self.text) or self.text[self.pos] != "(":
            raise self.error("a rule must be one parenthesised expression such as (eq $k 1)")
        call = self.call()
        self.skip_ws()
        if self.pos < len(self.text):
            raise self.error(f"unexpected {self.text[self.pos]!r} after the end of the rule")
        return call

    def call(self) -> Call:
        start = self.pos
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error(f"rule is nested deeper than {MAX_DEPTH} levels", start)
        self.count_node(start)
        self.pos += 1  # "("
        self.skip_ws()
        op_pos = self.pos
        m = _NAME.match(self.text, self.pos)
        if m is None:
            raise self.error("expected an operator name after '('")
        op = m.group()
        self.pos = m.end()
        args: list[Node] = []
        named: list[tuple[str, Node]] = []
        while True:
            self.skip_ws()
            if self.pos >= len(self.text):
                raise self.error(f"unclosed '(' of {op!r} opened at position {start}")
            if self.text[self.pos] == ")":
                self.pos += 1
                break
            name_pos = self.pos
            m = _NAME.match(self.text, self.pos)
            if m is not None and self.text.startswith("::", m.end()):
                name = m.group()
                if any(n == name for n, _ in named):
                    raise self.error(f"argument {name}:: given twice", name_pos)
                self.pos = m.end() + 2
                self.skip_ws()
                named.append((name, self.operand()))
            else:
                if named:
                    raise self.error("positional argument after a named argument")
                args.append(self.operand())
        self.depth -= 1
        return Call(op, op_pos, tuple(args), tuple(named), start)

    def operand(self) -> Node:
        text, pos = self.text, self.pos
        if pos >= len(text):
            raise self.error("expected a value, found the end of the rule")
        ch = text[pos]
        if ch == "(":
            return self.call()
        if ch == "[":
            return self.list_literal()
        if ch == "$":
            m = _CONTEXT_KEY.match(text, pos + 1)
            if m is None:
                raise self.error("expected a context key after '$'")
            self.pos = m.end()
            self.count_node(pos)
            return ContextRef(m.group(), pos)
        return self.literal()

    def list_literal(self) -> ListLiteral:
        start = self.pos
        self.count_node(start)
        self.pos += 1
        items: list[Literal] = []
        while True:
            self.skip_ws()
            if self.pos >= len(self.text):
                raise self.error(f"unclosed '[' opened at position {start}")
            ch = self.text[self.pos]
            if ch == "]":
                self.pos += 1
                return ListLiteral(tuple(items), start)
            if ch == ",":
                if not items:
                    raise self.error("unexpected ',' in list")
                self.pos += 1
                continue
            if ch == ")":
                raise self.error(f"unclosed '[' opened at position {start}")
            if ch in "([$":
                raise self.error("list items must be literal values")
            items.append(self.literal())

    def literal(self) -> Literal:
        text, pos = self.text, self.pos
        ch = text[pos]
        self.count_node(pos)
        if ch == '"':
            return Literal(self.string(), "string", pos)
        if ch in "0123456789+-.":  # ASCII only: "²".isdigit() is True, yet no token
            m = _BARE.match(text, pos)
            assert m is not None
            token = m.group()
            self.pos = m.end()
            return self.number_or_timestamp(token, pos)
        m = _NAME.match(text, pos)
        if m is not None:
            word = m.group()
            if word in ("true", "false"):
                self.pos = m.end()
                return Literal(word == "true", "boolean", pos)
            raise self.error(f"unexpected name {word!r} (strings need double quotes)", pos)
        raise self.error(f"unexpected character {ch!r}", pos)

    def number_or_timestamp(self, token: str, pos: int) -> Literal:
        if _INT.fullmatch(token):
            # Past 19 significant digits it is out of range anyway; checking first also
            # keeps int() away from its 4300-digit ValueError.
            if len(token.lstrip("+-").lstrip("0")) > 19:
                raise self.error(f"integer {token[:32]}… is outside the 64-bit range", pos)
            value = int(token)
            if not _INT64_MIN <= value <= _INT64_MAX:
                raise self.error(f"integer {token} is outside the 64-bit range", pos)
            return Literal(value, "integer", pos)
        if _FLOAT.fullmatch(token):
            number = float(token)
            if number in (float("inf"), float("-inf")):
                raise self.error(f"float {token} is out of range", pos)
            return Literal(number, "float", pos)
        if "-" in token[1:] and (stamp := parse_timestamp(token)) is not None:
            return Literal(stamp, "timestamp", pos)
        raise self.error(f"invalid number or timestamp {token!r}", pos)

    def string(self) -> str:
        text = self.text
        start = self.pos
        pos = start + 1
        out: list[str] = []
        while True:
            end = pos
            while end < len(text) and text[end] not in '"\\':
                end += 1
            out.append(text[pos:end])
            if end >= len(text):
                raise self.error("unterminated string", start)
            if text[end] == '"':
                self.pos = end + 1
                return "".join(out)
            esc = text[end + 1 : end + 2]
            if esc in _SIMPLE_ESCAPES:
                out.append(_SIMPLE_ESCAPES[esc])
                pos = end + 2
            elif esc == "u" and re.fullmatch(r"[0-9A-Fa-f]{4}", text[end + 2 : end + 6]):
                out.append(chr(int(text[end + 2 : end + 6], 16)))
                pos = end + 6
            else:
                raise self.error(f"invalid escape '\\{esc}' in string", end)


def parse_rule(text: str, path: str = "") -> Call:
    """Parse rule ``text`` into a syntax tree; raise ``RuleSyntaxError`` with the position."""
    if not isinstance(text, str):
        raise RuleSyntaxError(f"a rule must be a string, not {type(text).__name__}", 0, path)
    if len(text) > MAX_RULE_LENGTH:
        raise RuleSyntaxError(
            f"rule is {len(text)} characters, more than {MAX_RULE_LENGTH}", MAX_RULE_LENGTH, path
        )
    return _Parser(text, path).parse()
