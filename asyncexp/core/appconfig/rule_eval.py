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

from dataclasses import dataclass, field

from asyncexp.core.appconfig import rule_comparisons as comparisons
from asyncexp.core.appconfig import rule_key_operators as key_operators
from asyncexp.core.appconfig.rule_compiler_base import (
    CompilerState,
    Context,
    Evaluator,
    Getter,
    OperatorCompiler,
)
from asyncexp.core.appconfig.rule_key_operators import split_bucket
from asyncexp.core.appconfig.rule_parser import Call, ContextRef, Literal, Node, parse_rule
from asyncexp.core.appconfig.rule_values import to_boolean_or_none

__all__ = ["Context", "Evaluator", "Getter", "Rule", "compile_rule", "split_bucket"]


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


class _Compiler:
    """Compiles one rule: owns its ``CompilerState`` and the dispatch to operator compilers.

    Operators other than the logical ones are plain functions of
    (state, call, operand); ``getter`` is the operand callback they get, since
    an operand may itself be a call this compiler must compile.
    """

    __slots__ = ("state",)

    def __init__(self, path: str, default_seed: str) -> None:
        self.state = CompilerState(path, default_seed)

    def getter(self, node: Node, op: str) -> Getter:
        """A function returning the operand's value, or None when unknown."""
        if isinstance(node, Literal):
            value = node.value
            return lambda ctx: value
        if isinstance(node, ContextRef):
            key = node.key
            self.state.refs.add(key)
            return lambda ctx: ctx.get(key)
        if isinstance(node, Call):
            return self.boolean(node)
        raise self.state.error(f"{op} does not take a list here", node.position)

    def boolean(self, node: Node) -> Evaluator:
        if isinstance(node, Call):
            return self.call(node)
        if isinstance(node, Literal) and node.kind == "boolean":
            constant = bool(node.value)
            return lambda ctx: constant
        if isinstance(node, ContextRef):
            get = self.getter(node, "and")
            return lambda ctx: to_boolean_or_none(get(ctx))
        raise self.state.error("expected a boolean expression", node.position)

    def call(self, call: Call) -> Evaluator:
        if call.op in _LOGICAL:
            return self.logical(call)
        operator = _OPERATORS.get(call.op)
        if operator is None:
            raise self.state.error(f"unknown operator {call.op!r}", call.op_position)
        return operator(self.state, call, self.getter)

    def logical(self, call: Call) -> Evaluator:
        if call.named or not call.args:
            raise self.state.error(f"{call.op} takes one or more expressions", call.position)
        parts = tuple(self.boolean(arg) for arg in call.args)
        if call.op == "not":
            if len(parts) != 1:
                raise self.state.error("not takes exactly one expression", call.position)
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


_LOGICAL = frozenset(("and", "or", "not"))
_OPERATORS: dict[str, OperatorCompiler] = {
    "eq": comparisons.compare,
    "gt": comparisons.compare,
    "gte": comparisons.compare,
    "lt": comparisons.compare,
    "lte": comparisons.compare,
    "begins_with": comparisons.string_test,
    "ends_with": comparisons.string_test,
    "contains": comparisons.string_test,
    "in": comparisons.membership,
    "matches": key_operators.matches,
    "exists": key_operators.exists,
    "split": key_operators.split,
}


def compile_rule(source: str, *, path: str = "", default_seed: str = "") -> Rule:
    """Parse and compile ``source``; raise ``RuleSyntaxError`` (with position and path)."""
    tree = parse_rule(source, path)
    compiler = _Compiler(path, default_seed)
    evaluate = compiler.call(tree)
    return Rule(source, frozenset(compiler.state.refs), evaluate)
