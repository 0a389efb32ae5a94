"""``DatafileBuilder``: describe flags in a test, get a valid Optimizely datafile.

    builder = DatafileBuilder(revision="1")
    us = builder.audience("US", ["and", {"type": "custom_attribute", "name": "country",
                                         "match": "exact", "value": "US"}])
    flag = builder.flag("checkout")
    flag.variable("label", "plain")                          # string, from the default
    flag.variation("off", enabled=False)
    flag.variation("on", enabled=True, variables={"label": "new"})
    flag.experiment("checkout_test", split={"off": 1, "on": 1}, audiences=[us])
    flag.rollout_rule("us_only", "on", percent=50, audiences=[us])
    flag.everyone_else("off")
    client = Client(datafile=builder.build(), collector=CapturingCollector())

Rules:

* Ids are readable and deterministic: ``<kind>_<key>`` (``flag_checkout``,
  ``rule_checkout_test``, ``var_checkout_on``, ``aud_US``…), so a test can
  compute buckets with ``bucket_value(user_id + rule_id)``; :meth:`DatafileBuilder.rule_id`
  returns a rule's id.
* Variable types come from the default value: ``bool`` → boolean, ``int`` →
  integer, ``float`` → double, ``str`` → string, ``dict``/``list`` → json
  (``type=`` overrides). A variation's values must have the declared type, or
  :class:`~asyncexp.errors.ConfigError` is raised when it is given.
* Traffic: ``percent`` (0–100, rule level) is the share of users the rule takes;
  an experiment's ``split`` divides it between variations by relative weight
  (the last one takes the rounding rest). In the datafile both become one
  ``trafficAllocation`` in basis points (10000 = 100 %).
* Audiences: ``audiences=[id, …]`` means "any of them" (``["or", …]``);
  ``conditions=`` takes an Optimizely audience-conditions tree of ids instead
  (``["and", a, ["not", b]]``). Audience ``conditions`` are an Optimizely
  condition tree (typed audiences, as ``typedAudiences``).
* Every flag gets an "Everyone Else" rollout rule (the last one): the one
  :meth:`FlagBuilder.everyone_else` set, else one that serves nobody, so users
  no rule takes get the flag's defaults (not enabled).
* Holdouts without ``rules=`` are global (``holdouts``), with ``rules=`` local
  (``localHoldouts`` with ``includedRules``). Each has one disabled variation, ``off``.
* :meth:`DatafileBuilder.build` checks references (variation, audience and rule
  keys) and returns a fresh ``dict``; :meth:`DatafileBuilder.to_json` its text.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

from asyncexp.errors import ConfigError

__all__ = [
    "AudienceConditions",
    "DatafileBuilder",
    "FlagBuilder",
    "VariableType",
    "VariableValue",
]

VariableType: TypeAlias = Literal["boolean", "integer", "double", "string", "json"]
VariableValue: TypeAlias = bool | int | float | str | Mapping[str, Any] | Sequence[Any]
# an Optimizely audience-conditions tree: "and"/"or"/"not" lists of audience ids
AudienceConditions: TypeAlias = Sequence[Any] | str

MAX_TRAFFIC = 10000


def _infer_type(value: VariableValue) -> VariableType:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "double"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping | list | tuple):
        return "json"
    raise ConfigError(f"unsupported variable value {type(value).__name__}")


def _encode(kind: VariableType, value: VariableValue, what: str) -> str:
    """The datafile's string form of ``value``, checked against ``kind``."""
    ok = {
        "boolean": isinstance(value, bool),
        "integer": isinstance(value, int) and not isinstance(value, bool),
        "double": isinstance(value, int | float) and not isinstance(value, bool),
        "string": isinstance(value, str),
        "json": isinstance(value, Mapping | list | tuple | str),
    }[kind]
    if not ok:
        raise ConfigError(f"{what}: {value!r} is not a {kind} value")
    if kind == "boolean":
        return "true" if value else "false"
    if kind in ("integer", "double"):
        return repr(value) if isinstance(value, float) else str(value)
    if kind == "json" and not isinstance(value, str):
        return json.dumps(value)
    assert isinstance(value, str)
    return value


