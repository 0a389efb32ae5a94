"""Steps shared by the decide flow's rules: audience checks, forced decisions, holdouts."""

from __future__ import annotations

from asyncexp.core.flags.bucketing import BUCKETING_ID_ATTRIBUTE, variation_in_range
from asyncexp.core.flags.bucketing import bucket_value as _bucket_value
from asyncexp.core.flags.datafile import ProjectConfig
from asyncexp.core.flags.decision_types import DecisionContext, DecisionSource, FlagResult, UserView
from asyncexp.core.flags.entities import FeatureFlag, Rule, Variation

__all__ = [
    "BUCKETING_ID_REASON",
    "audience_ok",
    "forced_variation",
    "holdout_variation",
    "local_holdout",
    "note_bucketing_id",
]

BUCKETING_ID_REASON = "Bucketing ID attribute is not a string. Defaulted to user_id."


def note_bucketing_id(user: UserView, reasons: list[str]) -> None:
    """Add the non-string ``$opt_bucketing_id`` reason, once, where the reference first
    gives it: as a holdout or rule reaches bucketing (call only when reasons are wanted)."""
    value = user.attributes.get(BUCKETING_ID_ATTRIBUTE)
    if value is not None and not isinstance(value, str) and BUCKETING_ID_REASON not in reasons:
        reasons.append(BUCKETING_ID_REASON)


def audience_ok(rule: Rule, label: str, user: UserView, reasons: list[str] | None) -> bool:
    result = rule.audience(user.attributes, user.segments) is True
    if reasons is not None:  # the label is only formatted here when reasons are wanted
        reasons.append(f"Evaluating audiences for {label}: {rule.audience_log}.")
        reasons.append(
            f"Audiences for {label} collectively evaluated to {'TRUE' if result else 'FALSE'}."
        )
    return result


def forced_variation(
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


def holdout_variation(
    holdout: Rule, user: UserView, bucketing_id: str, reasons: list[str] | None
) -> Variation | None:
    if reasons is not None:
        note_bucketing_id(user, reasons)
    if not audience_ok(holdout, f'experiment "{holdout.key}"', user, reasons):
        if reasons is not None:
            reasons.append(
                f"User '{user.user_id}' does not meet the conditions for holdout '{holdout.key}'."
            )
        return None
    variation = variation_in_range(holdout, _bucket_value(bucketing_id + holdout.id), reasons)
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


def local_holdout(
    config: ProjectConfig,
    rule: Rule,
    user: UserView,
    bucketing_id: str,
    reasons: list[str] | None,
) -> FlagResult | None:
    for holdout in config.local_holdouts.get(rule.id, ()):
        variation = holdout_variation(holdout, user, bucketing_id, reasons)
        if variation is not None:
            if reasons is not None:
                kind = "experiment rule" if rule.kind == "experiment" else "delivery rule"
                reasons.append(
                    f"The user '{user.user_id}' is bucketed into local holdout "
                    f"'{holdout.key}' for {kind} '{rule.key}'."
                )
            return FlagResult(holdout, variation, DecisionSource.HOLDOUT)
    return None
