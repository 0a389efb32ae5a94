"""Build ``Rule``, ``Variation`` and ``FeatureFlag`` entities from datafile JSON.

Rules kept here (datafile v2–v4, Optimizely 5.7 semantics):

* A rule uses ``audienceConditions`` when the key is present and not null (an
  empty list included), else ``audienceIds``; ``None``/``[]`` lets everyone in.
* Traffic ranges whose ``endOfRange`` is missing are skipped at lookup, so they
  are dropped here once.
* A flag's variations are every variation of its experiment and delivery
  rules, de-duplicated by id; forced decisions are checked against them.
* Feature Rollout (``type: "fr"``) rules get the flag's "everyone else"
  variation (first variation of the last delivery rule) appended with a
  ``{entityId, endOfRange: 10000}`` range, without touching the caller's dicts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from asyncexp.core.flags.conditions import compile_audience_tree
from asyncexp.core.flags.entities import (
    Evaluator,
    FeatureFlag,
    Rule,
    RuleKind,
    VariableDef,
    Variation,
)
from asyncexp.core.flags.json_input import (
    opt_bool,
    opt_str,
    req_int,
    req_list,
    req_obj,
    req_str,
    str_list,
)
from asyncexp.errors import ConfigError

__all__ = ["build_flag", "build_rule", "build_traffic", "build_variation", "inject_fr_variation"]

_VARIABLE_TYPES = frozenset({"boolean", "integer", "double", "string", "json"})
# NamedTuple entities built positionally without their generated ``__new__``.
_new_tuple = tuple.__new__


def build_variation(raw: object, path: str) -> Variation:
    obj = req_obj(raw, path)
    values: dict[str, str] = {}
    for i, item in enumerate(req_list(obj, "variables", path, required=False)):
        # Fast path for well-formed items; the path-aware readers only run to explain an error.
        if type(item) is dict:
            vid, value = item.get("id"), item.get("value")
            if type(vid) is str and type(value) is str:
                values[vid] = value
                continue
        ipath = f"{path}.variables[{i}]"
        var = req_obj(item, ipath)
        values[req_str(var, "id", ipath)] = req_str(var, "value", ipath)
    return Variation(
        id=req_str(obj, "id", path),
        key=req_str(obj, "key", path),
        feature_enabled=opt_bool(obj, "featureEnabled", path),
        values=values,
    )


def _variation_fast(raw: object) -> Variation | None:
    """A well-formed variation built without paths; None sends it to ``build_variation``
    (which then finds and names the problem)."""
    if type(raw) is not dict:
        return None
    vid, key, enabled = raw.get("id"), raw.get("key"), raw.get("featureEnabled")
    if type(vid) is not str or type(key) is not str:
        return None
    if enabled is not None and enabled is not True and enabled is not False:
        return None
    values: dict[str, str] = {}
    items = raw.get("variables")
    if items is not None:
        if type(items) is not list:
            return None
        for item in items:
            if type(item) is not dict:
                return None
            item_id, value = item.get("id"), item.get("value")
            if type(item_id) is not str or type(value) is not str:
                return None
            values[item_id] = value
    variation: Variation = _new_tuple(Variation, (vid, key, enabled, values))
    return variation


def build_traffic(items: list[Any], path: str) -> tuple[tuple[int, str], ...]:
    out: list[tuple[int, str]] = []
    for i, item in enumerate(items):
        if type(item) is dict:
            entity, end = item.get("entityId"), item.get("endOfRange")
            if type(entity) is str and type(end) is int:
                out.append((end, entity))
                continue
        ipath = f"{path}[{i}]"
        entry = req_obj(item, ipath)
        entity = req_str(entry, "entityId", ipath)
        if entry.get("endOfRange") is None:
            continue
        out.append((req_int(entry, "endOfRange", ipath), entity))
    return tuple(out)


def build_rule(
    raw: object,
    path: str,
    kind: RuleKind,
    audiences: Mapping[str, Evaluator],
    *,
    max_depth: int,
    group: tuple[str, str] | None = None,
    compiled: dict[bytes, Evaluator] | None = None,
) -> Rule:
    """``compiled``: evaluators already built in this parse, by tree (JSON), so rules
    that share an audience tree share its evaluator (evaluators are pure)."""
    fast = _rule_fast(raw, path, kind, audiences, max_depth, group, compiled)
    if fast is not None:
        return fast
    obj = req_obj(raw, path)
    strict = kind == "experiment"  # the reference schema checks experiments, not rollouts
    variations = tuple(
        _variation_fast(v) or build_variation(v, f"{path}.variations[{i}]")
        for i, v in enumerate(req_list(obj, "variations", path))
    )
    audience_ids = str_list(obj, "audienceIds", path, required=strict)
    conditions = obj.get("audienceConditions")
    tree: Any = conditions if conditions is not None else list(audience_ids)
    if conditions is not None and not isinstance(conditions, list | str):
        raise ConfigError("expected a list", f"{path}.audienceConditions")
    forced = obj.get("forcedVariations") or {}
    if not isinstance(forced, dict) or not all(isinstance(v, str) for v in forced.values()):
        raise ConfigError("expected an object of strings", f"{path}.forcedVariations")
    cmab = obj.get("cmab")
    audience = _audience(tree, audiences, f"{path}.audienceConditions", max_depth, compiled)
    return Rule(
        id=req_str(obj, "id", path),
        key=req_str(obj, "key", path),
        kind=kind,
        status=req_str(obj, "status", path) if strict else opt_str(obj, "status", path),
        layer_id=req_str(obj, "layerId", path) if strict else opt_str(obj, "layerId", path),
        type=obj.get("type") if isinstance(obj.get("type"), str) else None,
        audience_ids=audience_ids,
        audience_conditions=conditions,
        variations=variations,
        variations_by_id={v.id: v for v in variations},
        variations_by_key={v.key: v for v in variations},
        traffic=build_traffic(
            req_list(obj, "trafficAllocation", path), f"{path}.trafficAllocation"
        ),
        forced_variations=dict(forced),
        audience=audience,
        audience_tree=tree,
        group_id=group[0] if group else None,
        group_policy=group[1] if group else None,
        cmab=cmab if isinstance(cmab, dict) else None,
    )


def _rule_fast(
    obj: object,
    path: str,
    kind: RuleKind,
    audiences: Mapping[str, Evaluator],
    max_depth: int,
    group: tuple[str, str] | None,
    compiled: dict[bytes, Evaluator] | None,
) -> Rule | None:
    """A well-formed rule built without path-aware readers; None sends it to the full
    reader, which finds and names the problem. It accepts only what the full reader
    accepts (stricter type tests), builds the same ``Rule``, and compiles the audience
    last, as the full reader does once every earlier check has passed, so an audience
    error is raised with the same path."""
    if type(obj) is not dict:
        return None
    strict = kind == "experiment"
    raw_variations = obj.get("variations")
    if type(raw_variations) is not list:
        return None
    variations = []
    for raw_variation in raw_variations:
        variation = _variation_fast(raw_variation)
        if variation is None:
            return None
        variations.append(variation)
    audience_ids = obj.get("audienceIds")
    if audience_ids is None:
        if strict:
            return None
        audience_ids = ()
    elif type(audience_ids) is not list:
        return None
    else:
        for item in audience_ids:
            if type(item) is not str:
                return None
        audience_ids = tuple(audience_ids)
    conditions = obj.get("audienceConditions")
    if conditions is not None and type(conditions) is not list and type(conditions) is not str:
        return None
    forced = obj.get("forcedVariations") or {}
    if type(forced) is not dict:
        return None
    for value in forced.values():
        if type(value) is not str:
            return None
    rule_id, key = obj.get("id"), obj.get("key")
    status, layer_id = obj.get("status"), obj.get("layerId")
    if type(rule_id) is not str or type(key) is not str:
        return None
    if type(status) is not str:
        if strict or status is not None:
            return None
        status = ""
    if type(layer_id) is not str:
        if strict or layer_id is not None:
            return None
        layer_id = ""
    raw_traffic = obj.get("trafficAllocation")
    if type(raw_traffic) is not list:
        return None
    traffic = []
    for item in raw_traffic:
        if type(item) is not dict:
            return None
        entity, end = item.get("entityId"), item.get("endOfRange")
        if type(entity) is not str or type(end) is not int:
            return None
        traffic.append((end, entity))
    tree: Any = conditions if conditions is not None else list(audience_ids)
    audience = _audience(tree, audiences, f"{path}.audienceConditions", max_depth, compiled)
    rule_type = obj.get("type")
    cmab = obj.get("cmab")
    variation_tuple = tuple(variations)
    rule: Rule = _new_tuple(
        Rule,
        (
            rule_id,
            key,
            kind,
            status,
            layer_id,
            rule_type if isinstance(rule_type, str) else None,
            audience_ids,
            conditions,
            variation_tuple,
            {v.id: v for v in variation_tuple},
            {v.key: v for v in variation_tuple},
            tuple(traffic),
            dict(forced),
            audience,
            tree,
            group[0] if group else None,
            group[1] if group else None,
            cmab if isinstance(cmab, dict) else None,
            (),
            False,
        ),
    )
    return rule


def _audience(
    tree: Any,
    audiences: Mapping[str, Evaluator],
    path: str,
    max_depth: int,
    compiled: dict[bytes, Evaluator] | None,
) -> Evaluator:
    if compiled is None:
        return compile_audience_tree(tree, audiences, path, max_depth=max_depth)
    try:
        key = orjson.dumps(tree)
    except (TypeError, orjson.JSONEncodeError):  # too deep for the encoder: no memo
        return compile_audience_tree(tree, audiences, path, max_depth=max_depth)
    found = compiled.get(key)
    if found is None:  # a failure raises here, with this rule's path, and is not kept
        found = compiled[key] = compile_audience_tree(tree, audiences, path, max_depth=max_depth)
    return found


def inject_fr_variation(raw: Mapping[str, Any], everyone_else: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of an ``fr`` rule with the everyone-else variation appended.

    A rule whose ``variations`` or ``trafficAllocation`` is not a list is returned
    as it is, for ``build_rule`` to report with its path."""
    copy = dict(raw)
    variations = raw.get("variations") or []
    traffic = raw.get("trafficAllocation") or []
    if not isinstance(variations, list) or not isinstance(traffic, list):
        return copy
    copy["variations"] = [*variations, everyone_else]
    copy["trafficAllocation"] = [
        *traffic,
        {"entityId": everyone_else.get("id"), "endOfRange": 10000},
    ]
    return copy


