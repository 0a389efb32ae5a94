"""The decide flow for one flag (Optimizely 5.7 order of evaluation).

1. A flag-level forced decision ``(flag, None)`` whose variation exists in the
   flag wins at once (no holdouts, no profile).
2. Running global holdouts, in datafile order: audience check, then bucketing on
   ``bucketing_id + holdout_id``. The first that buckets the user wins, unless
   it has ``excludeTargetedDeliveries``: then experiment rules other than
   ``type == "td"`` are skipped, delivery rules still run, and the holdout's
   impression is sent as well.
3. Experiment rules in ``experimentIds`` order: rule-level forced decision,
   local holdouts naming the rule, then status (only "Running"), whitelist
   (``forcedVariations`` by user id), sticky profile, audiences, bucketing.
4. Delivery rules: forced decision, local holdouts, audiences, bucketing; a
   traffic miss on a targeting rule jumps straight to "Everyone Else" (the last
   rule). Delivery rules are not checked for status.
5. Otherwise no decision (source ``rollout``).

Deliberate differences from the reference, all documented in the README:
reasons are listed once (the reference duplicates them), a rule-level forced
decision must name a variation of that rule (the reference accepts any
variation of the flag), and CMAB rules are skipped with a reason because a
decision never waits for a prediction service.
"""

from __future__ import annotations

from collections.abc import Mapping

from asyncexp.core.bucketing import BUCKETING_ID_ATTRIBUTE, bucket_variation, find_entity
from asyncexp.core.bucketing import bucket_value as _bucket_value
from asyncexp.core.datafile import ProjectConfig
from asyncexp.core.decision_types import (
    DecisionContext,
    DecisionSource,
    FlagResult,
    ProfileState,
    UserView,
)
from asyncexp.core.entities import FeatureFlag, Rule, Variation

__all__ = ["bucketing_id_for", "evaluate_flag", "profile_from_lookup"]

_NO_DECISION = FlagResult(None, None, DecisionSource.ROLLOUT)
_FT = DecisionSource.FEATURE_TEST
_RO = DecisionSource.ROLLOUT


def bucketing_id_for(user: UserView, reasons: list[str] | None) -> str:
    value = user.attributes.get(BUCKETING_ID_ATTRIBUTE)
    if value is None:
        return user.user_id
    if isinstance(value, str):
        return value
    if reasons is not None:
        reasons.append("Bucketing ID attribute is not a string. Defaulted to user_id.")
    return user.user_id


def _audience_ok(rule: Rule, label: str, user: UserView, reasons: list[str] | None) -> bool:
    result = rule.audience(user.attributes, user.segments) is True
    if reasons is not None:  # the label is only formatted here when reasons are wanted
        reasons.append(f"Evaluating audiences for {label}: {rule.audience_log}.")
        reasons.append(
            f"Audiences for {label} collectively evaluated to {'TRUE' if result else 'FALSE'}."
        )
    return result


def _forced(
    flag: FeatureFlag, rule: Rule | None, user: UserView, reasons: list[str] | None
) -> Variation | None:
    forced = user.forced.get(DecisionContext(flag.key, rule.key if rule else None))
    if forced is None:
        return None
    pool = rule.variations_by_key if rule is not None else flag.variations_by_key
    variation = pool.get(forced.variation_key)
    if reasons is not None:
        where = f"flag ({flag.key}), rule ({rule.key})" if rule else f"flag ({flag.key})"
        if variation is None:
            reasons.append(
                f"Invalid variation is mapped to {where} and user ({user.user_id}) "
                "in the forced decision map."
            )
        else:
            reasons.append(
                f"Variation ({variation.key}) is mapped to {where} and user ({user.user_id}) "
                "in the forced decision map."
            )
    return variation


