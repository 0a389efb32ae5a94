"""Flags of an ``AWS.AppConfig.FeatureFlags`` profile, multi-variant ones included.

The stored document is ``{"version": "1", "flags": {…}, "values": {…}}``.
``parse_feature_flags`` checks its structure and compiles every variant rule
once; :meth:`FeatureFlagsDocument.evaluate` then serves a flag for a context
in-process, as the AppConfig agent would:

* a flag without ``_variants`` serves ``values.<flag>.enabled`` and its
  attribute values (a flag with no ``values`` entry is disabled);
* a multi-variant flag walks ``_variants`` **in order and the first rule that
  yields true wins**; a rule that is false or unknown (a missing context key)
  moves on; the last variant has no rule and is the default. Each variant
  carries its own ``enabled`` and ``attributeValues``;
* ``split`` without ``seed::`` is seeded with the flag key, so it is
  consistent within a flag and independent across flags.

Checks (errors are ``ConfigError`` naming the path, rule errors
``RuleSyntaxError`` with the position): ``version`` is ``"1"``; flag keys
match ``[a-z][a-zA-Z0-9_-]{0,63}``; every value belongs to a declared flag; at
most 32 variants with unique names; the default variant is last and has no
rule, every other one has a rule of at most 16384 characters; at most 25
attributes per flag or variant, each a string (≤ 1024), number, boolean, or a
list of strings or of numbers. A document given as bytes or text is limited to
``MAX_DOCUMENT_BYTES``. Attribute ``constraints`` declared in
``flags.<key>.attributes`` are enforced here, on the flag's values and on every
variant's ``attributeValues`` (rules in ``flag_constraints``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import orjson

from asyncexp.core.appconfig.flag_constraints import check_attributes, parse_attribute_definitions
from asyncexp.core.appconfig.rule_eval import Rule, compile_rule
from asyncexp.core.appconfig.run import AttributeValue
from asyncexp.errors import ConfigError

__all__ = [
    "MAX_DOCUMENT_BYTES",
    "FeatureFlagsDocument",
    "FlagDefinition",
    "FlagEvaluation",
    "Variant",
    "parse_feature_flags",
]

MAX_DOCUMENT_BYTES = 4 * 1024 * 1024
MAX_VARIANTS = 32
MAX_ATTRIBUTES = 25
MAX_STRING = 1024
_FLAG_KEY = re.compile(r"[a-z][a-zA-Z0-9_-]{0,63}")
_RESERVED = frozenset({"enabled", "_variants", "_createdAt", "_updatedAt"})


@dataclass(frozen=True, slots=True)
class Variant:
    name: str
    enabled: bool
    attributes: Mapping[str, AttributeValue]
    rule: Rule | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class FlagDefinition:
    key: str
    name: str
    enabled: bool
    attributes: Mapping[str, AttributeValue]
    variants: tuple[Variant, ...] = ()


@dataclass(frozen=True, slots=True)
class FlagEvaluation:
    """A served flag: ``variant`` is the variant's name for multi-variant flags."""

    flag_key: str
    enabled: bool
    attributes: Mapping[str, AttributeValue]
    variant: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """The agent's retrieved form: attributes only when enabled, plus ``_variant``."""
        out: dict[str, Any] = {"enabled": self.enabled}
        if self.enabled:
            out.update(
                (k, list(v) if isinstance(v, tuple) else v) for k, v in self.attributes.items()
            )
        if self.variant is not None:
            out["_variant"] = self.variant
        return out


@dataclass(frozen=True, slots=True)
class FeatureFlagsDocument:
    flags: Mapping[str, FlagDefinition]

    def evaluate(self, flag_key: str, context: Mapping[str, Any]) -> FlagEvaluation | None:
        """Serve ``flag_key`` for ``context``; ``None`` if the document has no such flag."""
        flag = self.flags.get(flag_key)
        if flag is None:
            return None
        if not flag.variants:
            return FlagEvaluation(flag_key, flag.enabled, flag.attributes)
        for variant in flag.variants:
            if variant.rule is None or variant.rule.evaluate(context) is True:
                return FlagEvaluation(flag_key, variant.enabled, variant.attributes, variant.name)
        raise AssertionError("the parser guarantees a default variant")  # pragma: no cover

    def evaluate_all(self, context: Mapping[str, Any]) -> dict[str, FlagEvaluation]:
        return {key: e for key in self.flags if (e := self.evaluate(key, context)) is not None}


def _attribute(raw: Any, path: str) -> AttributeValue:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, int | float):
        if not math.isfinite(raw):
            raise ConfigError("must be a finite number", path)
        return raw
    if isinstance(raw, str):
        if len(raw) > MAX_STRING:
            raise ConfigError(f"is longer than {MAX_STRING} characters", path)
        return raw
    if isinstance(raw, list):
        if all(isinstance(x, str) for x in raw):
            return tuple(raw)
        if all(isinstance(x, int | float) and not isinstance(x, bool) for x in raw):
            return tuple(raw)
        raise ConfigError("a list must hold only strings or only numbers", path)
    raise ConfigError(f"must be a string, number, boolean or list, not {type(raw).__name__}", path)


