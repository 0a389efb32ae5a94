"""An immutable, read-only view of one datafile revision (Optimizely's ``OptimizelyConfig``).

``build_config_view(config)`` turns a parsed ``ProjectConfig`` into a
``ProjectConfigView``; it does no I/O and is meant to be built once per
revision, on first use. Attribute names are the reference's snake_case ones;
``to_dict()`` gives the camelCase form of the OptimizelyConfig / EyeofcloudConfig
object model as fresh plain dicts and lists, and every view also reads by those
camelCase keys (``config['featuresMap'][key]['deliveryRules']``, see
``config_view_audiences.KeyedView``).

Rules (reference §8, optimizely-sdk 5.7.0):

* ``sdk_key`` and ``environment_key`` are ``''`` when the datafile has none;
  ``get_datafile()`` returns the datafile text exactly as it was given.
* ``experiments_map`` holds top-level then group experiments by key (a
  duplicate key: the last one wins), never delivery rules.
* ``features_map``: each flag's ``variables_map`` holds its defaults, ``type``
  being the effective type (``string`` with ``subType: json`` is ``json``);
  ``experiment_rules`` follow ``experimentIds`` (the same objects as in
  ``experiments_map``), ``delivery_rules`` the rollout's order, and the
  deprecated ``experiments_map`` maps the experiment rules by key.
* A variation's ``variables_map`` is the flag's defaults, overridden by the
  variation's own values only when its ``featureEnabled`` is true; an
  experiment that belongs to no flag has ``{}``. An experiment listed by
  several flags takes the variables of the last one, as in the reference.
  A Feature Rollout (``fr``) experiment includes the injected "everyone
  else" variation, as the reference's does, with ``feature_enabled`` false
  when the datafile leaves it out (the reference's copy defaults it so).
* ``attributes`` and ``events`` keep datafile order (events with
  ``experimentIds`` in datafile order); audiences and the rule audience strings
  are described in ``asyncexp.flags.config_view_audiences``.

Deliberate differences from the reference (the compat tests assert them):

* Delivery-rule variations show their real variable values when enabled,
  exactly like experiment-rule variations; the reference shows only the
  flag's defaults there, which is not what a decision on that rule returns.
* Rule audience strings are rendered from ``audienceIds`` when a rule has no
  ``audienceConditions``, and are always well formed (see
  ``config_view_audiences``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, ClassVar

from asyncexp.core.flags.datafile import ProjectConfig
from asyncexp.core.flags.entities import FeatureFlag, Rule, VariableDef, Variation
from asyncexp.flags.config_view_audiences import (
    AudienceView,
    KeyedView,
    build_audience_views,
    render_audiences,
)

__all__ = [
    "AttributeView",
    "AudienceView",
    "EventView",
    "ExperimentView",
    "FeatureView",
    "ProjectConfigView",
    "VariableView",
    "VariationView",
    "build_config_view",
]


@dataclass(frozen=True, slots=True)
class VariableView(KeyedView):
    id: str
    key: str
    type: str
    value: str

    _KEYS: ClassVar[Mapping[str, str]] = {
        "id": "id",
        "key": "key",
        "type": "type",
        "value": "value",
    }

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "key": self.key, "type": self.type, "value": self.value}


@dataclass(frozen=True, slots=True)
class VariationView(KeyedView):
    id: str
    key: str
    feature_enabled: bool | None
    variables_map: Mapping[str, VariableView]

    _KEYS: ClassVar[Mapping[str, str]] = {
        "id": "id",
        "key": "key",
        "featureEnabled": "feature_enabled",
        "variablesMap": "variables_map",
    }

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "key": self.key,
            "featureEnabled": self.feature_enabled,
            "variablesMap": _dicts(self.variables_map),
        }


@dataclass(frozen=True, slots=True)
class ExperimentView(KeyedView):
    id: str
    key: str
    audiences: str
    variations_map: Mapping[str, VariationView]

    _KEYS: ClassVar[Mapping[str, str]] = {
        "id": "id",
        "key": "key",
        "audiences": "audiences",
        "variationsMap": "variations_map",
    }

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "key": self.key,
            "audiences": self.audiences,
            "variationsMap": _dicts(self.variations_map),
        }


@dataclass(frozen=True, slots=True)
class FeatureView(KeyedView):
    id: str
    key: str
    experiment_rules: tuple[ExperimentView, ...]
    delivery_rules: tuple[ExperimentView, ...]
    variables_map: Mapping[str, VariableView]
    experiments_map: Mapping[str, ExperimentView]  # deprecated in the reference too

    _KEYS: ClassVar[Mapping[str, str]] = {
        "id": "id",
        "key": "key",
        "experimentRules": "experiment_rules",
        "deliveryRules": "delivery_rules",
        "experimentsMap": "experiments_map",
        "variablesMap": "variables_map",
    }

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "key": self.key,
            "experimentRules": [e.to_dict() for e in self.experiment_rules],
            "deliveryRules": [e.to_dict() for e in self.delivery_rules],
            "experimentsMap": _dicts(self.experiments_map),
            "variablesMap": _dicts(self.variables_map),
        }


@dataclass(frozen=True, slots=True)
class AttributeView(KeyedView):
    id: str
    key: str

    _KEYS: ClassVar[Mapping[str, str]] = {"id": "id", "key": "key"}

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "key": self.key}


@dataclass(frozen=True, slots=True)
class EventView(KeyedView):
    id: str
    key: str
    experiment_ids: tuple[str, ...]

    _KEYS: ClassVar[Mapping[str, str]] = {
        "id": "id",
        "key": "key",
        "experimentIds": "experiment_ids",
    }

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "key": self.key, "experimentIds": list(self.experiment_ids)}


@dataclass(frozen=True, slots=True)
class ProjectConfigView(KeyedView):
    revision: str
    sdk_key: str
    environment_key: str
    experiments_map: Mapping[str, ExperimentView]
    features_map: Mapping[str, FeatureView]
    attributes: tuple[AttributeView, ...]
    audiences: tuple[AudienceView, ...]
    events: tuple[EventView, ...]
    _datafile: str = field(repr=False)

    _KEYS: ClassVar[Mapping[str, str]] = {
        "revision": "revision",
        "sdkKey": "sdk_key",
        "environmentKey": "environment_key",
        "experimentsMap": "experiments_map",
        "featuresMap": "features_map",
        "attributes": "attributes",
        "audiences": "audiences",
        "events": "events",
    }

    def get_datafile(self) -> str:
        """The datafile text this view was built from, unchanged."""
        return self._datafile

    def to_dict(self) -> dict[str, Any]:
        return {
            "revision": self.revision,
            "sdkKey": self.sdk_key,
            "environmentKey": self.environment_key,
            "experimentsMap": _dicts(self.experiments_map),
            "featuresMap": _dicts(self.features_map),
            "attributes": [a.to_dict() for a in self.attributes],
            "audiences": [a.to_dict() for a in self.audiences],
            "events": [e.to_dict() for e in self.events],
        }


def _dicts(views: Mapping[str, Any]) -> dict[str, Any]:
    return {key: view.to_dict() for key, view in views.items()}


def _frozen(items: Iterable[tuple[str, Any]]) -> Mapping[str, Any]:
    # dict() keeps the first position of a repeated key and its last value, as the reference.
    return MappingProxyType(dict(items))


class _Builder:
    def __init__(self, config: ProjectConfig, names: Mapping[str, str]) -> None:
        self.names = names
        self.defaults: dict[int, Mapping[str, VariableView]] = {}  # by id(flag)
        self.owner: dict[str, FeatureFlag] = {}  # experiment id → the last flag listing it
        for flag in config.flags.values():
            for exp_id in flag.experiment_ids:
                self.owner[exp_id] = flag
        self.experiments: dict[int, ExperimentView] = {}  # by id(rule): one view per rule

    def flag_defaults(self, flag: FeatureFlag) -> Mapping[str, VariableView]:
        found = self.defaults.get(id(flag))
        if found is None:
            found = self.defaults[id(flag)] = _frozen(
                (d.key, VariableView(d.id, d.key, d.type, d.default_value)) for d in flag.variables
            )
        return found

    def experiment(self, rule: Rule) -> ExperimentView:
        view = self.experiments.get(id(rule))
        if view is None:
            view = self.experiments[id(rule)] = self.rule(rule, self.owner.get(rule.id))
        return view

    def rule(self, rule: Rule, flag: FeatureFlag | None) -> ExperimentView:
        # The parser appended the flag's everyone-else variation to an fr experiment.
        injected = -1
        if rule.type == "fr" and rule.kind == "experiment" and flag is not None:
            rollout = flag.rollout_rules
            injected = len(rule.variations) - 1 if rollout and rollout[-1].variations else -1
        return ExperimentView(
            id=rule.id,
            key=rule.key,
            # The tree decisions evaluate: audienceConditions, else audienceIds.
            audiences=render_audiences(rule.audience_tree, self.names),
            variations_map=_frozen(
                (v.key, self.variation(v, flag, fr_extra=i == injected))
                for i, v in enumerate(rule.variations)
            ),
        )

    def variation(
        self, variation: Variation, flag: FeatureFlag | None, *, fr_extra: bool = False
    ) -> VariationView:
        if flag is None:
            variables: Mapping[str, VariableView] = MappingProxyType({})
        elif variation.feature_enabled and variation.values:
            variables = _frozen(
                (d.key, _valued(d, variation.values.get(d.id))) for d in flag.variables
            )
        else:
            variables = self.flag_defaults(flag)  # shared: the views are immutable
        enabled = variation.feature_enabled
        if fr_extra and enabled is None:
            enabled = False  # the reference rebuilds the injected copy with a false default
        return VariationView(variation.id, variation.key, enabled, variables)

    def feature(self, flag: FeatureFlag) -> FeatureView:
        experiment_rules = tuple(self.experiment(rule) for rule in flag.experiments)
        return FeatureView(
            id=flag.id,
            key=flag.key,
            experiment_rules=experiment_rules,
            # Built per flag: a rollout shared by two flags shows each flag's variables.
            delivery_rules=tuple(self.rule(rule, flag) for rule in flag.rollout_rules),
            variables_map=self.flag_defaults(flag),
            experiments_map=_frozen((e.key, e) for e in experiment_rules),
        )


def _valued(definition: VariableDef, value: str | None) -> VariableView:
    return VariableView(
        definition.id,
        definition.key,
        definition.type,
        definition.default_value if value is None else value,
    )


def build_config_view(config: ProjectConfig) -> ProjectConfigView:
    """The view of ``config``; pure, so callers may cache it per revision."""
    audiences = build_audience_views(config.raw)
    # Later entries win, but legacy entries never repeat a typed id, so typed names win.
    builder = _Builder(config, {a.id: a.name for a in audiences})
    return ProjectConfigView(
        revision=config.revision,
        sdk_key=config.sdk_key or "",
        environment_key=config.environment_key or "",
        experiments_map=_frozen(
            (key, builder.experiment(rule)) for key, rule in config.experiments_by_key.items()
        ),
        features_map=_frozen((f.key, builder.feature(f)) for f in config.flags.values()),
        attributes=tuple(AttributeView(a.id, a.key) for a in config.attributes),
        audiences=audiences,
        # From the raw list: the parsed events are keyed by key and would drop repeats.
        events=tuple(
            EventView(e["id"], e["key"], tuple(e["experimentIds"]))
            for e in config.raw.get("events") or ()
        ),
        _datafile=config.datafile_text,
    )
