"""Readers for the fields of AppConfig API responses, with the service's limits.

Each reader takes the JSON path of the value it reads and raises
:class:`~asyncexp.errors.ConfigError` naming that path. ``AttributeValue``
unions become plain typed Python values: ``str``, ``int``/``float``, ``bool``,
or a tuple of strings or of numbers.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

from asyncexp.errors import ConfigError

__all__ = [
    "MAX_ATTRIBUTES",
    "UNKNOWN_MEMBER",
    "AttributeValue",
    "join",
    "mapping",
    "number",
    "parse_attribute_values",
    "text",
    "timestamp",
    "union_member",
    "unknown_member_warning",
]

AttributeValue = str | int | float | bool | tuple[str, ...] | tuple[int | float, ...]

MAX_ATTRIBUTES = 25
MAX_ARRAY = 25
MAX_STRING_VALUE = 1024
MAX_DESCRIPTION = 1024
_ATTRIBUTE_KEY = re.compile(r"(?!enabled$)[a-z][a-zA-Z0-9_-]{0,63}")
_UNION_MEMBERS = ("StringValue", "NumberValue", "BooleanValue", "StringArray", "NumberArray")


def join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def mapping(raw: Any, path: str) -> Mapping[str, Any]:
    if not isinstance(raw, Mapping):
        raise ConfigError(f"must be an object, not {type(raw).__name__}", path)
    return raw


def text(
    obj: Mapping[str, Any],
    name: str,
    path: str,
    *,
    required: bool = False,
    pattern: re.Pattern[str] | None = None,
    max_length: int = MAX_DESCRIPTION,
) -> str:
    where = join(path, name)
    value = obj.get(name)
    if value is None:
        if required:
            raise ConfigError("is required", where)
        return ""
    if not isinstance(value, str):
        raise ConfigError(f"must be a string, not {type(value).__name__}", where)
    if len(value) > max_length:
        raise ConfigError(f"is {len(value)} characters, more than {max_length}", where)
    if pattern is not None and not pattern.fullmatch(value):
        raise ConfigError(f"{value!r} does not match {pattern.pattern}", where)
    return value


def _finite(raw: int | float) -> bool:
    try:
        return math.isfinite(raw)
    except OverflowError:  # an int beyond the float range
        return False


def number(raw: Any, path: str) -> float:
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise ConfigError(f"must be a number, not {type(raw).__name__}", path)
    if not _finite(raw):
        raise ConfigError("must be finite", path)
    return float(raw)


def timestamp(raw: Any, path: str) -> datetime | None:
    if raw is None:
        return None
    if isinstance(raw, datetime):
        return raw if raw.tzinfo is not None else raw.replace(tzinfo=UTC)
    if isinstance(raw, str):
        try:
            return timestamp(datetime.fromisoformat(raw), path)
        except ValueError:
            raise ConfigError(f"{raw!r} is not an ISO-8601 timestamp", path) from None
    if isinstance(raw, int | float) and not isinstance(raw, bool) and _finite(raw):
        try:
            return datetime.fromtimestamp(raw, UTC)
        except (ValueError, OverflowError, OSError):  # outside the years 1–9999 or time_t
            raise ConfigError("is not a representable epoch timestamp", path) from None
    raise ConfigError(f"must be a timestamp, not {type(raw).__name__}", path)


UNKNOWN_MEMBER = "SDK_UNKNOWN_MEMBER"


def union_member(raw: Any, path: str, known: tuple[str, ...]) -> tuple[str, Any]:
    """The one member set in a tagged union, as ``(name, value)``.

    A member this client does not know (boto3 reports it as
    ``SDK_UNKNOWN_MEMBER: {"name": …}``; JSON shows its own name) comes back as
    ``(UNKNOWN_MEMBER, name)`` so the caller can skip that value only: AWS adds
    union members over time. Zero or several members set is structural.
    """
    obj = mapping(raw, path)
    present = [(k, v) for k, v in obj.items() if v is not None]
    if len(present) != 1:
        raise ConfigError(f"must set exactly one of {known}, found {len(present)}", path)
    key, value = present[0]
    if key == UNKNOWN_MEMBER:
        name = value.get("name") if isinstance(value, Mapping) else value
        return UNKNOWN_MEMBER, name if isinstance(name, str) else "?"
    if key not in known:
        return UNKNOWN_MEMBER, str(key)
    return key, value


def unknown_member_warning(name: object, path: str, known: tuple[str, ...]) -> str:
    return f"{path}: unknown union member {name!r} (this client knows {known}); skipped"


def _attribute_value(raw: Any, path: str) -> AttributeValue | None:
    """The attribute's value; None when its union member is one this client does not know."""
    member, value = union_member(raw, path, _UNION_MEMBERS)
    if member == UNKNOWN_MEMBER:
        return None
    where = join(path, member)
    if member == "StringValue":
        if not isinstance(value, str):
            raise ConfigError(f"must be a string, not {type(value).__name__}", where)
        if len(value) > MAX_STRING_VALUE:
            raise ConfigError(f"is longer than {MAX_STRING_VALUE} characters", where)
        return value
    if member == "BooleanValue":
        if not isinstance(value, bool):
            raise ConfigError(f"must be a boolean, not {type(value).__name__}", where)
        return value
    if member == "NumberValue":
        number(value, where)
        return value  # type: ignore[no-any-return]  # checked: a finite int or float
    if not isinstance(value, list | tuple):
        raise ConfigError(f"must be a list, not {type(value).__name__}", where)
    if len(value) > MAX_ARRAY:
        raise ConfigError(f"has {len(value)} items, more than {MAX_ARRAY}", where)
    if member == "StringArray":
        for i, item in enumerate(value):
            if not isinstance(item, str):
                raise ConfigError("must be a string", f"{where}[{i}]")
        return tuple(value)
    for i, item in enumerate(value):
        number(item, f"{where}[{i}]")
    return tuple(value)


def parse_attribute_values(
    raw: Any, path: str, warnings: list[str] | None = None
) -> Mapping[str, AttributeValue]:
    """Parse an ``AttributeValues`` map of tagged unions into a read-only mapping.

    An attribute whose value is an unknown union member is left out, with one
    warning appended to ``warnings``.
    """
    if raw is None:
        return MappingProxyType({})
    obj = mapping(raw, path)
    if len(obj) > MAX_ATTRIBUTES:
        raise ConfigError(f"has {len(obj)} attributes, more than {MAX_ATTRIBUTES}", path)
    out: dict[str, AttributeValue] = {}
    for key, value in obj.items():
        if not isinstance(key, str) or not _ATTRIBUTE_KEY.fullmatch(key):
            raise ConfigError(
                f"attribute key {key!r} does not match the AttributeKey pattern", path
            )
        parsed = _attribute_value(value, join(path, key))
        if parsed is None:
            if warnings is not None:
                _, name = union_member(value, join(path, key), _UNION_MEMBERS)
                warnings.append(unknown_member_warning(name, join(path, key), _UNION_MEMBERS))
            continue
        out[key] = parsed
    return MappingProxyType(out)
