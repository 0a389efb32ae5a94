"""Value types shared by the decide flow and the public API."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from enum import StrEnum

from asyncexp.core.flags.entities import Rule, Variation
from asyncexp.errors import ArgumentTypeError

__all__ = [
    "DecideOption",
    "DecisionContext",
    "DecisionSource",
    "FlagResult",
    "ForcedDecision",
    "ProfileState",
    "UserView",
]


class DecideOption(StrEnum):
    """Decide options; the values are the reference's strings, so plain strings work too."""

    DISABLE_DECISION_EVENT = "DISABLE_DECISION_EVENT"
    ENABLED_FLAGS_ONLY = "ENABLED_FLAGS_ONLY"
    IGNORE_USER_PROFILE_SERVICE = "IGNORE_USER_PROFILE_SERVICE"
    INCLUDE_REASONS = "INCLUDE_REASONS"
    EXCLUDE_VARIABLES = "EXCLUDE_VARIABLES"


class DecisionSource(StrEnum):
    FEATURE_TEST = "feature-test"
    ROLLOUT = "rollout"
    HOLDOUT = "holdout"


@dataclass(frozen=True, slots=True)
class DecisionContext:
    """Which flag (and optionally which rule) a forced decision applies to."""

    flag_key: str
    rule_key: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.flag_key, str):
            raise ArgumentTypeError(f"flag_key must be str, not {type(self.flag_key).__name__}")
        if self.rule_key is not None and not isinstance(self.rule_key, str):
            raise ArgumentTypeError(
                f"rule_key must be str or None, not {type(self.rule_key).__name__}"
            )


@dataclass(frozen=True, slots=True)
class ForcedDecision:
    """The variation a decision context is forced into."""

    variation_key: str

    def __post_init__(self) -> None:
        if not isinstance(self.variation_key, str):
            raise ArgumentTypeError(
                f"variation_key must be str, not {type(self.variation_key).__name__}"
            )


class UserView:
    """What the decide flow reads of a user context, frozen for one call."""

    # A plain slotted class: one is built per decide call, and frozen dataclasses
    # pay for object.__setattr__ on every field.
    __slots__ = ("attributes", "forced", "segments", "user_id")

    def __init__(
        self,
        user_id: str,
        attributes: Mapping[str, object],
        segments: Collection[str] | None,
        forced: Mapping[DecisionContext, ForcedDecision],
    ) -> None:
        self.user_id = user_id
        self.attributes = attributes
        self.segments = segments
        self.forced = forced


@dataclass(slots=True)
class ProfileState:
    """The sticky-bucketing profile for one decide call: one lookup, at most one save."""

    user_id: str
    bucket_map: dict[str, dict[str, str]]
    changed: bool = False

    def as_dict(self) -> dict[str, object]:
        return {"user_id": self.user_id, "experiment_bucket_map": self.bucket_map}


class FlagResult:
    """Outcome of one flag's evaluation, before variables and events are attached."""

    __slots__ = ("bypassed_holdout", "rule", "source", "variation")

    def __init__(
        self,
        rule: Rule | None,
        variation: Variation | None,
        source: DecisionSource,
        bypassed_holdout: tuple[Rule, Variation] | None = None,
    ) -> None:
        self.rule = rule
        self.variation = variation
        self.source = source
        # A global holdout with excludeTargetedDeliveries that bucketed the user but
        # was bypassed: its impression is sent too (5.7 behaviour).
        self.bypassed_holdout = bypassed_holdout

    def __repr__(self) -> str:
        rule = self.rule.key if self.rule else None
        variation = self.variation.key if self.variation else None
        return f"FlagResult(rule={rule!r}, variation={variation!r}, source={self.source.value!r})"
