"""Leaf conditions (``{name, value, type, match}``) compiled into evaluators."""

from __future__ import annotations

import json
import operator
from collections.abc import Callable, Collection, Mapping
from typing import Any, TypeGuard

from asyncexp.core.flags.condition_logic import Evaluator, Tri, always_false, always_none
from asyncexp.core.flags.semver import compare_to, parse_version

__all__ = ["compile_leaf"]

_MAX = 2**53
_TYPES = ("custom_attribute", "third_party_dimension")
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


def compile_leaf(condition: Mapping[Any, object], warnings: list[str]) -> Evaluator:
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
        evaluator = always_false if match == "exists" else always_none
        problem = "has no attribute name"
    else:
        evaluator = _compile_match(name, match, value)
        problem = "has an unsupported condition value"
        if evaluator is not None:
            return evaluator
    shown = {key: condition.get(key) for key in ("name", "value", "type", "match")}
    text = json.dumps(shown, default=repr)
    warnings.append(f'Audience condition "{text}" {problem}. {_UPGRADE}')
    return always_none if evaluator is None else evaluator


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
