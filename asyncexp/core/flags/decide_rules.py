"""Experiment and delivery rule evaluation of the decide flow."""

from __future__ import annotations

from asyncexp.core.flags.bucketing import bucket_variation, in_cmab_traffic
from asyncexp.core.flags.datafile import ProjectConfig
from asyncexp.core.flags.decide_checks import (
    audience_ok,
    forced_variation,
    local_holdout,
    note_bucketing_id,
)
from asyncexp.core.flags.decision_types import (
    CmabAnswer,
    CmabUnavailable,
    DecisionSource,
    FlagResult,
    ProfileState,
    UserView,
)
from asyncexp.core.flags.entities import FeatureFlag, Rule, Variation

__all__ = ["ROLLOUT", "cmab_answer", "cmab_variation", "delivery_variation", "experiment_variation"]

ROLLOUT = DecisionSource.ROLLOUT


def experiment_variation(
    config: ProjectConfig,
    rule: Rule,
    user: UserView,
    bucketing_id: str,
    profile: ProfileState | None,
    reasons: list[str] | None,
    cmab_uuid: list[str | None] | None = None,
) -> Variation | None:
    """The variation an experiment rule gives ``user``; for a CMAB rule whose variation
    came from a prediction, its ``cmab_uuid`` is appended to ``cmab_uuid`` (when given)."""
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
    if profile is not None:
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
    elif not audience_ok(rule, f'experiment "{rule.key}"', user, reasons):
        if reasons is not None:
            reasons.append(
                f'User "{uid}" does not meet conditions to be in experiment "{rule.key}".'
            )
        return None
    if reasons is not None:
        note_bucketing_id(user, reasons)
    if rule.cmab is not None:
        return cmab_variation(config, rule, user, bucketing_id, reasons, cmab_uuid)
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


def cmab_answer(rule: Rule, user: UserView) -> CmabAnswer:
    """The usable answer for a CMAB rule the flow reached; raises ``CmabUnavailable``
    when there is none (no answer at hand, or the service failed)."""
    answer = user.cmab.answer(rule, user) if user.cmab is not None else None
    if answer is None or answer.failed or answer.variation_id is None:
        raise CmabUnavailable(rule, answer)
    return answer


def cmab_variation(
    config: ProjectConfig,
    rule: Rule,
    user: UserView,
    bucketing_id: str,
    reasons: list[str] | None,
    cmab_uuid: list[str | None] | None = None,
) -> Variation | None:
    """A CMAB rule past its audiences: traffic, then the prediction's variation (never
    stored in the profile: CMAB decisions are not sticky, as the reference)."""
    uid = user.user_id
    if not in_cmab_traffic(rule, bucketing_id, uid, config.groups, reasons):
        if reasons is not None:
            reasons.append(
                f'User "{uid}" not in CMAB experiment "{rule.key}" due to traffic allocation.'
            )
            reasons.append(f'User "{uid}" is in no variation.')
        return None
    answer = cmab_answer(rule, user)
    variation = rule.variations_by_id.get(answer.variation_id or "")
    if reasons is not None:
        reasons.extend(answer.reasons)
        if variation is None:
            reasons.append(f'User "{uid}" is in no variation.')
        else:
            reasons.append(
                f'User "{uid}" is in variation "{variation.key}" of experiment {rule.key}.'
            )
    if variation is not None and cmab_uuid is not None:
        cmab_uuid.append(answer.cmab_uuid)
    return variation


def delivery_variation(
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
            forced = forced_variation(flag, rule, user, reasons)
            if forced is not None:
                return FlagResult(rule, forced, ROLLOUT)
        if local_holdouts:
            held = local_holdout(config, rule, user, bucketing_id, reasons)
            if held is not None:
                return held
        if reasons is None:
            if rule.audience(user.attributes, user.segments) is not True:
                index += 1
                continue
            variation = bucket_variation(rule, bucketing_id, uid, config.groups, None)
            if variation is not None:
                return FlagResult(rule, variation, ROLLOUT)
            if index == last:
                break
            index = last
            continue
        note_bucketing_id(user, reasons)
        label = "Everyone Else" if index == last else str(index + 1)
        if not audience_ok(rule, f"rule {label}", user, reasons):
            reasons.append(
                f'User "{uid}" does not meet audience conditions for targeting rule {label}.'
            )
            index += 1
            continue
        reasons.append(f'User "{uid}" meets audience conditions for targeting rule {label}.')
        variation = bucket_variation(rule, bucketing_id, uid, config.groups, reasons)
        if variation is not None:
            reasons.append(f'User "{uid}" bucketed into a targeting rule {label}.')
            return FlagResult(rule, variation, ROLLOUT)
        if index == last:
            break
        reasons.append(
            f'User "{uid}" not bucketed into a targeting rule {label}. '
            'Checking "Everyone Else" rule now.'
        )
        index = last
    return None