def _variable_def(raw: object, path: str, warnings: list[str] | None) -> VariableDef:
    """One variable definition; future extensions degrade to this variable only.

    * A type this version does not know is served as its raw string, as the
      reference does (``cast_variable`` leaves unknown types uncast).
    * A ``json`` default that is already an object or array (Optimizely's own
      future-datafile fixtures have them) is accepted; the reference cannot
      decode it and serves ``None``, so it is kept as the text ``null``.
    """
    obj = req_obj(raw, path)
    declared = req_str(obj, "type", path)
    sub_type = obj.get("subType") if isinstance(obj.get("subType"), str) else None
    effective = "json" if declared == "string" and sub_type == "json" else declared
    if effective not in _VARIABLE_TYPES and warnings is not None:
        warnings.append(
            f"{path}.type: unknown variable type {declared!r}, served as its raw string"
        )
    default = obj.get("defaultValue")
    if effective == "json" and isinstance(default, dict | list):
        if warnings is not None:
            warnings.append(
                f"{path}.defaultValue: a json default that is not a string is served as null"
            )
        default = "null"
    else:
        default = req_str(obj, "defaultValue", path)
    return VariableDef(
        id=req_str(obj, "id", path),
        key=req_str(obj, "key", path),
        type=effective,
        default_value=default,
        declared_type=declared,
        sub_type=sub_type,
    )


