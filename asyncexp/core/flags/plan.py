"""Decide plans: one flag's evaluation flattened for the common call.

The full flow (:func:`~asyncexp.core.flags.decide.evaluate_flag`) handles forced
decisions, holdouts, sticky profiles, CMAB and reasons at every step. Most calls
use none of them: no reasons asked, no profile, no forced decision, a flag whose
rules have no CMAB and no local holdout, a datafile without global holdouts. For
those, a plan gives the same result with the static checks done once:

* non-running experiments are dropped (the flow skips them before anything else);
* every rule keeps only what the flow reads (audience evaluator, rule id, traffic,
  whitelist, group step when the rule is in a ``random`` group);
* audience checks are flattened into one function each
  (:mod:`asyncexp.core.flags.condition_flat`);
* each possible (rule, variation) result is an :class:`Outcome` built once, with its
  decision fields and its shared, immutable cast variables.

Rules: a plan is pure (it reads only its arguments), returns exactly what
``evaluate_flag(..., profile=None, reasons=None)`` returns for a user without forced
decisions, and is built only from parsed entities: no datafile text becomes code.
``plan_for`` returns None when a flag needs the full flow (the caller then uses it).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from types import FunctionType
from typing import Any

import mmh3

from asyncexp.core.flags.bucketing import MAX_TRAFFIC_VALUE, in_group_slot
from asyncexp.core.flags.condition_flat import flatten
from asyncexp.core.flags.condition_logic import always_true
from asyncexp.core.flags.datafile import ProjectConfig
from asyncexp.core.flags.decision_types import DecisionSource, FlagResult
from asyncexp.core.flags.entities import FeatureFlag, Rule, VariableValues, Variation

__all__ = ["MAX_PLAN_STEPS", "Outcome", "Plan", "build_plan", "plan_for"]

_hash = mmh3.hash
_FT = DecisionSource.FEATURE_TEST
_ROLLOUT = DecisionSource.ROLLOUT


class Outcome:
    """One possible result of a flag: what the decision shows, built once per plan.

    ``result`` is the flow's :class:`FlagResult` for it (read-only, shared);
    ``values`` the cast variables (shared; a decision copies them when read);
    ``impression`` a slot for the shell's per-outcome impression parts."""

    __slots__ = (
        "enabled",
        "impression",
        "result",
        "rule",
        "rule_key",
        "source",
        "values",
        "variation",
        "variation_key",
    )

    def __init__(
        self,
        flag: FeatureFlag,
        rule: Rule | None,
        variation: Variation | None,
        source: DecisionSource,
    ) -> None:
        self.rule = rule
        self.variation = variation
        self.source = source
        self.variation_key = variation.key if variation is not None else None
        self.enabled = bool(variation.feature_enabled) if variation is not None else False
        self.rule_key = rule.key if rule is not None else None
        self.values: VariableValues = flag.variable_values(variation)
        self.result = FlagResult(rule, variation, source)
        self.impression: Any = None


Plan = Callable[[Mapping[str, object], "Collection[str] | None", str, str], Outcome]


def _needs_full_flow(config: ProjectConfig, flag: FeatureFlag) -> bool:
    if config.global_holdouts:
        return True
    local = config.local_holdouts
    for rule in (*flag.experiments, *flag.rollout_rules):
        if rule.cmab is not None or (local and rule.id in local):
            return True
    return False


def plan_for(config: ProjectConfig, flag: FeatureFlag) -> Plan | None:
    """The plan of ``flag`` in ``config``, built on first use and kept in the config;
    None when the flag needs the full flow."""
    plans = config.plans
    try:
        return plans[flag.key]  # type: ignore[no-any-return]
    except KeyError:
        plan = plans[flag.key] = build_plan(config, flag)
        return plan