def _percent(value: float, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 100:
        raise ConfigError(f"{what}: percent must be a number from 0 to 100, not {value!r}")
    return round(value * MAX_TRAFFIC / 100)


def _conditions(
    audiences: Sequence[str] | None, conditions: AudienceConditions | None, what: str
) -> tuple[list[str], Any]:
    if audiences is not None and conditions is not None:
        raise ConfigError(f"{what}: give audiences= or conditions=, not both")
    if conditions is not None:
        ids: list[str] = []

        def walk(node: Any) -> None:
            if isinstance(node, str):
                if node not in ("and", "or", "not"):
                    ids.append(node)
            elif isinstance(node, list | tuple):
                for child in node:
                    walk(child)

        walk(conditions)
        return ids, json.loads(json.dumps(conditions))
    ids = list(audiences or [])
    return ids, (["or", *ids] if ids else [])


@dataclass
class _Variable:
    key: str
    type: VariableType
    default: str


@dataclass
class _Variation:
    key: str
    enabled: bool
    values: dict[str, str]


@dataclass
class _Rule:
    key: str
    kind: Literal["experiment", "rollout"]
    allocation: list[tuple[str, int]]  # (variation key, end of range)
    audience_ids: list[str]
    conditions: Any
    status: str = "Running"
    forced: dict[str, str] = field(default_factory=dict)


@dataclass
class _Holdout:
    key: str
    traffic: int
    audience_ids: list[str]
    conditions: Any
    rules: list[str] | None
    exclude_targeted_deliveries: bool


class FlagBuilder:
    """One flag: variables, variations, experiments and delivery rules, in order."""

    def __init__(self, key: str) -> None:
        self.key = key
        self._variables: dict[str, _Variable] = {}
        self._variations: dict[str, _Variation] = {}
        self._experiments: list[_Rule] = []
        self._rollout: list[_Rule] = []
        self._everyone_else: _Rule | None = None

    @property
    def id(self) -> str:
        return f"flag_{self.key}"

    def variable(
        self, key: str, default: VariableValue, *, type: VariableType | None = None
    ) -> FlagBuilder:
        """Declare a variable; its type comes from ``default`` unless ``type`` says."""
        if key in self._variables:
            raise ConfigError(f"flag {self.key!r}: variable {key!r} declared twice")
        kind = type or _infer_type(default)
        what = f"flag {self.key!r} variable {key!r}"
        self._variables[key] = _Variable(key, kind, _encode(kind, default, what))
        return self

    def variation(
        self,
        key: str,
        *,
        enabled: bool = True,
        variables: Mapping[str, VariableValue] | None = None,
    ) -> FlagBuilder:
        """Declare a variation; ``variables`` override the defaults of declared variables."""
        if key in self._variations:
            raise ConfigError(f"flag {self.key!r}: variation {key!r} declared twice")
        values: dict[str, str] = {}
        for name, value in (variables or {}).items():
            declared = self._variables.get(name)
            if declared is None:
                raise ConfigError(f"flag {self.key!r} variation {key!r}: no variable {name!r}")
            what = f"flag {self.key!r} variation {key!r} variable {name!r}"
            values[name] = _encode(declared.type, value, what)
        self._variations[key] = _Variation(key, enabled, values)
        return self

    def experiment(
        self,
        key: str,
        *,
        split: Mapping[str, float],
        percent: float = 100,
        audiences: Sequence[str] | None = None,
        conditions: AudienceConditions | None = None,
        status: Literal["Running", "Paused", "Not started", "Archived"] = "Running",
        forced: Mapping[str, str] | None = None,
    ) -> FlagBuilder:
        """An A/B rule: ``percent`` of users, divided by the relative weights of ``split``;
        ``forced`` maps user ids to variation keys (whitelisting)."""
        what = f"flag {self.key!r} experiment {key!r}"
        total = _percent(percent, what)
        weights = dict(split)
        if not weights or any(w < 0 for w in weights.values()) or sum(weights.values()) <= 0:
            raise ConfigError(f"{what}: split needs positive weights")
        scale = sum(weights.values())
        allocation: list[tuple[str, int]] = []
        running = 0.0
        for i, (variation, weight) in enumerate(weights.items()):
            running += weight
            end = total if i == len(weights) - 1 else round(total * running / scale)
            allocation.append((variation, end))
        ids, tree = _conditions(audiences, conditions, what)
        rule = _Rule(key, "experiment", allocation, ids, tree, status, dict(forced or {}))
        self._experiments.append(rule)
        return self

    def rollout_rule(
        self,
        key: str,
        variation: str,
        *,
        percent: float = 100,
        audiences: Sequence[str] | None = None,
        conditions: AudienceConditions | None = None,
    ) -> FlagBuilder:
        """A targeted delivery rule serving ``variation`` to ``percent`` of its audience."""
        what = f"flag {self.key!r} rule {key!r}"
        ids, tree = _conditions(audiences, conditions, what)
        end = _percent(percent, what)
        self._rollout.append(_Rule(key, "rollout", [(variation, end)], ids, tree))
        return self

    def everyone_else(self, variation: str, *, percent: float = 100) -> FlagBuilder:
        """The last delivery rule ("Everyone Else"), with no audience."""
        end = _percent(percent, f"flag {self.key!r} everyone else")
        self._everyone_else = _Rule(
            f"everyone_else_{self.key}", "rollout", [(variation, end)], [], []
        )
        return self

    def serve(self, variation: str) -> FlagBuilder:
        """Shorthand: everyone gets ``variation`` (the Everyone Else rule at 100 %)."""
        return self.everyone_else(variation)

    def _rules(self) -> list[_Rule]:
        return [*self._experiments, *self._rollout, *self._ee_list()]

    def _ee_list(self) -> list[_Rule]:
        if self._everyone_else is not None:
            return [self._everyone_else]
        return [_Rule(f"everyone_else_{self.key}", "rollout", [], [], [])]


class DatafileBuilder:
    """A whole datafile: attributes, audiences, events, flags and holdouts."""

    def __init__(
        self,
        *,
        revision: str = "1",
        project_id: str = "project",
        account_id: str = "account",
        sdk_key: str | None = "test-sdk-key",
        environment_key: str = "production",
        send_flag_decisions: bool = True,
        bot_filtering: bool | None = None,
        anonymize_ip: bool = False,
    ) -> None:
        self.revision = revision
        self._top: dict[str, Any] = {
            "version": "4",
            "accountId": account_id,
            "projectId": project_id,
            "sdkKey": sdk_key,
            "environmentKey": environment_key,
            "sendFlagDecisions": send_flag_decisions,
            "anonymizeIP": anonymize_ip,
        }
        if bot_filtering is not None:
            self._top["botFiltering"] = bot_filtering
        self._attributes: list[str] = []
        self._audiences: dict[str, Any] = {}
        self._events: dict[str, list[str]] = {}
        self._flags: dict[str, FlagBuilder] = {}
        self._holdouts: list[_Holdout] = []

    def attribute(self, key: str) -> str:
        """Declare an attribute (audiences declare theirs); returns its key."""
        if key not in self._attributes:
            self._attributes.append(key)
        return key

    def audience(self, name: str, conditions: Sequence[Any] | Mapping[str, Any]) -> str:
        """A typed audience over an Optimizely condition tree; returns its id.
        The ``custom_attribute`` names it uses are declared as attributes."""
        audience_id = f"aud_{name}"
        if audience_id in self._audiences:
            raise ConfigError(f"audience {name!r} declared twice")
        tree = json.loads(json.dumps(conditions))

        def walk(node: Any) -> None:
            if isinstance(node, dict):
                if node.get("type") == "custom_attribute" and isinstance(node.get("name"), str):
                    self.attribute(node["name"])
            elif isinstance(node, list):
                for child in node:
                    walk(child)

        walk(tree)
        self._audiences[audience_id] = {"id": audience_id, "name": name, "conditions": tree}
        return audience_id

    def event(self, key: str, *, experiments: Sequence[str] = ()) -> str:
        """A conversion event; ``experiments`` are experiment rule keys. Returns its key."""
        self._events[key] = list(experiments)
        return key

    def flag(self, key: str) -> FlagBuilder:
        """A new flag (``ConfigError`` if the key is taken); configure the returned builder."""
        if key in self._flags:
            raise ConfigError(f"flag {key!r} declared twice")
        builder = self._flags[key] = FlagBuilder(key)
        return builder

    def holdout(
        self,
        key: str,
        *,
        percent: float = 100,
        audiences: Sequence[str] | None = None,
        conditions: AudienceConditions | None = None,
        rules: Sequence[str] | None = None,
        exclude_targeted_deliveries: bool = False,
    ) -> DatafileBuilder:
        """A running holdout of ``percent`` of users; global, or local to ``rules`` (keys)."""
        what = f"holdout {key!r}"
        ids, tree = _conditions(audiences, conditions, what)
        self._holdouts.append(
            _Holdout(
                key,
                _percent(percent, what),
                ids,
                tree,
                list(rules) if rules is not None else None,
                exclude_targeted_deliveries,
            )
        )
        return self

    @staticmethod
    def rule_id(rule_key: str) -> str:
        """The id a rule (experiment, delivery rule or holdout) of this key gets."""
        return f"rule_{rule_key}"

    # -- output -------------------------------------------------------------
    def build(self) -> dict[str, Any]:
        """The datafile as a fresh dict; ``ConfigError`` names a dangling reference."""
        rule_keys: dict[str, str] = {}
        experiments: list[dict[str, Any]] = []
        rollouts: list[dict[str, Any]] = []
        flags: list[dict[str, Any]] = []
        for flag in self._flags.values():
            experiment_ids: list[str] = []
            rollout_rules: list[dict[str, Any]] = []
            rollout_id = f"rollout_{flag.key}"
            for rule in flag._rules():
                if rule.key in rule_keys:
                    raise ConfigError(f"rule key {rule.key!r} used twice")
                rule_keys[rule.key] = flag.key
                layer = f"layer_{rule.key}" if rule.kind == "experiment" else rollout_id
                entry = self._rule(flag, rule, layer)
                if rule.kind == "experiment":
                    experiments.append(entry)
                    experiment_ids.append(entry["id"])
                else:
                    rollout_rules.append(entry)
            rollouts.append({"id": rollout_id, "experiments": rollout_rules})
            flags.append(
                {
                    "id": flag.id,
                    "key": flag.key,
                    "rolloutId": rollout_id,
                    "experimentIds": experiment_ids,
                    "variables": [
                        {
                            "id": f"varid_{flag.key}_{v.key}",
                            "key": v.key,
                            "type": v.type,
                            "defaultValue": v.default,
                        }
                        for v in flag._variables.values()
                    ],
                }
            )
        doc: dict[str, Any] = {
            **self._top,
            "revision": self.revision,
            "attributes": [{"id": f"attr_{k}", "key": k} for k in self._attributes],
            "audiences": [
                # legacy entries for the typed ones, as Optimizely's own datafiles have
                {
                    "id": a["id"],
                    "name": a["name"],
                    "conditions": '["or", {"match": "exact", '
                    '"name": "$opt_dummy_attribute", "type": "custom_attribute", '
                    '"value": "$opt_dummy_value"}]',
                }
                for a in self._audiences.values()
            ],
            "typedAudiences": [dict(a) for a in self._audiences.values()],
            "events": [],
            "experiments": experiments,
            "groups": [],
            "featureFlags": flags,
            "rollouts": rollouts,
            "integrations": [],
            "holdouts": [],
            "localHoldouts": [],
        }
        for key, exp_keys in self._events.items():
            for exp in exp_keys:
                if exp not in rule_keys:
                    raise ConfigError(f"event {key!r}: no experiment {exp!r}")
            doc["events"].append(
                {
                    "id": f"event_{key}",
                    "key": key,
                    "experimentIds": [self.rule_id(e) for e in exp_keys],
                }
            )
        for holdout in self._holdouts:
            self._check_audiences(holdout.audience_ids, f"holdout {holdout.key!r}")
            hid = self.rule_id(holdout.key)
            held: dict[str, Any] = {
                "id": hid,
                "key": holdout.key,
                "status": "Running",
                "audienceIds": holdout.audience_ids,
                "audienceConditions": holdout.conditions,
                "variations": [
                    {"id": f"{hid}_off", "key": "off", "featureEnabled": False, "variables": []}
                ],
                "trafficAllocation": [{"entityId": f"{hid}_off", "endOfRange": holdout.traffic}],
            }
            if holdout.exclude_targeted_deliveries:
                held["excludeTargetedDeliveries"] = True
            if holdout.rules is None:
                doc["holdouts"].append(held)
                continue
            for rule_key in holdout.rules:
                if rule_key not in rule_keys:
                    raise ConfigError(f"holdout {holdout.key!r}: no rule {rule_key!r}")
            held["includedRules"] = [self.rule_id(k) for k in holdout.rules]
            doc["localHoldouts"].append(held)
        return doc

    def to_json(self) -> str:
        """The datafile as JSON text."""
        return json.dumps(self.build())

    def _check_audiences(self, ids: Sequence[str], what: str) -> None:
        for audience_id in ids:
            if audience_id not in self._audiences:
                raise ConfigError(f"{what}: no audience {audience_id!r}")

    def _rule(self, flag: FlagBuilder, rule: _Rule, layer: str) -> dict[str, Any]:
        what = f"flag {flag.key!r} rule {rule.key!r}"
        self._check_audiences(rule.audience_ids, what)
        used: list[str] = []
        for variation, _ in rule.allocation:
            if variation not in flag._variations:
                raise ConfigError(f"{what}: no variation {variation!r}")
            if variation not in used:
                used.append(variation)
        for user, variation in rule.forced.items():
            if variation not in flag._variations:
                raise ConfigError(f"{what}: user {user!r} forced into unknown {variation!r}")
            if variation not in used:
                used.append(variation)

        def vid(key: str) -> str:
            return f"var_{flag.key}_{key}"

        entry: dict[str, Any] = {
            "id": self.rule_id(rule.key),
            "key": rule.key,
            "status": rule.status,
            "layerId": layer,
            "audienceIds": rule.audience_ids,
            "audienceConditions": rule.conditions,
            "variations": [
                {
                    "id": vid(key),
                    "key": key,
                    "featureEnabled": flag._variations[key].enabled,
                    "variables": [
                        {"id": f"varid_{flag.key}_{name}", "value": value}
                        for name, value in flag._variations[key].values.items()
                    ],
                }
                for key in used
            ],
            "trafficAllocation": [
                {"entityId": vid(key), "endOfRange": end} for key, end in rule.allocation
            ],
            "forcedVariations": dict(rule.forced),
        }
        if rule.kind == "experiment":
            entry["type"] = "ab"
        return entry