def _variable_def_fast(raw: object) -> VariableDef | None:
    """A well-formed definition of a known type, without paths; None sends it to
    ``_variable_def`` (problems, warnings, non-string json defaults)."""
    if type(raw) is not dict:
        return None
    vid, key, declared, default = (
        raw.get("id"),
        raw.get("key"),
        raw.get("type"),
        raw.get("defaultValue"),
    )
    if type(vid) is not str or type(key) is not str:
        return None
    if type(declared) is not str or type(default) is not str:
        return None
    sub = raw.get("subType")
    sub_type = sub if isinstance(sub, str) else None
    effective = "json" if declared == "string" and sub_type == "json" else declared
    if effective not in _VARIABLE_TYPES:
        return None
    definition: VariableDef = _new_tuple(
        VariableDef, (vid, key, effective, default, declared, sub_type)
    )
    return definition


def build_flag(
    raw: Mapping[str, Any],
    path: str,
    rules_by_id: Mapping[str, Rule],
    rollouts: Mapping[str, tuple[Rule, ...]],
    warnings: list[str] | None = None,
) -> FeatureFlag:
    variables = tuple(
        _variable_def_fast(v) or _variable_def(v, f"{path}.variables[{i}]", warnings)
        for i, v in enumerate(req_list(raw, "variables", path, required=False))
    )
    experiment_ids = str_list(raw, "experimentIds", path, required=False)
    rollout_id = opt_str(raw, "rolloutId", path)
    experiments = tuple(rules_by_id[e] for e in experiment_ids if e in rules_by_id)
    rollout_rules = rollouts.get(rollout_id, ())
    # As the reference: a key finds the first variation with it, an id the last one
    # (only a malformed datafile reuses an id with other content).
    by_id: dict[str, Variation] = {}
    by_key: dict[str, Variation] = {}
    for rule in (*experiments, *rollout_rules):
        for variation in rule.variations:
            by_id[variation.id] = variation
            by_key.setdefault(variation.key, variation)
    return FeatureFlag(
        id=req_str(raw, "id", path),
        key=req_str(raw, "key", path),
        rollout_id=rollout_id,
        experiment_ids=experiment_ids,
        variables=variables,
        experiments=experiments,
        rollout_rules=rollout_rules,
        rollout_found=rollout_id in rollouts,
        variations_by_key=by_key,
        variations_by_id=by_id,
    )
