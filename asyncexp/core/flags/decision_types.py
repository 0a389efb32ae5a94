"""Value types shared by the decide flow and the public API."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from asyncexp.core.flags.bucketing import BUCKETING_ID_ATTRIBUTE
from asyncexp.core.flags.entities import Rule, Variation
from asyncexp.errors import ArgumentTypeError

__all__ = [
    "CmabAnswer",
    "CmabSource",
    "CmabUnavailable",
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
    # CMAB cache options (read by ``decide_async``; see asyncexp.flags.cmab).
    IGNORE_CMAB_CACHE = "IGNORE_CMAB_CACHE"
    RESET_CMAB_CACHE = "RESET_CMAB_CACHE"
    INVALIDATE_USER_CMAB_CACHE = "INVALIDATE_USER_CMAB_CACHE"


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


@dataclass(frozen=True, slots=True)
class CmabAnswer:
    """The prediction service's answer for one user and CMAB rule, as the decide flow
    uses it: ``variation_id`` and ``cmab_uuid``, the reasons the lookup gave (cache hit,
    miss, ...), or ``failed`` when the service could not answer."""

    variation_id: str | None
    cmab_uuid: str | None
    reasons: tuple[str, ...] = ()
    failed: bool = False


class CmabSource(Protocol):
    """Where the decide flow reads CMAB answers; ``None`` means no answer is at hand."""

    def answer(self, rule: Rule, user: UserView) -> CmabAnswer | None: ...


class CmabUnavailable(Exception):  # noqa: N818 - a signal inside the decide flow, not an error
    """Raised inside the decide flow when a CMAB rule is reached without a usable answer;
    :func:`~asyncexp.core.flags.decide.evaluate_flag` turns it into an error result."""

    def __init__(self, rule: Rule, answer: CmabAnswer | None) -> None:
        super().__init__(rule.key)
        self.rule = rule
        self.answer = answer


class UserView:
    """What the decide flow reads of a user context, frozen for one call."""

    # A plain slotted class: one is built per decide call, and frozen dataclasses
    # pay for object.__setattr__ on every field.
    __slots__ = ("attributes", "bucketing_id", "cmab", "forced", "segments", "user_id")

    def __init__(
        self,
        user_id: str,
        attributes: Mapping[str, object],
        segments: Collection[str] | None,
        forced: Mapping[DecisionContext, ForcedDecision],
        cmab: CmabSource | None = None,
    ) -> None:
        self.user_id = user_id
        self.attributes = attributes
        self.segments = segments
        self.forced = forced
        self.cmab = cmab
        # ``$opt_bucketing_id`` when it is a string, else the user id.
        value = attributes.get(BUCKETING_ID_ATTRIBUTE)
        self.bucketing_id: str = value if isinstance(value, str) else user_id

    def with_cmab(self, cmab: CmabSource) -> UserView:
        """This view with a CMAB source (views may be shared: never set it in place)."""
        return UserView(self.user_id, self.attributes, self.segments, self.forced, cmab)


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

    __slots__ = ("bypassed_holdout", "cmab_uuid", "error", "rule", "source", "variation")

    def __init__(
        self,
        rule: Rule | None,
        variation: Variation | None,
        source: DecisionSource,
        bypassed_holdout: tuple[Rule, Variation] | None = None,
        *,
        cmab_uuid: str | None = None,
        error: bool = False,
    ) -> None:
        self.rule = rule
        self.variation = variation
        self.source = source
        # A global holdout with excludeTargetedDeliveries that bucketed the user but
        # was bypassed: its impression is sent too (5.7 behaviour).
        self.bypassed_holdout = bypassed_holdout
        # The prediction id of a CMAB decision (sent in the impression's metadata).
        self.cmab_uuid = cmab_uuid
        # A CMAB rule was reached without a usable answer: the reference's error
        # decision (no variation, no variables, no impression).
        self.error = error

    def __repr__(self) -> str:
        rule = self.rule.key if self.rule else None
        variation = self.variation.key if self.variation else None
        return f"FlagResult(rule={rule!r}, variation={variation!r}, source={self.source.value!r})"
