"""Audience condition trees compiled into closures (behaviour reference §3.1–3.3).

Rules this module implements:

* **Three values.** An evaluator returns True, False or None (UNKNOWN); a rule
  treats UNKNOWN as not qualified (`audience_result`).
* **Trees.** A list whose first element is exactly ``"and"``, ``"or"`` or ``"not"``
  applies it to the rest; any other list is an implicit OR; anything else is a leaf.
  ``and``: any False → False, else any None → None, else True; ``["and"]`` is True.
  ``or`` is the dual; ``["or"]`` is False. ``not`` negates its first operand only;
  ``["not"]`` and ``not None`` are None. Leaves run left to right and stop at the
  first False (and) / True (or).
* **Audience trees** have audience ids as leaves; an id missing from the mapping is
  None. A tree that is None or ``[]`` is always True.
* **Condition trees** have ``{name, value, type, match}`` dicts as leaves. ``type`` is
  ``custom_attribute`` or ``third_party_dimension``; no ``match`` means ``exact``.
  Except for ``exists`` and ``qualified``, a missing or None attribute, or a user
  value of the wrong type, is None. A *finite number* is an int or float, not a bool,
  not NaN/±inf, with ``abs(v) <= 2**53``. Per match (``u`` is the user's value):

  - ``exact``: value a str, bool or finite number; ``u`` of the same class (str, bool,
    finite number; bool never equals a number) and ``u == value``.
  - ``exists``: value ignored; True iff the attribute is present and not None.
  - ``substring``: value a str; ``u`` a str and ``value in u``.
  - ``gt``/``ge``/``lt``/``le``: value a finite number; ``u`` a finite number, ``u > value``…
  - ``semver_eq/gt/ge/lt/le``: value a str; ``compare_versions(value, u)`` ``== 0``,
    ``> 0``, ``>= 0``, ``< 0``, ``<= 0``; None if either version is invalid.
  - ``qualified``: value a str; True iff it is in the qualified segments (False when
    they were never fetched); attributes are not read.

* **Compile-time judgement.** A leaf with an unknown type or match, or a value its
  match cannot use (a semver target that does not parse included), compiles to a
  constant None and appends one warning, in the reference's words, to ``warnings``
  (the reference logs it on every evaluation). Per-call reasons are not reported.
  A leaf without a str ``name`` never sees an attribute (``exists`` is False, the
  rest None) and warns too. Operands after ``not``'s first are not even compiled.
* **Deliberate deviations.** Where the reference raises, the result here is None: an
  empty list in a tree (IndexError), a leaf that is neither dict nor list in an
  audience's conditions (TypeError; it also warns here), a semver comparison it cannot
  convert to int (ValueError, see `asyncexp.core.semver`). Lists nested deeper than
  ``max_depth`` raise `ConfigError` with their path, and so does a leaf dict holding
  lists or dicts nested deeper than ``max_depth`` (leaves are printed with
  ``json.dumps``, which recurses).
* **Purity.** Evaluators never log or mutate, so only results are observable; that
  lets constant operands fold at compile time.
"""

from __future__ import annotations

import json
import operator
from collections.abc import Callable, Collection, Mapping
from typing import Any, TypeAlias, TypeGuard

from asyncexp.core.semver import compare_to, parse_version
from asyncexp.errors import ConfigError

__all__ = ["Evaluator", "Tri", "audience_result", "compile_audience_tree", "compile_condition_tree"]

Tri: TypeAlias = bool | None
Evaluator: TypeAlias = Callable[[Mapping[str, object], Collection[str] | None], Tri]

_MAX = 2**53
_TYPES = ("custom_attribute", "third_party_dimension")
_OPERATORS = ("and", "or", "not")
_SEMVER_ACCEPT: dict[str, frozenset[int]] = {
    "semver_eq": frozenset({0}),
    "semver_gt": frozenset({1}),
    "semver_ge": frozenset({0, 1}),
    "semver_lt": frozenset({-1}),
    "semver_le": frozenset({-1, 0}),
}
_NUMERIC: dict[str, Callable[[Any, Any], bool]] = {
    "gt": operator.gt,
    "ge": operator.ge,
    "lt": operator.lt,
    "le": operator.le,
}
_MATCHES = frozenset({"exact", "exists", "substring", "qualified", *_NUMERIC, *_SEMVER_ACCEPT})
_NUMBER_TYPES = (int, float)
_UPGRADE = "You may need to upgrade to a newer release of the Optimizely SDK."


