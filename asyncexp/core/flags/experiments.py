"""Experiment-level decisions (the pre-decide ``activate`` / ``get_variation``), pure.

``experiment_decision`` decides one experiment for one user, whether or not a
flag lists it, in the reference's order (behaviour reference §4.3):

1. status: only ``"Running"`` experiments decide;
2. the forced-variation map (``set_forced_variation``): a variation id that is
   still a variation of the experiment wins;
3. whitelisting (``forcedVariations`` by user id), the sticky profile,
   audiences, then bucketing (after the group step for a ``random`` group); a
   newly bucketed variation is written into ``profile`` (steps 3 are
   :func:`~asyncexp.core.flags.decide_rules.experiment_variation`'s).

``experiment_impression`` builds the impression ``activate`` sends
(``rule_type`` ``"experiment"``, ``flag_key`` ``""``, ``enabled`` true) and
``rule_impression`` the one for any rule, where a holdout's ``campaign_id`` is
always its own id (as optimizely-sdk 5.7 sends it), never a ``layerId``.

Nothing here reads a clock, ids or storage: the caller passes the forced
variation, the profile, ``uuid`` and ``timestamp``.
"""

from __future__ import annotations

from collections.abc import Mapping

from asyncexp.core.flags.datafile import ProjectConfig
from asyncexp.core.flags.decide import bucketing_id_for
from asyncexp.core.flags.decide_rules import experiment_variation
from asyncexp.core.flags.decision_types import CmabUnavailable, ProfileState, UserView
from asyncexp.core.flags.entities import Rule, Variation
from asyncexp.core.flags.events import UserEvent, build_impression, build_visitor_attributes

__all__ = [
    "EXPERIMENT_RULE_TYPE",
    "experiment_decision",
    "experiment_impression",
    "flag_keys_of_experiment",
    "rule_impression",
]

EXPERIMENT_RULE_TYPE = "experiment"


def experiment_decision(
    config: ProjectConfig,
    rule: Rule,
    user: UserView,
    forced_variation_id: str | None,
    profile: ProfileState | None,
    reasons: list[str] | None = None,
) -> Variation | None:
    """The variation ``rule`` (an experiment) gives ``user``, or None (see the module)."""
    if rule.status != "Running":
        if reasons is not None:
            reasons.append(f'Experiment "{rule.key}" is not running.')
        return None
    if forced_variation_id is not None:
        forced = rule.variations_by_id.get(forced_variation_id)
        if forced is not None:
            if reasons is not None:
                reasons.append(
                    f'Variation "{forced.key}" is mapped to experiment "{rule.key}" and '
                    f'user "{user.user_id}" in the forced variation map'
                )
            return forced
    bucketing_id = bucketing_id_for(user)
    try:
        return experiment_variation(config, rule, user, bucketing_id, profile, reasons)
    except CmabUnavailable:  # the pre-decide API never fetches predictions
        if reasons is not None:
            reasons.append(f'CMAB experiment "{rule.key}" is only decided by decide_async.')
        return None


def flag_keys_of_experiment(config: ProjectConfig, rule: Rule) -> tuple[str, ...]:
    """The keys of the flags whose ``experimentIds`` list ``rule`` (datafile order)."""
    return tuple(key for key, flag in config.flags.items() if rule.id in flag.experiment_ids)


def rule_impression(
    config: ProjectConfig,
    *,
    user_id: str,
    attributes: Mapping[str, object],
    flag_key: str,
    rule: Rule | None,
    variation: Variation | None,
    rule_type: str,
    enabled: bool,
    uuid: str,
    timestamp: int,
) -> UserEvent:
    """An impression for ``rule`` / ``variation``; a holdout's campaign is its own id."""
    layer_id = None
    if rule is not None and rule.kind != "holdout":
        layer_id = rule.layer_id
    return build_impression(
        config.event_context,
        user_id=user_id,
        attributes=build_visitor_attributes(attributes, config.attribute_ids, config.bot_filtering),
        layer_id=layer_id,
        experiment_id=rule.id if rule is not None else None,
        variation_id=variation.id if variation is not None else None,
        flag_key=flag_key,
        rule_key=rule.key if rule is not None else "",
        rule_type=rule_type,
        variation_key=variation.key if variation is not None else "",
        enabled=enabled,
        uuid=uuid,
        timestamp=timestamp,
    )


def experiment_impression(
    config: ProjectConfig,
    rule: Rule,
    variation: Variation,
    *,
    user_id: str,
    attributes: Mapping[str, object],
    uuid: str,
    timestamp: int,
) -> UserEvent:
    """The impression ``activate`` sends for ``variation`` of the experiment ``rule``."""
    return rule_impression(
        config,
        user_id=user_id,
        attributes=attributes,
        flag_key="",
        rule=rule,
        variation=variation,
        rule_type=EXPERIMENT_RULE_TYPE,
        enabled=True,
        uuid=uuid,
        timestamp=timestamp,
    )
