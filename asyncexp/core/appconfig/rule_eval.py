"""Compiled evaluation of the AppConfig rule language.

``compile_rule`` parses a rule (see ``rule_parser``), checks every operator's
arguments, and builds a tree of closures, so evaluating a rule is a few Python
calls with no parsing and no dispatch on node types.

Evaluation rules (decisions of asyncexp where the vendor documentation is silent):

* **Three-valued logic.** A rule yields ``True``, ``False`` or ``None``
  (unknown). A context key that is absent or ``None`` makes its comparison
  unknown; ``not`` keeps unknown; ``and`` is false if any operand is false,
  ``or`` is true if any operand is true, otherwise unknown wins over the other
  value. A rule only *matches* when it yields ``True``, so
  ``(not (eq $country "US"))`` does not match a context without ``country``.
* **Coercion toward the literal.** The agent receives context values as header
  text, so a string context value is parsed to the type of the literal it is
  compared with: a number (``"65"``), a boolean (``"true"``/``"false"``, any
  case) or a W3C timestamp. An integer context value compared with a string is
  compared as its decimal text. ``datetime`` values compare with timestamps
  (naive ones are UTC); ``date`` values mean midnight UTC.
* **Mismatched types.** If a value cannot be coerced, ``eq`` is ``False`` (the
  values differ) and ``gt gte lt lte`` are unknown (they have no order).
  Strings order by code point; booleans have no order (refused when a literal).
* **Operators.** ``begins_with ends_with contains`` work on strings;
  ``contains`` on a list value tests membership. ``in`` tests membership in a
  list literal or a list-valued context key. ``exists`` (``key::"name"`` or a
  ``$name``) is true when the key is present and not ``None``; it is never
  unknown. ``matches`` (``in::`` and ``pattern::``, or two positional
  arguments) uses ``safe_regex`` with search semantics.
* **split.** ``(split pct::P by::$key seed::"S")`` is true when
  ``murmur3_32("S:" + value, seed=1) * 10000 >> 32`` (a bucket in 0–9999) is
  below ``P * 100``. Without ``seed::`` the compile-time ``default_seed`` is used
  (the flag key for flag variants, the run identity for audience rules), so a
  split is consistent within one flag and independent across flags. Non-string
  values are hashed as their JSON text; a value without one is unknown. The
  same value always lands in the same bucket, which gives variant lists their
  first-match-wins shares.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import mmh3
import orjson

from asyncexp.core.appconfig.rule_parser import (
    Call,
    ContextRef,
    ListLiteral,
    Literal,
    Node,
    parse_rule,
)
from asyncexp.core.appconfig.rule_values import (
    BAD,
    COERCE,
    coerce_pair,
    equal,
    to_boolean_or_none,
    to_string,
)
from asyncexp.core.appconfig.safe_regex import PatternError, compile_pattern
from asyncexp.errors import RuleSyntaxError

__all__ = ["Context", "Rule", "compile_rule", "split_bucket"]

Context = Mapping[str, Any]
Evaluator = Callable[[Context], bool | None]
Getter = Callable[[Context], Any]


@dataclass(frozen=True, slots=True)
class Rule:
    """A compiled rule. ``evaluate`` gives True/False/None; ``matches`` is True only for True."""

    source: str
    references: frozenset[str]
    _evaluate: Evaluator = field(repr=False, compare=False)

    def evaluate(self, context: Context) -> bool | None:
        return self._evaluate(context)

    def matches(self, context: Context) -> bool:
        return self._evaluate(context) is True


def split_bucket(seed: str, value: str) -> int:
    """The 0–9999 bucket of ``value`` under ``seed`` (MurmurHash3 x86 32-bit, hash seed 1)."""
    return (mmh3.hash(f"{seed}:{value}", 1, signed=False) * 10000) >> 32


# -- comparisons --------------------------------------------------------------------------

_ORDER: dict[str, Callable[[Any, Any], bool]] = {
    "eq": lambda a, b: bool(a == b),
    "gt": lambda a, b: bool(a > b),
    "gte": lambda a, b: bool(a >= b),
    "lt": lambda a, b: bool(a < b),
    "lte": lambda a, b: bool(a <= b),
}
_FLIPPED = {"eq": "eq", "gt": "lt", "gte": "lte", "lt": "gt", "lte": "gte"}


class _Compiler:
    __slots__ = ("default_seed", "path", "refs")

    def __init__(self, path: str, default_seed: str) -> None:
        self.path = path
        self.default_seed = default_seed
        self.refs: set[str] = set()

    def error(self, message: str, position: int) -> RuleSyntaxError:
        return RuleSyntaxError(message, position, self.path)

    # -- structure helpers

    def positional(self, call: Call, count: int) -> tuple[Node, ...]:
        if call.named:
            name = call.named[0][0]
            raise self.error(f"{call.op} takes no named argument {name}::", call.position)
        if len(call.args) != count:
            raise self.error(
                f"{call.op} takes {count} argument(s), got {len(call.args)}", call.position
            )
        return call.args

    def getter(self, node: Node, op: str) -> Getter:
        """A function returning the operand's value, or None when unknown."""
        if isinstance(node, Literal):
            value = node.value
            return lambda ctx: value
        if isinstance(node, ContextRef):
            key = node.key
            self.refs.add(key)
            return lambda ctx: ctx.get(key)
        if isinstance(node, Call):
            return self.boolean(node)
        raise self.error(f"{op} does not take a list here", node.position)

    def boolean(self, node: Node) -> Evaluator:
        if isinstance(node, Call):
            return self.call(node)
        if isinstance(node, Literal) and node.kind == "boolean":
            constant = bool(node.value)
            return lambda ctx: constant
        if isinstance(node, ContextRef):
            get = self.getter(node, "and")
            return lambda ctx: to_boolean_or_none(get(ctx))
        raise self.error("expected a boolean expression", node.position)

    # -- operators

    def call(self, call: Call) -> Evaluator:
        method = _OPERATORS.get(call.op)
        if method is None:
            raise self.error(f"unknown operator {call.op!r}", call.op_position)
        return method(self, call)

    def logical(self, call: Call) -> Evaluator:
        if call.named or not call.args:
            raise self.error(f"{call.op} takes one or more expressions", call.position)
        parts = tuple(self.boolean(arg) for arg in call.args)
        if call.op == "not":
            if len(parts) != 1:
                raise self.error("not takes exactly one expression", call.position)
            inner = parts[0]
            return lambda ctx: None if (r := inner(ctx)) is None else not r
        stop = call.op == "or"  # the value that decides an or/and at once

        def combine(ctx: Context) -> bool | None:
            unknown = False
            for part in parts:
                r = part(ctx)
                if r is stop:
                    return stop
                if r is None:
                    unknown = True
            return None if unknown else not stop

        return combine

    def compare(self, call: Call) -> Evaluator:
        left, right = self.positional(call, 2)
        op = call.op
        for node in (left, right):
            if isinstance(node, ListLiteral):
                raise self.error(f"{op} cannot compare a list", node.position)
            if isinstance(node, Literal) and node.kind == "boolean" and op != "eq":
                raise self.error(f"{op} cannot order booleans", node.position)
        if isinstance(left, Literal) and not isinstance(right, Literal):
            left, right, op = right, left, _FLIPPED[op]
        if isinstance(right, Literal) and not isinstance(left, Literal):
            return self.compare_literal(op, self.getter(left, op), right)
        get_a, get_b = self.getter(left, op), self.getter(right, op)
        cmp, mismatch = _ORDER[op], (False if op == "eq" else None)

        def dynamic(ctx: Context) -> bool | None:
            a, b = get_a(ctx), get_b(ctx)
            if a is None or b is None:
                return None
            a, b = coerce_pair(a, b)
            if a is BAD or b is BAD or isinstance(a, bool) != isinstance(b, bool):
                return mismatch
            if isinstance(a, bool) and op != "eq":
                return None
            return cmp(a, b)

        return dynamic

    def compare_literal(self, op: str, get: Getter, literal: Literal) -> Evaluator:
        coerce, lit, cmp = COERCE[literal.kind], literal.value, _ORDER[op]
        mismatch = False if op == "eq" else None

        def against_literal(ctx: Context) -> bool | None:
            v = get(ctx)
            if v is None:
                return None
            v = coerce(v)
            if v is BAD:
                return mismatch
            return cmp(v, lit)

        return against_literal

    def string_test(self, call: Call) -> Evaluator:
        subject, needle = (self.getter(n, call.op) for n in self.positional(call, 2))
        op = call.op

        def test(ctx: Context) -> bool | None:
            v, w = subject(ctx), needle(ctx)
            if v is None or w is None:
                return None
            if op == "contains" and isinstance(v, list | tuple | set | frozenset):
                return any(equal(item, w) for item in v)
            v, w = to_string(v), to_string(w)
            if v is BAD or w is BAD:
                return False
            if op == "begins_with":
                return bool(v.startswith(w))
            if op == "ends_with":
                return bool(v.endswith(w))
            return w in v

        return test

    def membership(self, call: Call) -> Evaluator:
        item_node, pool_node = self.positional(call, 2)
        get = self.getter(item_node, "in")
        if isinstance(pool_node, ListLiteral):
            by_kind: dict[str, set[Any]] = {}
            for lit in pool_node.items:
                kind = "float" if lit.kind == "integer" else lit.kind
                by_kind.setdefault(kind, set()).add(lit.value)
            tables = tuple((COERCE[k], frozenset(vs)) for k, vs in by_kind.items())

            def in_literal(ctx: Context) -> bool | None:
                v = get(ctx)
                if v is None:
                    return None
                for coerce, values in tables:
                    c = coerce(v)
                    if c is not BAD and c in values:
                        return True
                return False

            return in_literal
        if isinstance(pool_node, Literal):
            raise self.error("in needs a list or a $context list", pool_node.position)
        get_pool = self.getter(pool_node, "in")

        def in_context(ctx: Context) -> bool | None:
            v, pool = get(ctx), get_pool(ctx)
            if v is None or pool is None:
                return None
            if not isinstance(pool, list | tuple | set | frozenset):
                return False
            return any(equal(v, item) for item in pool)

        return in_context

    def named_args(self, call: Call, allowed: tuple[str, ...]) -> dict[str, Node]:
        args = dict(call.named)
        for name in args:
            if name not in allowed:
                raise self.error(f"{call.op} has no argument {name}::", call.position)
        return args

    def matches(self, call: Call) -> Evaluator:
        args = self.named_args(call, ("in", "pattern"))
        if call.args:
            if args or len(call.args) != 2:
                raise self.error("matches takes in:: and pattern::", call.position)
            args = {"in": call.args[0], "pattern": call.args[1]}
        if "in" not in args or "pattern" not in args:
            raise self.error("matches needs in:: and pattern::", call.position)
        pattern_node = args["pattern"]
        if not (isinstance(pattern_node, Literal) and pattern_node.kind == "string"):
            raise self.error("pattern:: must be a string literal", _position(pattern_node))
        try:
            pattern = compile_pattern(str(pattern_node.value))
        except PatternError as exc:
            raise self.error(f"unsafe or invalid pattern: {exc}", pattern_node.position) from None
        get = self.getter(args["in"], "matches")
        search = pattern.search

        def match(ctx: Context) -> bool | None:
            v = get(ctx)
            if v is None:
                return None
            v = to_string(v)
            return False if v is BAD else search(v)

        return match

    def exists(self, call: Call) -> Evaluator:
        args = self.named_args(call, ("key",))
        target = args.get("key") if not call.args else call.args[0]
        if target is None or len(call.args) + len(args) != 1:
            raise self.error('exists takes key::"name" or one $name', call.position)
        if isinstance(target, ContextRef):
            key = target.key
        elif isinstance(target, Literal) and target.kind == "string":
            key = str(target.value)
        else:
            raise self.error("exists needs a string key", _position(target))
        self.refs.add(key)
        return lambda ctx: ctx.get(key) is not None

    def split(self, call: Call) -> Evaluator:
        if call.args:
            raise self.error("split takes only pct::, by:: and seed::", call.position)
        args = self.named_args(call, ("pct", "by", "seed"))
        pct, by, seed = args.get("pct"), args.get("by"), args.get("seed")
        if not isinstance(pct, Literal) or pct.kind not in ("integer", "float"):
            raise self.error("split needs pct:: with a number", call.position)
        percent = float(pct.value)  # type: ignore[arg-type]  # kind says int or float
        if not 0.0 <= percent <= 100.0:
            raise self.error("split pct:: must be between 0 and 100", pct.position)
        if not isinstance(by, ContextRef):
            raise self.error("split needs by:: with a $context value", call.position)
        if seed is not None and not (isinstance(seed, Literal) and seed.kind == "string"):
            raise self.error("split seed:: must be a string", _position(seed))
        prefix = str(seed.value) if seed is not None else self.default_seed
        threshold = percent * 100.0
        key = by.key
        self.refs.add(key)

        def in_split(ctx: Context) -> bool | None:
            v = ctx.get(key)
            if v is None:
                return None
            if isinstance(v, str):
                text = v
            else:
                try:
                    text = orjson.dumps(v, default=str).decode()
                except orjson.JSONEncodeError:  # no JSON text (a huge int, a cycle…)
                    return None
            return split_bucket(prefix, text) < threshold

        return in_split


def _position(node: Node) -> int:
    return node.position


_OPERATORS: dict[str, Callable[[_Compiler, Call], Evaluator]] = {
    "and": _Compiler.logical,
    "or": _Compiler.logical,
    "not": _Compiler.logical,
    "eq": _Compiler.compare,
    "gt": _Compiler.compare,
    "gte": _Compiler.compare,
    "lt": _Compiler.compare,
    "lte": _Compiler.compare,
    "begins_with": _Compiler.string_test,
    "ends_with": _Compiler.string_test,
    "contains": _Compiler.string_test,
    "in": _Compiler.membership,
    "matches": _Compiler.matches,
    "exists": _Compiler.exists,
    "split": _Compiler.split,
}


def compile_rule(source: str, *, path: str = "", default_seed: str = "") -> Rule:
    """Parse and compile ``source``; raise ``RuleSyntaxError`` (with position and path)."""
    tree = parse_rule(source, path)
    compiler = _Compiler(path, default_seed)
    evaluate = compiler.call(tree)
    return Rule(source, frozenset(compiler.refs), evaluate)