def _attributes(items: Mapping[str, Any], path: str) -> Mapping[str, AttributeValue]:
    if len(items) > MAX_ATTRIBUTES:
        raise ConfigError(f"has {len(items)} attributes, more than {MAX_ATTRIBUTES}", path)
    return MappingProxyType({k: _attribute(v, f"{path}.{k}") for k, v in items.items()})


def _object(raw: Any, path: str) -> Mapping[str, Any]:
    if not isinstance(raw, Mapping):
        raise ConfigError(f"must be an object, not {type(raw).__name__}", path)
    return raw


def _enabled(obj: Mapping[str, Any], path: str, *, required: bool) -> bool:
    value = obj.get("enabled")
    if value is None and not required:
        return False
    if not isinstance(value, bool):
        raise ConfigError("must be a boolean", f"{path}.enabled")
    return value


def _variants(raw: Any, flag_key: str, path: str) -> tuple[Variant, ...]:
    if not isinstance(raw, list) or not raw:
        raise ConfigError("must be a non-empty list", path)
    if len(raw) > MAX_VARIANTS:
        raise ConfigError(f"has {len(raw)} variants, more than {MAX_VARIANTS}", path)
    variants: list[Variant] = []
    for i, item in enumerate(raw):
        where = f"{path}[{i}]"
        obj = _object(item, where)
        name = obj.get("name")
        if not isinstance(name, str) or not name:
            raise ConfigError("is required and must be a non-empty string", f"{where}.name")
        if any(v.name == name for v in variants):
            raise ConfigError(f"variant name {name!r} is used twice", f"{where}.name")
        rule_text = obj.get("rule")
        last = i == len(raw) - 1
        if last and rule_text is not None:
            raise ConfigError("the default variant must be last and have no rule", f"{where}.rule")
        if not last and not isinstance(rule_text, str):
            raise ConfigError("every variant but the last (default) needs a rule", f"{where}.rule")
        rule = None
        if rule_text is not None:
            rule = compile_rule(rule_text, path=f"{where}.rule", default_seed=flag_key)
        attrs = _object(obj.get("attributeValues") or {}, f"{where}.attributeValues")
        enabled = _enabled(obj, where, required=True)
        variants.append(
            Variant(name, enabled, _attributes(attrs, f"{where}.attributeValues"), rule)
        )
    return tuple(variants)


def parse_feature_flags(document: Mapping[str, Any] | bytes | str) -> FeatureFlagsDocument:
    """Validate an ``AWS.AppConfig.FeatureFlags`` document and compile its variant rules."""
    if isinstance(document, bytes | str):
        size = len(document.encode() if isinstance(document, str) else document)
        if size > MAX_DOCUMENT_BYTES:
            raise ConfigError(f"document is {size} bytes, more than {MAX_DOCUMENT_BYTES}")
        try:
            document = orjson.loads(document)
        except orjson.JSONDecodeError as exc:
            raise ConfigError(f"document is not JSON: {exc}") from None
    root = _object(document, "")
    if root.get("version") != "1":
        raise ConfigError(f'must be "1", not {root.get("version")!r}', "version")
    declared = _object(root.get("flags", {}), "flags")
    values = _object(root.get("values", {}), "values")
    for key in values:
        if key not in declared:
            raise ConfigError(
                "has a value for a flag that is not declared in flags", f"values.{key}"
            )
    flags: dict[str, FlagDefinition] = {}
    for key, raw_flag in declared.items():
        if not isinstance(key, str) or not _FLAG_KEY.fullmatch(key):
            raise ConfigError(f"flag key {key!r} does not match {_FLAG_KEY.pattern}", "flags")
        meta = _object(raw_flag, f"flags.{key}")
        name = meta.get("name", key)
        constraints = parse_attribute_definitions(
            meta.get("attributes", {}), f"flags.{key}.attributes"
        )
        path = f"values.{key}"
        value = _object(values.get(key, {}), path)
        plain = {k: v for k, v in value.items() if k not in _RESERVED}
        variants: tuple[Variant, ...] = ()
        if value.get("_variants") is not None:
            variants = _variants(value["_variants"], key, f"{path}._variants")
        flag = FlagDefinition(
            key=key,
            name=name if isinstance(name, str) else key,
            enabled=_enabled(value, path, required=False),
            attributes=_attributes(plain, path),
            variants=variants,
        )
        check_attributes(constraints, flag.attributes, path, enabled=flag.enabled and not variants)
        for i, variant in enumerate(variants):
            where = f"{path}._variants[{i}].attributeValues"
            check_attributes(constraints, variant.attributes, where, enabled=variant.enabled)
        flags[key] = flag
    return FeatureFlagsDocument(MappingProxyType(flags))