def _holdout_variation(
    holdout: Rule, user: UserView, bucketing_id: str, reasons: list[str] | None
) -> Variation | None:
    if not _audience_ok(holdout, f'experiment "{holdout.key}"', user, reasons):
        if reasons is not None:
            reasons.append(
                f"User '{user.user_id}' does not meet the conditions for holdout '{holdout.key}'."
            )
        return None
    entity = find_entity(holdout.traffic, _bucket_value(bucketing_id + holdout.id))
    variation = holdout.variations_by_id.get(entity) if entity else None
    if reasons is not None:
        if variation is None:
            reasons.append(
                f"User '{user.user_id}' is not bucketed into any variation "
                f"for holdout '{holdout.key}'."
            )
        else:
            reasons.append(
                f"The user '{user.user_id}' is bucketed into variation '{variation.key}' "
                f"of holdout '{holdout.key}'."
            )
    return variation


def _local_holdout(
    config: ProjectConfig,
    rule: Rule,
    user: UserView,
    bucketing_id: str,
    reasons: list[str] | None,
) -> FlagResult | None:
    for holdout in config.local_holdouts.get(rule.id, ()):
        variation = _holdout_variation(holdout, user, bucketing_id, reasons)
        if variation is not None:
            if reasons is not None:
                kind = "experiment rule" if rule.kind == "experiment" else "delivery rule"
                reasons.append(
                    f"The user '{user.user_id}' is bucketed into local holdout "
                    f"'{holdout.key}' for {kind} '{rule.key}'."
                )
            return FlagResult(holdout, variation, DecisionSource.HOLDOUT)
    return None


def _experiment_variation(
    config: ProjectConfig,
    rule: Rule,
    user: UserView,
    bucketing_id: str,
    profile: ProfileState | None,
    reasons: list[str] | None,
) -> Variation | None:
    uid = user.user_id
    if rule.status != "Running":
        if reasons is not None:
            reasons.append(f'Experiment "{rule.key}" is not running.')
        return None
    if rule.forced_variations:
        forced_key = rule.forced_variations.get(uid)
        forced = rule.variations_by_key.get(forced_key) if forced_key is not None else None
        if forced is not None:
            if reasons is not None:
                reasons.append(f'User "{uid}" is forced in variation "{forced.key}".')
            return forced
    if profile is not None and rule.cmab is None:
        stored = profile.bucket_map.get(rule.id)
        stored_id = stored.get("variation_id") if isinstance(stored, dict) else None
        sticky = rule.variations_by_id.get(stored_id) if isinstance(stored_id, str) else None
        if sticky is not None:
            if reasons is not None:
                reasons.append(
                    f'Returning previously activated variation ID "{sticky.key}" of experiment '
                    f'"{rule.key}" for user "{uid}" from user profile.'
                )
            return sticky
    if reasons is None:
        if rule.audience(user.attributes, user.segments) is not True:
            return None
    elif not _audience_ok(rule, f'experiment "{rule.key}"', user, reasons):
        if reasons is not None:
            reasons.append(
                f'User "{uid}" does not meet conditions to be in experiment "{rule.key}".'
            )
        return None
    if rule.cmab is not None:
        if reasons is not None:
            reasons.append(f'CMAB rule "{rule.key}" is not supported by asyncexp; skipped.')
        return None
    variation = bucket_variation(rule, bucketing_id, uid, config.groups, reasons)
    if variation is None:
        if reasons is not None:
            reasons.append(f'User "{uid}" is in no variation.')
        return None
    if reasons is not None:
        reasons.append(f'User "{uid}" is in variation "{variation.key}" of experiment {rule.key}.')
    if profile is not None:
        profile.bucket_map[rule.id] = {"variation_id": variation.id}
        profile.changed = True
    return variation


