"""Readers of the datafile's sections (audiences, groups, events, holdouts, ODP)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import orjson

from asyncexp.core.flags.conditions import compile_condition_tree
from asyncexp.core.flags.entities import Attribute, Audience, Event, Group, Rule
from asyncexp.core.flags.json_input import req_list, req_obj, req_str, str_list
from asyncexp.core.flags.rule_builder import build_traffic
from asyncexp.errors import ConfigError

__all__ = [
    "read_attribute",
    "read_audiences",
    "read_events",
    "read_everyone_else_by_experiment",
    "read_experiment_sources",
    "read_groups",
    "read_holdouts",
    "read_odp",
    "read_segments",
]


def read_attribute(raw: object, path: str) -> Attribute:
    obj = req_obj(raw, path)
    return Attribute(req_str(obj, "id", path), req_str(obj, "key", path))


def read_audiences(
    doc: Mapping[str, Any], warnings: list[str], max_depth: int
) -> tuple[dict[str, Audience], list[Any]]:
    """Audiences by id (typed ones win) and their decoded condition trees."""
    out: dict[str, Audience] = {}
    trees: dict[str, Any] = {}
    # Legacy audiences often repeat one conditions text (datafiles with typed audiences
    # give every legacy copy the same placeholder): the same text compiles to the same
    # evaluator and warnings, so it is compiled once and its warnings are repeated. A
    # failure raises before anything is kept, with this audience's path.
    by_text: dict[str, tuple[Any, list[str]]] = {}
    for i, raw in enumerate(req_list(doc, "audiences", "")):
        path = f"audiences[{i}]"
        obj = req_obj(raw, path)
        text = req_str(obj, "conditions", path)
        try:
            tree = orjson.loads(text)
        except orjson.JSONDecodeError:
            raise ConfigError("conditions are not valid JSON", f"{path}.conditions") from None
        known = by_text.get(text)
        if known is None:
            before = len(warnings)
            evaluator = compile_condition_tree(
                tree, f"{path}.conditions", warnings, max_depth=max_depth
            )
            by_text[text] = (evaluator, warnings[before:])
        else:
            evaluator = known[0]
            warnings.extend(known[1])
        aid = req_str(obj, "id", path)
        out[aid] = Audience(aid, req_str(obj, "name", path), text, tree, evaluator)
        trees[aid] = tree
    for i, raw in enumerate(req_list(doc, "typedAudiences", "", required=False)):
        path = f"typedAudiences[{i}]"
        obj = req_obj(raw, path)
        tree = obj.get("conditions")
        evaluator = compile_condition_tree(
            tree, f"{path}.conditions", warnings, max_depth=max_depth
        )
        aid = req_str(obj, "id", path)
        out[aid] = Audience(aid, req_str(obj, "name", path), None, tree, evaluator)
        trees[aid] = tree
    return out, list(trees.values())


def read_experiment_sources(
    doc: Mapping[str, Any],
) -> Iterator[tuple[str, Any, tuple[str, str] | None]]:
    for i, raw in enumerate(req_list(doc, "experiments", "")):
        yield f"experiments[{i}]", raw, None
    for i, graw in enumerate(req_list(doc, "groups", "")):
        gpath = f"groups[{i}]"
        group = req_obj(graw, gpath)
        ident = (req_str(group, "id", gpath), req_str(group, "policy", gpath))
        for j, raw in enumerate(req_list(group, "experiments", gpath)):
            yield f"{gpath}.experiments[{j}]", raw, ident


def read_groups(doc: Mapping[str, Any]) -> dict[str, Group]:
    out: dict[str, Group] = {}
    for i, raw in enumerate(req_list(doc, "groups", "")):
        path = f"groups[{i}]"
        obj = req_obj(raw, path)
        gid = req_str(obj, "id", path)
        exps = req_list(obj, "experiments", path)
        out[gid] = Group(
            id=gid,
            policy=req_str(obj, "policy", path),
            traffic=build_traffic(
                req_list(obj, "trafficAllocation", path), f"{path}.trafficAllocation"
            ),
            experiment_ids=tuple(e.get("id", "") for e in exps if isinstance(e, dict)),
        )
    return out


def read_everyone_else_by_experiment(
    flags_raw: list[tuple[str, dict[str, Any]]], rollout_raw: Mapping[str, list[Any]]
) -> dict[str, Mapping[str, Any]]:
    """Experiment id → the everyone-else variation of its flag's rollout.

    This runs before the flags are validated, so it reads defensively: a field of
    the wrong type is skipped here and reported with its path by ``build_flag``."""
    out: dict[str, Mapping[str, Any]] = {}
    for _path, flag in flags_raw:
        rollout_id, experiment_ids = flag.get("rolloutId"), flag.get("experimentIds")
        if not isinstance(rollout_id, str) or not isinstance(experiment_ids, list):
            continue
        rules = rollout_raw.get(rollout_id)
        if not rules or not isinstance(rules[-1], dict):
            continue
        variations = rules[-1].get("variations")
        if (
            not isinstance(variations, list)
            or not variations
            or not isinstance(variations[0], dict)
        ):
            continue
        for exp_id in experiment_ids:
            if isinstance(exp_id, str):
                out[exp_id] = variations[0]
    return out


def read_events(doc: Mapping[str, Any]) -> dict[str, Event]:
    out: dict[str, Event] = {}
    for i, raw in enumerate(req_list(doc, "events", "")):
        path = f"events[{i}]"
        obj = req_obj(raw, path)
        key = req_str(obj, "key", path)
        if "experimentIds" in obj and obj["experimentIds"] is None:
            # The reference's schema requires an array here (and the config view lists it).
            raise ConfigError("expected a list, got null", f"{path}.experimentIds")
        out[key] = Event(
            req_str(obj, "id", path), key, str_list(obj, "experimentIds", path, required=True)
        )
    return out


def read_holdouts(
    doc: Mapping[str, Any], rule: Any, warnings: list[str]
) -> tuple[tuple[Rule, ...], dict[str, tuple[Rule, ...]]]:
    global_: list[Rule] = []
    for i, raw in enumerate(req_list(doc, "holdouts", "", required=False)):
        path = f"holdouts[{i}]"
        obj = req_obj(raw, path)
        if "includedRules" in obj:
            warnings.append(f"{path}: includedRules is ignored on a global holdout")
        built: Rule = rule(obj, path, "holdout")._replace(
            # Truthiness, as the reference reads it.
            exclude_targeted_deliveries=bool(obj.get("excludeTargetedDeliveries")),
        )
        if built.is_running:
            global_.append(built)
    local: dict[str, list[Rule]] = {}
    for i, raw in enumerate(req_list(doc, "localHoldouts", "", required=False)):
        path = f"localHoldouts[{i}]"
        obj = req_obj(raw, path)
        if not isinstance(obj.get("includedRules"), list):
            warnings.append(f"{path}: a local holdout without includedRules is skipped")
            continue
        included = str_list(obj, "includedRules", path, required=True)
        built = rule(obj, path, "holdout")._replace(included_rules=included)
        if built.is_running:
            for rule_id in included:
                local.setdefault(rule_id, []).append(built)
    return tuple(global_), {k: tuple(v) for k, v in local.items()}


def read_odp(doc: Mapping[str, Any]) -> tuple[str | None, str | None]:
    for i, raw in enumerate(req_list(doc, "integrations", "", required=False)):
        obj = req_obj(raw, f"integrations[{i}]")
        if req_str(obj, "key", f"integrations[{i}]") == "odp":
            host, key = obj.get("host"), obj.get("publicKey")
            return (host if isinstance(host, str) else None, key if isinstance(key, str) else None)
    return None, None


def read_segments(trees: list[Any]) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    stack = trees[::-1]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(reversed(node))
        elif isinstance(node, dict) and node.get("match") == "qualified":
            value = node.get("value")
            if isinstance(value, str):
                seen.setdefault(value, None)
    return tuple(seen)
