"""Comparison, string and membership operators of the rule compiler (eq… begins_with… in).

Each is an ``OperatorCompiler`` (see ``rule_compiler_base``): a function of the
rule's ``CompilerState``, the call and the compiler's ``operand`` callback.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from asyncexp.core.appconfig.rule_compiler_base import (
    CompilerState,
    Context,
    Evaluator,
    Getter,
    Operand,
)
from asyncexp.core.appconfig.rule_syntax import Call, ListLiteral, Literal
from asyncexp.core.appconfig.rule_values import BAD, COERCE, coerce_pair, equal, to_string

__all__ = ["compare", "membership", "string_test"]

_ORDER: dict[str, Callable[[Any, Any], bool]] = {
    "eq": lambda a, b: bool(a == b),
    "gt": lambda a, b: bool(a > b),
    "gte": lambda a, b: bool(a >= b),
    "lt": lambda a, b: bool(a < b),
    "lte": lambda a, b: bool(a <= b),
}
_FLIPPED = {"eq": "eq", "gt": "lt", "gte": "lte", "lt": "gt", "lte": "gte"}


def compare(state: CompilerState, call: Call, operand: Operand) -> Evaluator:
    left, right = state.positional(call, 2)
    op = call.op
    for node in (left, right):
        if isinstance(node, ListLiteral):
            raise state.error(f"{op} cannot compare a list", node.position)
        if isinstance(node, Literal) and node.kind == "boolean" and op != "eq":
            raise state.error(f"{op} cannot order booleans", node.position)
    if isinstance(left, Literal) and not isinstance(right, Literal):
        left, right, op = right, left, _FLIPPED[op]
    if isinstance(right, Literal) and not isinstance(left, Literal):
        return _compare_literal(op, operand(left, op), right)
    get_a, get_b = operand(left, op), operand(right, op)
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


def _compare_literal(op: str, get: Getter, literal: Literal) -> Evaluator:
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


def string_test(state: CompilerState, call: Call, operand: Operand) -> Evaluator:
    subject, needle = (operand(n, call.op) for n in state.positional(call, 2))
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


def membership(state: CompilerState, call: Call, operand: Operand) -> Evaluator:
    item_node, pool_node = state.positional(call, 2)
    get = operand(item_node, "in")
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
        raise state.error("in needs a list or a $context list", pool_node.position)
    get_pool = operand(pool_node, "in")

    def in_context(ctx: Context) -> bool | None:
        v, pool = get(ctx), get_pool(ctx)
        if v is None or pool is None:
            return None
        if not isinstance(pool, list | tuple | set | frozenset):
            return False
        return any(equal(v, item) for item in pool)

    return in_context
