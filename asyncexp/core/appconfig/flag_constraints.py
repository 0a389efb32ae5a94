"""Attribute ``constraints`` of ``AWS.AppConfig.FeatureFlags`` flags, compiled once and enforced.

``flags.<key>.attributes`` holds at most 25 definitions ``{"description", "constraints"}``
named ``[a-z][a-zA-Z0-9_-]{0,63}`` (``enabled`` is reserved). A constraint is
``{"type": "number", "minimum", "maximum"}`` (inclusive integer bounds),
``{"type": "string", "pattern" | "enum"}`` (not both; the pattern is searched anywhere
in the value, as in JSON Schema, and must be in the ``safe_regex`` subset; the enum has
1 to 100 strings or integers, an integer matching its decimal text), ``{"type":
"array", "elements": <number or string constraint>}`` or ``{"type": "boolean"}``, each
with an optional boolean ``required``; other keys are refused. A present value is always
checked; a required attribute must be set on an enabled flag without variants and on
every enabled variant. Errors are ``ConfigError`` naming the path.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from asyncexp.core.appconfig.fields import AttributeValue
from asyncexp.core.appconfig.safe_regex import PatternError, SafePattern, compile_pattern
from asyncexp.errors import ConfigError

__all__ = [
    "MAX_DEFINITIONS",
    "MAX_ENUM",
    "ArrayConstraint",
    "BooleanConstraint",
    "Constraint",
    "NumberConstraint",
    "StringConstraint",
    "check_attributes",
    "parse_attribute_definitions",
]

MAX_DEFINITIONS = 25
MAX_ENUM = 100
_NAME = re.compile(r"[a-z][a-zA-Z0-9_-]{0,63}")
_KEYS = {
    "number": frozenset({"type", "required", "minimum", "maximum"}),
    "string": frozenset({"type", "required", "pattern", "enum"}),
    "array": frozenset({"type", "required", "elements"}),
    "boolean": frozenset({"type", "required"}),
}
_KINDS = {bool: "a boolean", int: "a number", float: "a number", str: "a string", tuple: "a list"}


def _kind(value: Any) -> str:
    return _KINDS.get(type(value), type(value).__name__)


def _show(value: str) -> str:
    return repr(value) if len(value) <= 60 else repr(value[:57] + "...")


@dataclass(frozen=True, slots=True)
class NumberConstraint:
    required: bool = False
    minimum: int | None = None
    maximum: int | None = None

    def check(self, value: AttributeValue, path: str) -> None:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"must be a number, not {_kind(value)}", path)
        if self.minimum is not None and value < self.minimum:
            raise ConfigError(f"{value!r} is below the minimum {self.minimum}", path)
        if self.maximum is not None and value > self.maximum:
            raise ConfigError(f"{value!r} is above the maximum {self.maximum}", path)


@dataclass(frozen=True, slots=True)
class StringConstraint:
    required: bool = False
    pattern: SafePattern | None = None
    enum: tuple[str, ...] | None = None  # integer members as their decimal text

    def check(self, value: AttributeValue, path: str) -> None:
        if not isinstance(value, str):
            raise ConfigError(f"must be a string, not {_kind(value)}", path)
        if self.pattern is not None and not (found := self.pattern.search(value)):
            why = "does not match" if found is False else "is too long to search with"
            raise ConfigError(f"{_show(value)} {why} the pattern {self.pattern.source!r}", path)
        if self.enum is not None and value not in self.enum:
            raise ConfigError(f"{_show(value)} is not one of the enum {list(self.enum)}", path)


@dataclass(frozen=True, slots=True)
class ArrayConstraint:
    required: bool = False
    elements: NumberConstraint | StringConstraint | None = None

    def check(self, value: AttributeValue, path: str) -> None:
        if not isinstance(value, tuple):  # the flag parser stores lists as tuples
            raise ConfigError(f"must be a list, not {_kind(value)}", path)
        if self.elements is not None:
            for i, item in enumerate(value):
                self.elements.check(item, f"{path}[{i}]")


@dataclass(frozen=True, slots=True)
class BooleanConstraint:
    required: bool = False

    def check(self, value: AttributeValue, path: str) -> None:
        if not isinstance(value, bool):
            raise ConfigError(f"must be a boolean, not {_kind(value)}", path)


Constraint = NumberConstraint | StringConstraint | ArrayConstraint | BooleanConstraint


def _object(raw: Any, path: str) -> Mapping[str, Any]:
    if not isinstance(raw, Mapping):
        raise ConfigError(f"must be an object, not {type(raw).__name__}", path)
    return raw


def _bound(obj: Mapping[str, Any], name: str, path: str) -> int | None:
    value = obj.get(name)
    if name in obj and (isinstance(value, bool) or not isinstance(value, int)):
        raise ConfigError(f"must be an integer, not {value!r}", f"{path}.{name}")
    return value


def _string(obj: Mapping[str, Any], path: str, required: bool) -> StringConstraint:
    if "pattern" in obj and "enum" in obj:
        raise ConfigError("has both pattern and enum; a string constraint takes one", path)
    pattern = enum = None
    if "pattern" in obj:
        if not isinstance(source := obj["pattern"], str):
            raise ConfigError(f"must be a string, not {type(source).__name__}", f"{path}.pattern")
        try:
            pattern = compile_pattern(source)
        except PatternError as exc:
            raise ConfigError(f"not in the safe regex subset: {exc}", f"{path}.pattern") from None
    if "enum" in obj:
        members = obj["enum"]
        if not isinstance(members, list) or not 1 <= len(members) <= MAX_ENUM:
            raise ConfigError(f"must be a list of 1 to {MAX_ENUM} members", f"{path}.enum")
        for i, member in enumerate(members):
            if isinstance(member, bool) or not isinstance(member, str | int):
                raise ConfigError("must be a string or an integer", f"{path}.enum[{i}]")
        enum = tuple(m if isinstance(m, str) else str(m) for m in members)
    return StringConstraint(required, pattern, enum)


def _head(raw: Any, path: str, *, element: bool) -> tuple[Mapping[str, Any], str, bool]:
    """The constraint object, its ``type`` and ``required``, after the checks common to all."""
    obj = _object(raw, path)
    kinds = ("number", "string") if element else tuple(_KEYS)
    kind = obj.get("type")
    if not isinstance(kind, str) or kind not in kinds:
        raise ConfigError(f"must be one of {', '.join(kinds)}, not {kind!r}", f"{path}.type")
    allowed = _KEYS[kind] - {"required"} if element else _KEYS[kind]
    for key in obj:
        if key not in allowed:
            what = "array elements" if element else f"{kind} constraints"
            raise ConfigError(f"is not a key of {what}", f"{path}.{key}")
    required = obj.get("required", False)
    if not isinstance(required, bool):
        raise ConfigError(f"must be a boolean, not {required!r}", f"{path}.required")
    return obj, kind, required


def _scalar(
    obj: Mapping[str, Any], kind: str, path: str, required: bool
) -> NumberConstraint | StringConstraint:
    if kind == "string":
        return _string(obj, path, required)
    low, high = _bound(obj, "minimum", path), _bound(obj, "maximum", path)
    if low is not None and high is not None and low > high:
        raise ConfigError(f"{low} is above the maximum {high}", f"{path}.minimum")
    return NumberConstraint(required, low, high)


def _constraint(raw: Any, path: str) -> Constraint:
    obj, kind, required = _head(raw, path, element=False)
    if kind == "boolean":
        return BooleanConstraint(required)
    if kind != "array":
        return _scalar(obj, kind, path, required)
    elements = None
    if "elements" in obj:
        where = f"{path}.elements"
        inner, inner_kind, _ = _head(obj["elements"], where, element=True)
        elements = _scalar(inner, inner_kind, where, False)
    return ArrayConstraint(required, elements)


def parse_attribute_definitions(raw: Any, path: str) -> Mapping[str, Constraint]:
    """Validate ``flags.<key>.attributes``; return the constraints of those that have some."""
    definitions = _object(raw, path)
    if len(definitions) > MAX_DEFINITIONS:
        raise ConfigError(f"has {len(definitions)} attributes, more than {MAX_DEFINITIONS}", path)
    out: dict[str, Constraint] = {}
    for name, definition in definitions.items():
        if name == "enabled":
            raise ConfigError("attribute name 'enabled' is reserved", path)
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise ConfigError(f"attribute name {name!r} does not match {_NAME.pattern}", path)
        where = f"{path}.{name}"
        if "constraints" in _object(definition, where):
            out[name] = _constraint(definition["constraints"], f"{where}.constraints")
    return MappingProxyType(out)


def check_attributes(
    constraints: Mapping[str, Constraint],
    values: Mapping[str, AttributeValue],
    path: str,
    *,
    enabled: bool,
) -> None:
    """Check the values at ``path`` (``enabled``: a required attribute must have a value)."""
    for name, constraint in constraints.items():
        if name in values:
            constraint.check(values[name], f"{path}.{name}")
        elif enabled and constraint.required:
            raise ConfigError("is required on an enabled flag or variant", f"{path}.{name}")
