"""Typed values of the rule language: coercion of context values toward literals.

A context value is brought to the kind of the value it meets (see ``rule_eval``
for the rules). A value that cannot be coerced becomes ``BAD``. Kinds are
``string``, ``integer``/``float`` (numbers), ``boolean`` and ``timestamp``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

from asyncexp.core.appconfig.rule_parser import parse_timestamp

__all__ = [
    "BAD",
    "COERCE",
    "coerce_pair",
    "equal",
    "to_boolean",
    "to_boolean_or_none",
    "to_number",
    "to_string",
    "to_timestamp",
]

BAD: Any = object()  # a value that cannot be coerced
_NUMERIC = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


def to_number(v: Any) -> Any:
    if isinstance(v, bool):
        return BAD
    if isinstance(v, int | float):
        return v
    if isinstance(v, str) and _NUMERIC.fullmatch(v):
        if v.lstrip("+-").isdigit():
            try:
                return int(v)
            except ValueError:  # past int()'s 4300-digit limit: compare as a float
                return float(v)
        return float(v)
    return BAD


def to_string(v: Any) -> Any:
    if isinstance(v, str):
        return v
    if isinstance(v, int) and not isinstance(v, bool):
        try:
            return str(v)
        except ValueError:  # more than 4300 digits: str() refuses, it matches no text
            return BAD
    return BAD


def to_boolean(v: Any) -> Any:
    if isinstance(v, bool):
        return v
    if isinstance(v, str):
        lowered = v.lower()
        if lowered in ("true", "false"):
            return lowered == "true"
    return BAD


def to_timestamp(v: Any) -> Any:
    if isinstance(v, datetime):
        return v if v.tzinfo is not None else v.replace(tzinfo=UTC)
    if isinstance(v, date):
        return datetime(v.year, v.month, v.day, tzinfo=UTC)
    if isinstance(v, str):
        parsed = parse_timestamp(v)
        return BAD if parsed is None else parsed
    return BAD


COERCE: dict[str, Callable[[Any], Any]] = {
    "string": to_string,
    "integer": to_number,
    "float": to_number,
    "boolean": to_boolean,
    "timestamp": to_timestamp,
}


def _kind_of(v: Any) -> str | None:
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, int | float):
        return "float"
    if isinstance(v, str):
        return "string"
    if isinstance(v, datetime | date):
        return "timestamp"
    return None


def coerce_pair(a: Any, b: Any) -> tuple[Any, Any]:
    """Bring two dynamic values to one type, or return ``BAD`` for either."""
    ka, kb = _kind_of(a), _kind_of(b)
    if ka is None or kb is None:
        return BAD, BAD
    if ka == "string" and kb != "string":
        return COERCE[kb](a), COERCE[kb](b)
    return COERCE[ka](a), COERCE[ka](b)


def to_boolean_or_none(v: Any) -> bool | None:
    if v is None:
        return None
    b = to_boolean(v)
    return None if b is BAD else bool(b)


def equal(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return False
    x, y = coerce_pair(a, b)
    return x is not BAD and y is not BAD and isinstance(x, bool) == isinstance(y, bool) and x == y