def build_plan(config: ProjectConfig, flag: FeatureFlag, *, unrolled: bool = True) -> Plan | None:
    """See the module docstring; None when the flag needs the full flow. ``unrolled``
    (the default) gives the generated function when the flag is small enough, else the
    loop over step tuples (the two give the same outcomes; tests compare them)."""
    if _needs_full_flow(config, flag):
        return None
    groups = config.groups
    none_outcome = Outcome(flag, None, None, _ROLLOUT)

    def outcomes(rule: Rule, source: DecisionSource) -> dict[str, Outcome]:
        return {vid: Outcome(flag, rule, v, source) for vid, v in rule.variations_by_id.items()}

    experiments: list[tuple[Any, ...]] = []
    for rule in flag.experiments:
        if rule.status != "Running":
            continue
        by_id = outcomes(rule, _FT)
        whitelist = None
        if rule.forced_variations:
            by_key = {key: Outcome(flag, rule, v, _FT) for key, v in rule.variations_by_key.items()}
            whitelist = (rule.forced_variations, by_key)
        grouped = rule if rule.group_policy == "random" and rule.group_id is not None else None
        audience = None if rule.audience is always_true else flatten(rule.audience)
        experiments.append((rule.id, audience, rule.traffic, by_id, whitelist, grouped))
    deliveries: list[tuple[Any, ...]] = []
    if flag.rollout_id:
        for rule in flag.rollout_rules:
            grouped = rule if rule.group_policy == "random" and rule.group_id is not None else None
            audience = None if rule.audience is always_true else flatten(rule.audience)
            deliveries.append((rule.id, audience, rule.traffic, outcomes(rule, _ROLLOUT), grouped))
    exp_steps = tuple(experiments)
    delivery_steps = tuple(deliveries)
    last = len(delivery_steps) - 1

    def plan(
        attributes: Mapping[str, object],
        segments: Collection[str] | None,
        bucketing_id: str,
        user_id: str,
    ) -> Outcome:
        for rule_id, audience, traffic, by_id, whitelist, grouped in exp_steps:
            if whitelist is not None:
                forced_key = whitelist[0].get(user_id)
                if forced_key is not None:
                    forced = whitelist[1].get(forced_key)
                    if forced is not None:
                        return forced  # type: ignore[no-any-return]
            if audience is not None and audience(attributes, segments) is not True:
                continue
            if grouped is not None and not in_group_slot(
                grouped, bucketing_id, user_id, groups, None
            ):
                continue
            bucket = (
                _hash((bucketing_id + rule_id).encode("utf-8", "surrogatepass"), 1, signed=False)
                * MAX_TRAFFIC_VALUE
            ) >> 32
            for end, entity in traffic:
                if bucket < end:
                    if entity:
                        found = by_id.get(entity)
                        if found is not None:
                            return found  # type: ignore[no-any-return]
                    break
        index = 0
        while index <= last:
            rule_id, audience, traffic, by_id, grouped = delivery_steps[index]
            if audience is not None and audience(attributes, segments) is not True:
                index += 1
                continue
            if grouped is None or in_group_slot(grouped, bucketing_id, user_id, groups, None):
                bucket = (
                    _hash(
                        (bucketing_id + rule_id).encode("utf-8", "surrogatepass"), 1, signed=False
                    )
                    * MAX_TRAFFIC_VALUE
                ) >> 32
                for end, entity in traffic:
                    if bucket < end:
                        if entity:
                            found = by_id.get(entity)
                            if found is not None:
                                return found  # type: ignore[no-any-return]
                        break
            if index == last:
                break
            index = last
        return none_outcome

    if not unrolled:
        return plan
    generated = _generated_plan(exp_steps, delivery_steps, none_outcome, groups)
    return plan if generated is None else generated


# -- the plan as one generated function ---------------------------------------------
# The same steps as ``_loop_plan`` unrolled into straight-line statements: no step
# tuples to unpack, no per-step None tests, the user's bucketing id encoded once and
# each traffic range holding its Outcome. Only this module's templates and generated
# names (``r0``, ``a3``) become source; rule ids, audience checks, traffic and
# outcomes are passed in the function's namespace. The same shape gives the same
# source, compiled once (bounded cache).

MAX_PLAN_STEPS = 64
_CACHE_LIMIT = 512
_plan_codes: dict[str, Any] = {}


def _traffic_outcomes(traffic: Any, by_id: Mapping[str, Outcome]) -> tuple[Any, ...]:
    # A range whose entity is empty or not a variation of the rule ends the rule,
    # exactly as the loop's ``by_id.get`` miss does.
    return tuple((end, by_id.get(entity) if entity else None) for end, entity in traffic)