def _delivery(
    config: ProjectConfig,
    flag: FeatureFlag,
    user: UserView,
    bucketing_id: str,
    reasons: list[str] | None,
) -> FlagResult | None:
    rules = flag.rollout_rules
    if not flag.rollout_id:
        return None
    if not rules:
        if reasons is not None:
            if flag.rollout_found:
                reasons.append(f"Rollout {flag.rollout_id} has no experiments.")
            else:
                reasons.append(f"There is no rollout of feature {flag.key}.")
        return None
    uid = user.user_id
    last = len(rules) - 1
    index = 0
    local_holdouts = config.local_holdouts
    while index <= last:
        rule = rules[index]
        if user.forced:
            forced = _forced(flag, rule, user, reasons)
            if forced is not None:
                return FlagResult(rule, forced, _RO)
        if local_holdouts:
            held = _local_holdout(config, rule, user, bucketing_id, reasons)
            if held is not None:
                return held
        if reasons is None:
            if rule.audience(user.attributes, user.segments) is not True:
                index += 1
                continue
            variation = bucket_variation(rule, bucketing_id, uid, config.groups, None)
            if variation is not None:
                return FlagResult(rule, variation, _RO)
            if index == last:
                break
            index = last
            continue
        label = "Everyone Else" if index == last else str(index + 1)
        if not _audience_ok(rule, f"rule {label}", user, reasons):
            reasons.append(
                f'User "{uid}" does not meet audience conditions for targeting rule {label}.'
            )
            index += 1
            continue
        reasons.append(f'User "{uid}" meets audience conditions for targeting rule {label}.')
        variation = bucket_variation(rule, bucketing_id, uid, config.groups, reasons)
        if variation is not None:
            reasons.append(f'User "{uid}" bucketed into a targeting rule {label}.')
            return FlagResult(rule, variation, _RO)
        if index == last:
            break
        reasons.append(
            f'User "{uid}" not bucketed into a targeting rule {label}. '
            'Checking "Everyone Else" rule now.'
        )
        index = last
    return None


def evaluate_flag(
    config: ProjectConfig,
    flag: FeatureFlag,
    user: UserView,
    profile: ProfileState | None,
    reasons: list[str] | None,
) -> FlagResult:
    """Evaluate one flag for one user; ``reasons`` is None unless reasons were asked for."""
    if user.forced:
        forced = _forced(flag, None, user, reasons)
        if forced is not None:
            return FlagResult(None, forced, _FT)
    bucketing_id = bucketing_id_for(user, reasons)
    bypassed: tuple[Rule, Variation] | None = None
    for holdout in config.global_holdouts:
        variation = _holdout_variation(holdout, user, bucketing_id, reasons)
        if variation is None:
            continue
        if reasons is not None:
            reasons.append(
                f"The user '{user.user_id}' is bucketed into holdout '{holdout.key}' "
                f"for feature flag '{flag.key}'."
            )
        if not holdout.exclude_targeted_deliveries:
            return FlagResult(holdout, variation, DecisionSource.HOLDOUT)
        if reasons is not None:
            reasons.append(
                f"Holdout '{holdout.key}' excludes targeted deliveries. "
                "Targeted delivery rules will be evaluated."
            )
        bypassed = (holdout, variation)
        break
    for rule in flag.experiments:
        if bypassed is not None and rule.type != "td":
            continue
        if user.forced:
            forced = _forced(flag, rule, user, reasons)
            if forced is not None:
                return FlagResult(rule, forced, _FT, bypassed)
        if config.local_holdouts:
            held = _local_holdout(config, rule, user, bucketing_id, reasons)
            if held is not None:
                return held
        variation = _experiment_variation(config, rule, user, bucketing_id, profile, reasons)
        if variation is not None:
            return FlagResult(rule, variation, _FT, bypassed)
    if bypassed is not None and reasons is not None:
        reasons.append(
            f'Holdout "{bypassed[0].key}" has excludeTargetedDeliveries enabled, '
            "continuing to rollout evaluation."
        )
    result = _delivery(config, flag, user, bucketing_id, reasons)
    if result is None:
        return FlagResult(None, None, _RO, bypassed) if bypassed else _NO_DECISION
    if bypassed is not None and result.bypassed_holdout is None:
        return FlagResult(result.rule, result.variation, result.source, bypassed)
    return result


def profile_from_lookup(user_id: str, found: object) -> ProfileState:
    """A profile state from a user-profile-service lookup result (bad shapes → empty)."""
    bucket_map: dict[str, dict[str, str]] = {}
    if isinstance(found, Mapping) and "user_id" in found:
        raw = found.get("experiment_bucket_map")
        if isinstance(raw, Mapping):
            for exp_id, entry in raw.items():
                if isinstance(exp_id, str) and isinstance(entry, Mapping):
                    bucket_map[exp_id] = dict(entry)
    return ProfileState(user_id, bucket_map)