def _always_true(attributes: Mapping[str, object], segments: Collection[str] | None) -> Tri:
    return True


def _always_false(attributes: Mapping[str, object], segments: Collection[str] | None) -> Tri:
    return False


def _always_none(attributes: Mapping[str, object], segments: Collection[str] | None) -> Tri:
    return None


def audience_result(value: bool | None) -> bool:
    """Collapse a three-valued result: UNKNOWN (None) is not qualified."""
    return value is True


def _is_finite(value: object) -> TypeGuard[float]:
    # The chained compare is False for NaN and ±inf, and exact for huge ints.
    return (
        isinstance(value, _NUMBER_TYPES) and not isinstance(value, bool) and -_MAX <= value <= _MAX
    )


# --- leaves -------------------------------------------------------------------------
# Each leaf closure binds its name and value once; "user" is the attribute's value.


def _exact(name: str, value: str | bool | float) -> Evaluator:
    if isinstance(value, str):

        def exact_str(attributes: Mapping[str, object], segments: Collection[str] | None) -> Tri:
            user = attributes.get(name)
            return user == value if isinstance(user, str) else None

        return exact_str
    if isinstance(value, bool):

        def exact_bool(attributes: Mapping[str, object], segments: Collection[str] | None) -> Tri:
            user = attributes.get(name)
            return user is value if user is True or user is False else None

        return exact_bool
    return _numeric(name, operator.eq, value)  # numbers: int and float compare equal


def _exists(name: str) -> Evaluator:
    def exists(attributes: Mapping[str, object], segments: Collection[str] | None) -> Tri:
        return attributes.get(name) is not None

    return exists


def _substring(name: str, value: str) -> Evaluator:
    def substring(attributes: Mapping[str, object], segments: Collection[str] | None) -> Tri:
        user = attributes.get(name)
        return value in user if isinstance(user, str) else None

    return substring


def _numeric(name: str, compare: Callable[[Any, Any], bool], value: float) -> Evaluator:
    def numeric(attributes: Mapping[str, object], segments: Collection[str] | None) -> Tri:
        user: Any = attributes.get(name)  # Any: the class tests below narrow it
        cls = user.__class__
        # Plain int/float skip isinstance; subclasses (never bool) take the slow test.
        if (
            cls is int or cls is float or (cls is not bool and isinstance(user, _NUMBER_TYPES))
        ) and (-_MAX <= user <= _MAX):
            return compare(user, value)
        return None

    return numeric


def _semver(name: str, match: str, value: str) -> Evaluator | None:
    target = parse_version(value)  # parsed once; only the user side is parsed per call
    if target is None:
        return None
    accept = _SEMVER_ACCEPT[match]

    def semver(attributes: Mapping[str, object], segments: Collection[str] | None) -> Tri:
        user = attributes.get(name)
        if not isinstance(user, str):
            return None
        result = compare_to(target, user)
        return None if result is None else result in accept

    return semver


def _qualified(value: str) -> Evaluator:
    def qualified(attributes: Mapping[str, object], segments: Collection[str] | None) -> Tri:
        return segments is not None and value in segments

    return qualified


def _compile_leaf(condition: Mapping[Any, object], warnings: list[str]) -> Evaluator:
    kind = condition.get("type")
    match = condition.get("match")
    match = "exact" if match is None else match
    name = condition.get("name")
    value = condition.get("value")
    evaluator: Evaluator | None = None
    if not isinstance(kind, str) or kind not in _TYPES:
        problem = "uses an unknown condition type"
    elif not isinstance(match, str) or match not in _MATCHES:
        problem = "uses an unknown match type"
    elif match == "qualified":
        if isinstance(value, str):
            return _qualified(value)
        problem = "has an unsupported condition value"
    elif not isinstance(name, str):
        # A str-keyed mapping can never hold this attribute: it is always missing.
        evaluator = _always_false if match == "exists" else _always_none
        problem = "has no attribute name"
    else:
        evaluator = _compile_match(name, match, value)
        problem = "has an unsupported condition value"
        if evaluator is not None:
            return evaluator
    shown = {key: condition.get(key) for key in ("name", "value", "type", "match")}
    text = json.dumps(shown, default=repr)
    warnings.append(f'Audience condition "{text}" {problem}. {_UPGRADE}')
    return _always_none if evaluator is None else evaluator


