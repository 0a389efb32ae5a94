"""Three-valued logic of compiled conditions: the evaluator type, constants and and/or/not."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from typing import TypeAlias

__all__ = [
    "Evaluator",
    "Tri",
    "always_false",
    "always_none",
    "always_true",
    "audience_result",
    "junction",
    "negate",
]

Tri: TypeAlias = bool | None
Evaluator: TypeAlias = Callable[[Mapping[str, object], Collection[str] | None], Tri]


def always_true(attributes: Mapping[str, object], segments: Collection[str] | None) -> Tri:
    return True


def always_false(attributes: Mapping[str, object], segments: Collection[str] | None) -> Tri:
    return False


def always_none(attributes: Mapping[str, object], segments: Collection[str] | None) -> Tri:
    return None


def audience_result(value: bool | None) -> bool:
    """Collapse a three-valued result: UNKNOWN (None) is not qualified."""
    return value is True


# --- operators ----------------------------------------------------------------------
# "and" stops at False, "or" at True: `stop`. If no operand stops, the result is
# UNKNOWN if any operand was, else `not stop`. Evaluators are pure, so constant
# operands fold at compile time: `not stop` drops out, a constant `stop` decides, and
# a constant None only caps the result at UNKNOWN.


def _junction_two(first: Evaluator, second: Evaluator, stop: bool) -> Evaluator:
    other = not stop

    def two(attributes: Mapping[str, object], segments: Collection[str] | None) -> Tri:
        a = first(attributes, segments)
        if a is stop:
            return stop
        b = second(attributes, segments)
        if b is stop:
            return stop
        return None if a is None or b is None else other

    return two


def _junction_many(operands: tuple[Evaluator, ...], stop: bool) -> Evaluator:
    other = not stop

    def many(attributes: Mapping[str, object], segments: Collection[str] | None) -> Tri:
        result: Tri = other
        for operand in operands:
            r = operand(attributes, segments)
            if r is stop:
                return stop
            if r is None:
                result = None
        return result

    return many


def junction(operands: list[Evaluator], stop: bool) -> Evaluator:
    decisive, neutral = (always_true, always_false) if stop else (always_false, always_true)
    if any(op is decisive for op in operands):  # identity: never trust a caller's __eq__
        return decisive
    unknown = any(op is always_none for op in operands)
    rest = [op for op in operands if op is not neutral and op is not always_none]
    if not rest:
        return always_none if unknown else neutral
    if len(rest) == 1:
        inner = rest[0]  # ["and", x] and ["or", x] are both x
    elif len(rest) == 2:
        inner = _junction_two(rest[0], rest[1], stop)
    else:
        inner = _junction_many(tuple(rest), stop)
    if not unknown:
        return inner

    def capped(attributes: Mapping[str, object], segments: Collection[str] | None) -> Tri:
        return stop if inner(attributes, segments) is stop else None

    return capped


def negate(operand: Evaluator) -> Evaluator:
    if operand is always_true or operand is always_false or operand is always_none:
        return {always_true: always_false, always_false: always_true}.get(operand, always_none)

    def negate(attributes: Mapping[str, object], segments: Collection[str] | None) -> Tri:
        r = operand(attributes, segments)
        return None if r is None else not r

    return negate
