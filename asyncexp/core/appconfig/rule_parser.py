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

from asyncexp.core.appconfig.rule_lexer import CONTEXT_KEY, NAME, Lexer, parse_timestamp
from asyncexp.core.appconfig.rule_syntax import (
    MAX_DEPTH,
    MAX_NODES,
    MAX_RULE_LENGTH,
    Call,
    ContextRef,
    ListLiteral,
    Literal,
    LiteralKind,
    LiteralValue,
    Node,
)
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


class _Parser(Lexer):
    __slots__ = ()

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
        m = NAME.match(self.text, self.pos)
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
            m = NAME.match(self.text, self.pos)
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
            m = CONTEXT_KEY.match(text, pos + 1)
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


def parse_rule(text: str, path: str = "") -> Call:
    """Parse rule ``text`` into a syntax tree; raise ``RuleSyntaxError`` with the position."""
    if not isinstance(text, str):
        raise RuleSyntaxError(f"a rule must be a string, not {type(text).__name__}", 0, path)
    if len(text) > MAX_RULE_LENGTH:
        raise RuleSyntaxError(
            f"rule is {len(text)} characters, more than {MAX_RULE_LENGTH}", MAX_RULE_LENGTH, path
        )
    return _Parser(text, path).parse()
