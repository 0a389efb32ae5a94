"""Treatment assignment for an entity, and the assignment-log event.

Order of the checks in :func:`assign` (the first that applies decides):

1. no run → ``NO_RUN``; a ``DONE`` run assigns nobody → ``RUN_DONE``;
2. ``TreatmentOverrides.Inline`` pins the entity → ``OVERRIDE`` (overrides
   bypass the audience and the exposure, so they work at exposure 0);
3. the audience rule must yield true: false → ``NOT_IN_AUDIENCE``, unknown
   (a context key it needs is missing) → ``AUDIENCE_UNKNOWN``. The rule sees
   the caller's context; ``$entityId`` resolves to the entity id unless the
   context sets it;
4. exposure: ``murmur3_32(f"{identity}:exposure:{entity_id}", seed=1)`` must be
   below the run's ``exposure_threshold`` → otherwise ``NOT_EXPOSED``;
5. weighted choice: ``murmur3_32(f"{identity}:treatment:{entity_id}", seed=1)``
   falls into one arm's bucket (control first, then treatments) → ``ASSIGNED``.

``identity`` is ``"{ApplicationId}:{ExperimentDefinitionId}:{Run}"``. The hash
is MurmurHash3 x86 32-bit with seed 1, as in the rest of asyncexp, over UTF-8
(lone surrogates passed through as their 3-byte form, never handed to mmh3 as str);
it depends on nothing but the run identity and the entity id, so the same entity
gets the same answer in every process and for the life of the run. Exposure and
treatment use **independent** hashes: raising the exposure (the only change
the service allows) adds entities without moving anyone already exposed to a
different treatment, and an entity's share of traffic is
``exposure/100 × weight/Σweights`` exactly, up to the 2**-32 granularity.

When the entity is not assigned, the decision falls through to the flag's
deployed value if a :class:`FeatureFlagsDocument` is given, as the agent does.

The event of :func:`build_assignment_event` has the agent's assignment-log
shape (``type`` ``AWS.AppConfig.TreatmentAssignment``, the bare treatment key
``t1``/``c``, ``experimentRunNumber`` as a string). ``region`` and
``accountId`` are included only when the caller knows them; the timestamp is
ISO-8601 UTC with milliseconds. Time comes in as an argument.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from types import MappingProxyType
from typing import Any

import mmh3

from asyncexp.core.appconfig.feature_flags import FeatureFlagsDocument
from asyncexp.core.appconfig.run import (
    MAX_ENTITY_ID,
    AttributeValue,
    ExperimentRun,
    FlagValue,
    RunStatus,
)
from asyncexp.errors import ArgumentTypeError, ValidationError

__all__ = [
    "ASSIGNMENT_EVENT_TYPE",
    "Reason",
    "TreatmentDecision",
    "assign",
    "build_assignment_event",
    "exposure_hash",
    "treatment_hash",
]

ASSIGNMENT_EVENT_TYPE = "AWS.AppConfig.TreatmentAssignment"
_EMPTY: Mapping[str, AttributeValue] = MappingProxyType({})


class Reason(StrEnum):
    ASSIGNED = "ASSIGNED"
    OVERRIDE = "OVERRIDE"
    NOT_IN_AUDIENCE = "NOT_IN_AUDIENCE"
    AUDIENCE_UNKNOWN = "AUDIENCE_UNKNOWN"
    NOT_EXPOSED = "NOT_EXPOSED"
    RUN_DONE = "RUN_DONE"
    NO_RUN = "NO_RUN"


@dataclass(frozen=True, slots=True)
class TreatmentDecision:
    """What ``decide_treatment`` returns.

    ``treatment_key`` is ``None`` when the entity is not in the experiment; then
    ``flag_value`` is the flag's deployed value when flags were given, else
    ``None``. ``variant`` is the agent's name: ``__t1__``, ``__c__``,
    ``__t1_override__``, or the flag variant served on fall-through.
    """

    reason: Reason
    treatment_key: str | None = None
    flag_value: FlagValue | None = None
    variant: str | None = None
    flag_key: str | None = None
    run: ExperimentRun | None = field(default=None, repr=False, compare=False)

    @property
    def assigned(self) -> bool:
        return self.treatment_key is not None

    @property
    def enabled(self) -> bool | None:
        return None if self.flag_value is None else self.flag_value.enabled

    @property
    def attributes(self) -> Mapping[str, AttributeValue]:
        return _EMPTY if self.flag_value is None else self.flag_value.attributes


# mmh3 gets bytes: a str with a lone surrogate makes it crash the process
# (SIGSEGV); surrogatepass is UTF-8 for every valid string.
def exposure_hash(identity: str, entity_id: str) -> int:
    key = f"{identity}:exposure:{entity_id}".encode("utf-8", "surrogatepass")
    return mmh3.hash(key, 1, signed=False)


def treatment_hash(identity: str, entity_id: str) -> int:
    key = f"{identity}:treatment:{entity_id}".encode("utf-8", "surrogatepass")
    return mmh3.hash(key, 1, signed=False)


def _check_entity(entity_id: object) -> str:
    if not isinstance(entity_id, str):
        raise ArgumentTypeError(f"entity_id must be a str, not {type(entity_id).__name__}")
    if not 1 <= len(entity_id) <= MAX_ENTITY_ID:
        raise ValidationError(f"entity_id must be 1–{MAX_ENTITY_ID} characters")
    return entity_id


def _arm_decision(run: ExperimentRun, reason: Reason, key: str) -> TreatmentDecision:
    """The decision for an arm; immutable, so built once per run and reused."""
    memo = run.memo
    decision: TreatmentDecision | None = memo.get((reason, key))
    if decision is None:
        arm = run.treatment(key)
        assert arm is not None  # the parser checks override keys
        suffix = "_override" if reason is Reason.OVERRIDE else ""
        variant = f"__{arm.key}{suffix}__"
        decision = TreatmentDecision(reason, arm.key, arm.flag_value, variant, run.flag_key, run)
        memo[(reason, key)] = decision
    return decision


def _fall_through(
    reason: Reason,
    run: ExperimentRun | None,
    flags: FeatureFlagsDocument | None,
    context: Mapping[str, Any],
    flag_key: str | None,
) -> TreatmentDecision:
    key = run.flag_key if run is not None else flag_key
    if flags is None or key is None:
        if run is None:
            return TreatmentDecision(reason, flag_key=key)
        decision: TreatmentDecision | None = run.memo.get(reason)
        if decision is None:
            decision = run.memo[reason] = TreatmentDecision(reason, flag_key=key, run=run)
        return decision
    served = flags.evaluate(key, context)
    if served is None:
        return TreatmentDecision(reason, flag_key=key, run=run)
    value = FlagValue(served.enabled, served.attributes)
    return TreatmentDecision(reason, None, value, served.variant, key, run)


def assign(
    run: ExperimentRun | None,
    entity_id: str,
    context: Mapping[str, Any] | None = None,
    *,
    flags: FeatureFlagsDocument | None = None,
    flag_key: str | None = None,
) -> TreatmentDecision:
    """Decide the treatment of ``entity_id`` in ``run`` (see the module docstring)."""
    entity_id = _check_entity(entity_id)
    if context is None:
        context = _EMPTY
    elif type(context) is not dict and not isinstance(context, Mapping):
        raise ArgumentTypeError(f"context must be a mapping, not {type(context).__name__}")
    if run is None:
        return _fall_through(Reason.NO_RUN, None, flags, context, flag_key)
    if run.status is RunStatus.DONE:
        return _fall_through(Reason.RUN_DONE, run, flags, context, flag_key)
    pinned = run.overrides.get(entity_id)
    if pinned is not None:
        return _arm_decision(run, Reason.OVERRIDE, pinned)
    audience = run.audience
    if audience is not None:
        if "entityId" in audience.references and "entityId" not in context:
            context = {**context, "entityId": entity_id}
        verdict = audience.evaluate(context)
        if verdict is not True:
            reason = Reason.AUDIENCE_UNKNOWN if verdict is None else Reason.NOT_IN_AUDIENCE
            return _fall_through(reason, run, flags, context, flag_key)
    identity = run.identity
    if exposure_hash(identity, entity_id) >= run.exposure_threshold:
        return _fall_through(Reason.NOT_EXPOSED, run, flags, context, flag_key)
    arm = run.arms[bisect_right(run.arm_bounds, treatment_hash(identity, entity_id))]
    return _arm_decision(run, Reason.ASSIGNED, arm.key)


def build_assignment_event(
    decision: TreatmentDecision,
    entity_id: str,
    timestamp: float,
    *,
    region: str | None = None,
    account_id: str | None = None,
) -> dict[str, Any]:
    """The assignment-log record of an assigned ``decision`` at ``timestamp`` (epoch seconds)."""
    run = decision.run
    if run is None or decision.treatment_key is None:
        raise ValidationError("only an assigned decision has an assignment event")
    when = datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="milliseconds")
    event: dict[str, Any] = {
        "type": ASSIGNMENT_EVENT_TYPE,
        "timestamp": when.replace("+00:00", "Z"),
    }
    if region is not None:
        event["region"] = region
    if account_id is not None:
        event["accountId"] = account_id
    event["applicationId"] = run.application_id
    event["experimentDefinitionId"] = run.experiment_definition_id
    event["experimentRunNumber"] = str(run.run)
    event["treatmentKey"] = decision.treatment_key
    event["entityId"] = entity_id
    return event
