"""The immutable, indexed entities a datafile turns into.

Everything a decision needs is computed once at load: condition trees are
compiled to evaluators, traffic allocations become ``(end, entity_id)`` tuples,
and every variation's variables are cast once. JSON variables are kept as text
and decoded per decision, so callers can mutate what they get without touching
the shared config.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

import orjson

__all__ = [
    "Attribute",
    "Audience",
    "Event",
    "FeatureFlag",
    "Group",
    "Rule",
    "RuleKind",
    "VariableDef",
    "VariableValues",
    "Variation",
    "cast_variable",
]

Evaluator = Callable[[Mapping[str, object], "Collection[str] | None"], "bool | None"]
RuleKind = Literal["experiment", "rollout", "holdout"]


@dataclass(frozen=True, slots=True)
class Attribute:
    id: str
    key: str


@dataclass(frozen=True, slots=True)
class Audience:
    id: str
    name: str
    text: str | None  # the conditions text of a legacy audience, None for a typed one
    tree: Any = field(repr=False)
    evaluate: Evaluator = field(repr=False, compare=False)

    @property
    def conditions(self) -> str:
        """The conditions as text; typed ones serialised like the reference (json.dumps),
        on demand rather than at load."""
        return self.text if self.text is not None else json.dumps(self.tree)


@dataclass(frozen=True, slots=True)
class Event:
    id: str
    key: str
    experiment_ids: tuple[str, ...]


class VariableDef(NamedTuple):
    id: str
    key: str
    type: str  # boolean | integer | double | string | json (string+subType json → json)
    default_value: str
    declared_type: str
    sub_type: str | None


class Variation(NamedTuple):
    id: str
    key: str
    feature_enabled: bool | None
    values: Mapping[str, str]  # variable id → raw string value


def cast_variable(value: str, var_type: str) -> Any:
    """Cast a raw variable string; returns None when the cast fails (as the reference)."""
    try:
        if var_type == "boolean":
            return value == "true"
        if var_type == "integer":
            return int(value)
        if var_type == "double":
            return float(value)
        if var_type == "json":
            return _loads(value)
    except (ValueError, TypeError, RecursionError):
        return None
    return value


_BIG_INT = re.compile(r"\d{19}")


def _needs_stdlib(text: str) -> bool | None:
    """Which decoder reproduces the reference (the stdlib) for ``text``: False for
    orjson, True when only the stdlib gets it right (NaN/Infinity, very deep nesting,
    integers beyond 64 bits, which orjson turns into floats), None when neither
    decodes it (the variable is then None). Decided once, at load."""
    try:
        orjson.loads(text)
    except orjson.JSONDecodeError:
        try:
            json.loads(text)
        except (ValueError, RecursionError):
            return None
        return True
    if len(text) > 1000:  # deep enough to hit the stdlib's recursion limit?
        try:
            json.loads(text)
        except RecursionError:
            return None
    return _BIG_INT.search(text) is not None


def _loads(text: str) -> Any:
    # The stdlib decoder is the reference's: it accepts NaN/Infinity and keeps big ints.
    return json.loads(text)


@dataclass(frozen=True, slots=True)
class VariableValues:
    """Cast variables for one variation: plain values plus JSON texts decoded per use."""

    static: Mapping[str, Any]
    json_texts: tuple[tuple[str, str, bool], ...]  # (key, text, needs the stdlib decoder)

    def materialize(self) -> dict[str, Any]:
        out = dict(self.static)
        if not self.json_texts:
            return out
        for key, text, stdlib in self.json_texts:
            try:
                out[key] = json.loads(text) if stdlib else orjson.loads(text)
            except (ValueError, RecursionError):
                out[key] = None
        return out

    @classmethod
    def build(cls, defs: tuple[VariableDef, ...], values: Mapping[str, str]) -> VariableValues:
        static: dict[str, Any] = {}
        json_texts: list[tuple[str, str, bool]] = []
        for var in defs:
            raw = values.get(var.id, var.default_value)
            if var.type == "json":
                static[var.key] = None  # keeps the definition order of keys
                stdlib = _needs_stdlib(raw)
                if stdlib is not None:
                    json_texts.append((var.key, raw, stdlib))
            else:
                static[var.key] = cast_variable(raw, var.type)
        return cls(static, tuple(json_texts))


class Rule(NamedTuple):
    """An experiment rule, a delivery (rollout) rule or a holdout.

    Immutable like every entity here; a NamedTuple rather than a frozen dataclass
    because a datafile has hundreds of rules and frozen dataclasses pay an
    ``object.__setattr__`` per field at construction (a tenth of the parse time).
    """

    id: str
    key: str
    kind: RuleKind
    status: str
    layer_id: str
    type: str | None
    audience_ids: tuple[str, ...]
    audience_conditions: Any
    variations: tuple[Variation, ...]
    variations_by_id: Mapping[str, Variation]
    variations_by_key: Mapping[str, Variation]
    traffic: tuple[tuple[int, str], ...]
    forced_variations: Mapping[str, str]
    audience: Evaluator
    audience_tree: Any  # what the audience reasons show
    group_id: str | None = None
    group_policy: str | None = None
    cmab: Mapping[str, Any] | None = None
    included_rules: tuple[str, ...] = ()
    exclude_targeted_deliveries: bool = False

    def __repr__(self) -> str:
        return f"Rule(id={self.id!r}, key={self.key!r}, kind={self.kind!r})"

    def __eq__(self, other: object) -> bool:
        return self is other

    def __ne__(self, other: object) -> bool:
        return self is not other

    def __hash__(self) -> int:
        return id(self)

    @property
    def is_running(self) -> bool:
        return self.status == "Running"

    @property
    def audience_log(self) -> str:
        """The conditions as the reasons print them; built only when reasons are asked for."""
        return json.dumps(self.audience_tree)


@dataclass(frozen=True, slots=True)
class Group:
    id: str
    policy: str
    traffic: tuple[tuple[int, str], ...]
    experiment_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class FeatureFlag:
    id: str
    key: str
    rollout_id: str
    experiment_ids: tuple[str, ...]
    variables: tuple[VariableDef, ...]
    experiments: tuple[Rule, ...]  # resolved, in experimentIds order
    rollout_rules: tuple[Rule, ...]
    rollout_found: bool
    variations_by_key: Mapping[str, Variation] = field(repr=False)
    variations_by_id: Mapping[str, Variation] = field(repr=False)
    # Cast variables per variation id (None = defaults), filled on first use: most of a
    # flag's variations are never decided in a process, and casting all of them at
    # load was a quarter of the parse time. Only this memo is ever written.
    _values: dict[str | None, VariableValues] = field(
        default_factory=dict, repr=False, compare=False, init=False
    )

    def variable_values(self, variation: Variation | None) -> VariableValues:
        """The cast variables of a decision (shared, immutable): the variation's when it
        is enabled, else the defaults."""
        key: str | None = None
        source: Variation | None = None
        if variation is not None and variation.feature_enabled:
            key = variation.id
            # The flag's variation with this id holds the values (last listing wins, as in
            # the reference); a holdout variation is not among them and uses its own.
            source = self.variations_by_id.get(key, variation)
        cached = self._values.get(key)
        if cached is None:
            cached = VariableValues.build(self.variables, source.values if source else {})
            self._values[key] = cached
        return cached

    def values_for(self, variation: Variation | None) -> dict[str, Any]:
        """Variables of a decision as a new dict (see ``variable_values``)."""
        return self.variable_values(variation).materialize()
