"""The immutable model of an AppConfig experiment run: status, treatments, snapshot, run."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from asyncexp.core.appconfig.fields import AttributeValue
from asyncexp.core.appconfig.rule_eval import Rule

__all__ = [
    "ExperimentDefinitionSnapshot",
    "ExperimentRun",
    "FlagValue",
    "RunResult",
    "RunStatus",
    "Treatment",
]


class RunStatus(StrEnum):
    RUNNING = "RUNNING"
    DONE = "DONE"


@dataclass(frozen=True, slots=True)
class FlagValue:
    """The flag value a treatment serves; ``attributes`` is read-only."""

    enabled: bool
    attributes: Mapping[str, AttributeValue] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True, slots=True)
class Treatment:
    key: str
    weight: float
    flag_value: FlagValue
    description: str = ""


@dataclass(frozen=True, slots=True)
class RunResult:
    executive_summary: str = ""
    reasons_to_launch: str = ""
    reasons_not_to_launch: str = ""


@dataclass(frozen=True, slots=True)
class ExperimentDefinitionSnapshot:
    """The experiment definition as it was when the run started."""

    flag_key: str
    treatments: tuple[Treatment, ...]
    control: Treatment
    audience_rule: str | None = None
    id: str = ""
    application_id: str = ""
    name: str = ""
    hypothesis: str = ""
    configuration_profile_id: str = ""
    environment_id: str = ""
    audience_description: str = ""
    launch_criteria: str = ""


@dataclass(frozen=True, slots=True)
class ExperimentRun:
    """One run of an experiment; ``identity`` keys every hash of the run."""

    application_id: str
    experiment_definition_id: str
    run: int
    status: RunStatus
    exposure_percentage: float
    overrides: Mapping[str, str]
    definition: ExperimentDefinitionSnapshot
    description: str = ""
    result: RunResult | None = None
    started_at: datetime | None = None
    updated_at: datetime | None = None
    ended_at: datetime | None = None
    audience: Rule | None = field(default=None, repr=False, compare=False)
    exposure_threshold: int = field(default=0, repr=False, compare=False)
    arm_bounds: tuple[int, ...] = field(default=(), repr=False, compare=False)
    memo: dict[Any, Any] = field(default_factory=dict, repr=False, compare=False)
    """Per-run cache of derived immutable values (decisions, identity); not part of equality."""
    warnings: tuple[str, ...] = field(default=(), repr=False, compare=False)
    """Values skipped for forward compatibility (unknown union members), for the shell to log."""

    @property
    def identity(self) -> str:
        """``"{ApplicationId}:{ExperimentDefinitionId}:{Run}"``, the key of every hash."""
        value: str | None = self.memo.get("identity")
        if value is None:
            value = f"{self.application_id}:{self.experiment_definition_id}:{self.run}"
            self.memo["identity"] = value
        return value

    @property
    def flag_key(self) -> str:
        return self.definition.flag_key

    @property
    def arms(self) -> tuple[Treatment, ...]:
        """Control first, then the treatments in their order."""
        value: tuple[Treatment, ...] | None = self.memo.get("arms")
        if value is None:
            value = self.memo["arms"] = (self.definition.control, *self.definition.treatments)
        return value

    def treatment(self, key: str) -> Treatment | None:
        for arm in self.arms:
            if arm.key == key:
                return arm
        return None