def _compile_match(name: str, match: str, value: object) -> Evaluator | None:
    """The evaluator for a known attribute match, or None if ``value`` is unusable."""
    if match == "exists":
        return _exists(name)
    if match == "exact":
        return _exact(name, value) if isinstance(value, str | bool) or _is_finite(value) else None
    if match == "substring":
        return _substring(name, value) if isinstance(value, str) else None
    if match in _SEMVER_ACCEPT:
        return _semver(name, match, value) if isinstance(value, str) else None
    return _numeric(name, _NUMERIC[match], value) if _is_finite(value) else None


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


def _junction(operands: list[Evaluator], stop: bool) -> Evaluator:
    decisive, neutral = (_always_true, _always_false) if stop else (_always_false, _always_true)
    if any(op is decisive for op in operands):  # identity: never trust a caller's __eq__
        return decisive
    unknown = any(op is _always_none for op in operands)
    rest = [op for op in operands if op is not neutral and op is not _always_none]
    if not rest:
        return _always_none if unknown else neutral
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


def _not(operand: Evaluator) -> Evaluator:
    if operand is _always_true or operand is _always_false or operand is _always_none:
        return {_always_true: _always_false, _always_false: _always_true}.get(operand, _always_none)

    def negate(attributes: Mapping[str, object], segments: Collection[str] | None) -> Tri:
        r = operand(attributes, segments)
        return None if r is None else not r

    return negate


# --- trees --------------------------------------------------------------------------


def _nests_deeper(node: Mapping[Any, object], limit: int) -> bool:
    """Whether lists and dicts nest more than ``limit`` levels inside ``node`` (iterative)."""
    stack: list[tuple[object, int]] = [(value, 1) for value in node.values()]
    while stack:
        value, level = stack.pop()
        if isinstance(value, dict):
            children: Collection[object] = value.values()
        elif isinstance(value, list):
            children = value
        else:
            continue
        if level > limit:
            return True
        stack.extend((child, level + 1) for child in children)
    return False


def _compile_tree(
    tree: object, path: str, depth: int, max_depth: int, leaf: Callable[[object], Evaluator]
) -> Evaluator:
    if not isinstance(tree, list):
        # What a leaf holds is printed with json.dumps (warnings, reasons, the config
        # view), which recurses: it is bounded like the lists around it.
        if isinstance(tree, dict) and _nests_deeper(tree, max_depth):
            raise ConfigError(f"condition is nested deeper than {max_depth} levels", path)
        return leaf(tree)
    if depth > max_depth:
        raise ConfigError(f"tree is nested deeper than {max_depth} levels", path)
    if not tree:
        return _always_none  # the reference raises IndexError here
    head = tree[0]
    start = 1 if isinstance(head, str) and head in _OPERATORS else 0
    # "not" never looks past its first operand, so neither does the compiler.
    end = min(2, len(tree)) if start and head == "not" else len(tree)
    operands = [
        _compile_tree(tree[i], f"{path}[{i}]", depth + 1, max_depth, leaf)
        for i in range(start, end)
    ]
    if not start:
        return _junction(operands, True)  # implicit OR
    if head == "not":
        return _not(operands[0]) if operands else _always_none
    return _junction(operands, head == "or")


def compile_condition_tree(
    tree: object, path: str, warnings: list[str], *, max_depth: int = 32
) -> Evaluator:
    """Compile an audience's decoded ``conditions`` tree; a bad leaf adds to ``warnings``
    and is None. Raises `ConfigError` (at ``path``) if lists nest past ``max_depth``."""

    def leaf(node: object) -> Evaluator:
        if isinstance(node, dict):
            return _compile_leaf(node, warnings)
        warnings.append(f"Audience condition {json.dumps(node, default=repr)} is not a condition.")
        return _always_none

    return _compile_tree(tree, path, 1, max_depth, leaf)


def compile_audience_tree(
    tree: object, audiences: Mapping[str, Evaluator], path: str, *, max_depth: int = 32
) -> Evaluator:
    """Compile a rule's ``audienceConditions``/``audienceIds`` tree. Ids resolve now, so
    ``audiences`` must be complete. Raises `ConfigError` if lists nest past ``max_depth``."""
    if tree is None or (isinstance(tree, list) and not tree):
        return _always_true

    def leaf(node: object) -> Evaluator:
        found = audiences.get(node) if isinstance(node, str) else None
        return _always_none if found is None else found

    return _compile_tree(tree, path, 1, max_depth, leaf)
