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

CMAB rules (``cmab`` in the datafile): after audiences, the CMAB traffic check
(group step, then ``[0, cmab.trafficAllocation)``), then the prediction read from
``user.cmab`` (a :class:`~asyncexp.core.flags.decision_types.CmabSource`: the answers
``decide_async`` fetched, or a valid cached one). No answer, or a failed fetch, ends
the flag with an error result (the reference's error decision); the flow never waits
for the prediction service.

Deliberate differences from the reference, all documented in the README:
reasons are listed once (the reference duplicates them), a rule-level forced
decision must name a variation of that rule (the reference accepts any
variation of the flag), and a plain ``decide`` without a cached CMAB answer gives
the error decision instead of calling the prediction service.
"""

from __future__ import annotations

from collections.abc import Mapping

from asyncexp.core.flags.bucketing import BUCKETING_ID_ATTRIBUTE
from asyncexp.core.flags.datafile import ProjectConfig
from asyncexp.core.flags.decide_checks import forced_variation, holdout_variation, local_holdout
from asyncexp.core.flags.decide_rules import (
    ROLLOUT,
    delivery_variation,
    experiment_variation,
)
from asyncexp.core.flags.decision_types import (
    CmabUnavailable,
    DecisionSource,
    FlagResult,
    ProfileState,
    UserView,
)
from asyncexp.core.flags.entities import FeatureFlag, Rule, Variation

__all__ = ["bucketing_id_for", "cmab_error_reasons", "evaluate_flag", "profile_from_lookup"]

_NO_DECISION = FlagResult(None, None, DecisionSource.ROLLOUT)
_FT = DecisionSource.FEATURE_TEST


def bucketing_id_for(user: UserView) -> str:
    """``$opt_bucketing_id`` when it is a string, else the user id. The reason for a
    non-string one is given where a rule reaches bucketing (``note_bucketing_id``)."""
    value = user.attributes.get(BUCKETING_ID_ATTRIBUTE)
    return value if isinstance(value, str) else user.user_id


def cmab_error_reasons(missing: CmabUnavailable) -> list[str]:
    """The reasons of a CMAB error decision: the reference's, and, when no answer was at
    hand (a plain ``decide`` without a valid cached prediction), how to get one."""
    rule = missing.rule
    out = [f"Failed to fetch CMAB data for experiment {rule.key}."]
    if missing.answer is None:
        out.append(
            f'CMAB rule "{rule.key}" has no valid cached prediction for this user; '
            "decide_async (or decide_for_keys_async / decide_all_async) fetches one."
        )
    return out


def evaluate_flag(
    config: ProjectConfig,
    flag: FeatureFlag,
    user: UserView,
    profile: ProfileState | None,
    reasons: list[str] | None,
) -> FlagResult:
    """Evaluate one flag for one user; ``reasons`` is None unless reasons were asked for."""
    if user.forced:
        forced = forced_variation(flag, None, user, reasons)
        if forced is not None:
            return FlagResult(None, forced, _FT)
    bucketing_id = user.bucketing_id  # bucketing_id_for(user), computed with the view
    bypassed: tuple[Rule, Variation] | None = None
    for holdout in config.global_holdouts:
        variation = holdout_variation(holdout, user, bucketing_id, reasons)
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
            forced = forced_variation(flag, rule, user, reasons)
            if forced is not None:
                return FlagResult(rule, forced, _FT, bypassed)
        if config.local_holdouts:
            held = local_holdout(config, rule, user, bucketing_id, reasons)
            if held is not None:
                return held
        uuid: list[str | None] | None = [] if rule.cmab is not None else None
        try:
            variation = experiment_variation(
                config, rule, user, bucketing_id, profile, reasons, uuid
            )
        except CmabUnavailable as missing:
            if reasons is not None:
                reasons.extend(cmab_error_reasons(missing))
            return FlagResult(rule, None, _FT, error=True)
        if variation is not None:
            if uuid:  # a CMAB prediction (not a whitelist, sticky or forced variation)
                return FlagResult(rule, variation, _FT, bypassed, cmab_uuid=uuid[0])
            return FlagResult(rule, variation, _FT, bypassed)
    if bypassed is not None and reasons is not None:
        reasons.append(
            f'Holdout "{bypassed[0].key}" has excludeTargetedDeliveries enabled, '
            "continuing to rollout evaluation."
        )
    result = delivery_variation(config, flag, user, bucketing_id, reasons)
    if result is None:
        return FlagResult(None, None, ROLLOUT, bypassed) if bypassed else _NO_DECISION
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