def _bucket_lines(index: int, indent: str) -> list[str]:
    return [
        f"{indent}b = (_hash(bid + r{index}, 1, signed=False) * M) >> 32",
        f"{indent}for e, o in t{index}:",
        f"{indent}    if b < e:",
        f"{indent}        if o is not None:",
        f"{indent}            return o",
        f"{indent}        break",
    ]


def _rule_body(index: int, grouped: bool, indent: str) -> list[str]:
    if not grouped:
        return _bucket_lines(index, indent)
    return [
        f"{indent}if in_group_slot(g{index}, bucketing_id, user_id, groups, None):",
        *_bucket_lines(index, indent + "    "),
    ]


def _generated_plan(
    exp_steps: tuple[tuple[Any, ...], ...],
    delivery_steps: tuple[tuple[Any, ...], ...],
    none_outcome: Outcome,
    groups: Mapping[str, Any],
) -> Plan | None:
    """The plan as one function, or None when it has too many steps to unroll."""
    if len(exp_steps) + len(delivery_steps) > MAX_PLAN_STEPS:
        return None
    namespace: dict[str, Any] = {
        "_hash": _hash,
        "M": MAX_TRAFFIC_VALUE,
        "in_group_slot": in_group_slot,
        "groups": groups,
        "none": none_outcome,
    }
    lines = [
        "def plan(attributes, segments, bucketing_id, user_id):",
        '    bid = bucketing_id.encode("utf-8", "surrogatepass")',
    ]
    index = 0
    for rule_id, audience, traffic, by_id, whitelist, grouped in exp_steps:
        namespace[f"r{index}"] = rule_id.encode("utf-8", "surrogatepass")
        namespace[f"t{index}"] = _traffic_outcomes(traffic, by_id)
        indent = "    "
        if whitelist is not None:
            forced_keys, by_key = whitelist
            namespace[f"w{index}"] = {
                user: by_key[key] for user, key in forced_keys.items() if key in by_key
            }
            lines += [
                f"    f = w{index}.get(user_id)",
                "    if f is not None:",
                "        return f",
            ]
        if audience is not None:
            namespace[f"a{index}"] = audience
            lines.append(f"    if a{index}(attributes, segments) is True:")
            indent = "        "
        if grouped is not None:
            namespace[f"g{index}"] = grouped
        lines += _rule_body(index, grouped is not None, indent)
        index += 1
    if delivery_steps:
        *others, final = delivery_steps
        keyword = "if"
        for rule_id, audience, traffic, by_id, grouped in others:
            namespace[f"r{index}"] = rule_id.encode("utf-8", "surrogatepass")
            namespace[f"t{index}"] = _traffic_outcomes(traffic, by_id)
            if grouped is not None:
                namespace[f"g{index}"] = grouped
            if audience is None:
                # Always taken: the rules after it (before the last) are never reached.
                lines.append("    else:" if keyword == "elif" else "    if True:")
                lines += _rule_body(index, grouped is not None, "        ")
                index += 1
                keyword = ""
                break
            namespace[f"a{index}"] = audience
            lines.append(f"    {keyword} a{index}(attributes, segments) is True:")
            lines += _rule_body(index, grouped is not None, "        ")
            keyword = "elif"
            index += 1
        # Whichever earlier rule let the user in (or none), the last rule comes next.
        rule_id, audience, traffic, by_id, grouped = final
        namespace[f"r{index}"] = rule_id.encode("utf-8", "surrogatepass")
        namespace[f"t{index}"] = _traffic_outcomes(traffic, by_id)
        indent = "    "
        if audience is not None:
            namespace[f"a{index}"] = audience
            lines.append(f"    if a{index}(attributes, segments) is True:")
            indent = "        "
        if grouped is not None:
            namespace[f"g{index}"] = grouped
        lines += _rule_body(index, grouped is not None, indent)
    lines.append("    return none")
    source = "\n".join(lines) + "\n"
    code = _plan_codes.get(source)
    if code is None:
        try:
            module = compile(source, "<asyncexp.plan>", "exec")
        except (SyntaxError, RecursionError, MemoryError, ValueError):
            return None
        code = next(c for c in module.co_consts if hasattr(c, "co_code"))
        if len(_plan_codes) >= _CACHE_LIMIT:
            _plan_codes.clear()
        _plan_codes[source] = code
    generated: Plan = FunctionType(code, namespace)
    return generated
