"""Parse an Optimizely-format datafile (versions 2, 3 and 4) into a ``ProjectConfig``.

Rules kept here:

* Only versions "2", "3" and "4" are read; anything else raises
  ``UnsupportedVersionError``. Required keys and item shapes follow the
  reference's JSON schema, and every error names its path into the document.
* ``typedAudiences`` win over ``audiences`` with the same id; legacy audience
  conditions are JSON text and are decoded once here.
* Experiments inside groups carry their group id and policy; delivery rules are
  indexed by id like experiments, but ``experiments_by_key`` holds only
  experiments (the config view's ``experimentsMap``).
* ``holdouts`` are global (an ``includedRules`` there is ignored with a
  warning); every ``localHoldouts`` entry needs ``includedRules`` or it is
  skipped with a warning. Only running holdouts take part in decisions.
* The first ``integrations`` entry with ``key == "odp"`` gives the ODP host and
  public key; the segments to fetch are every ``qualified`` condition value, in
  first-seen order without duplicates (the reference's order is not stable).
* Size is limited before decoding and condition nesting while compiling:
  ``max_depth`` (at most ``MAX_DEPTH_LIMIT``) bounds the lists of a condition
  tree and, separately, what a leaf holds. Warnings are returned in
  ``ProjectConfig.warnings`` for the shell to log.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from asyncexp.core.flags.datafile_sections import (
    read_attribute,
    read_audiences,
    read_events,
    read_everyone_else_by_experiment,
    read_experiment_sources,
    read_groups,
    read_holdouts,
    read_odp,
    read_segments,
)
from asyncexp.core.flags.entities import Attribute, Audience, Event, FeatureFlag, Group, Rule
from asyncexp.core.flags.events import EventContext
from asyncexp.core.flags.json_input import (
    decode_document,
    opt_bool,
    opt_str,
    req_list,
    req_obj,
    req_str,
)
from asyncexp.core.flags.rule_builder import build_flag, build_rule, inject_fr_variation
from asyncexp.errors import ConfigError, UnsupportedVersionError

__all__ = [
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_DEPTH",
    "MAX_DEPTH_LIMIT",
    "SUPPORTED_VERSIONS",
    "ProjectConfig",
    "parse_datafile",
]

SUPPORTED_VERSIONS = ("2", "3", "4")
DEFAULT_MAX_BYTES = 32 * 1024 * 1024
DEFAULT_MAX_DEPTH = 32
MAX_DEPTH_LIMIT = 100
"""The highest ``max_depth`` accepted: compiling, reasons and the config view recurse
once or twice per level, and must stay well inside Python's recursion limit."""


@dataclass(frozen=True, slots=True)
class ProjectConfig:
    """One parsed datafile revision; immutable and shared by every decision."""

    version: str
    account_id: str
    project_id: str
    revision: str
    sdk_key: str | None
    environment_key: str | None
    anonymize_ip: bool
    bot_filtering: bool | None
    send_flag_decisions: bool
    region: str
    attributes: tuple[Attribute, ...]
    attribute_ids: Mapping[str, str] = field(repr=False)
    audiences: Mapping[str, Audience] = field(repr=False)
    events: Mapping[str, Event] = field(repr=False)
    groups: Mapping[str, Group] = field(repr=False)
    rules_by_id: Mapping[str, Rule] = field(repr=False)
    experiments_by_key: Mapping[str, Rule] = field(repr=False)
    experiment_ids: tuple[str, ...] = field(repr=False)  # top-level then group experiments
    rollouts: Mapping[str, tuple[Rule, ...]] = field(repr=False)
    flags: Mapping[str, FeatureFlag] = field(repr=False)
    global_holdouts: tuple[Rule, ...] = field(repr=False)
    local_holdouts: Mapping[str, tuple[Rule, ...]] = field(repr=False)  # by rule id
    odp_host: str | None
    odp_public_key: str | None = field(repr=False)  # a credential: kept out of reprs
    segments: tuple[str, ...]
    event_context: EventContext = field(repr=False)
    datafile_text: str = field(repr=False)
    raw: Mapping[str, Any] = field(repr=False, compare=False)
    warnings: tuple[str, ...] = ()
    # Decide plans by flag key, built on first use (asyncexp.core.flags.plan); the
    # only part ever written.
    plans: dict[str, Any] = field(default_factory=dict, repr=False, compare=False, init=False)


def parse_datafile(
    datafile: str | bytes | Mapping[str, Any],
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_depth: int = DEFAULT_MAX_DEPTH,
) -> ProjectConfig:
    """Parse and index a datafile; raises ``ConfigError`` naming the bad path."""
    if isinstance(max_depth, bool) or not isinstance(max_depth, int):
        raise ConfigError(f"max_depth must be an int, not {type(max_depth).__name__}")
    if not 1 <= max_depth <= MAX_DEPTH_LIMIT:
        raise ConfigError(f"max_depth must be between 1 and {MAX_DEPTH_LIMIT}, not {max_depth}")
    doc, text = decode_document(datafile, max_bytes=max_bytes, what="datafile")
    version = doc.get("version")
    if version not in SUPPORTED_VERSIONS:
        raise UnsupportedVersionError(
            f"unsupported datafile version {version!r} (supported: 2, 3, 4)", "version"
        )
    warnings: list[str] = []
    audiences, trees = read_audiences(doc, warnings, max_depth)
    evaluators = {a.id: a.evaluate for a in audiences.values()}
    compiled: dict[bytes, Any] = {}  # audience trees shared by several rules compile once

    def rule(raw: object, path: str, kind: Any, group: tuple[str, str] | None = None) -> Rule:
        return build_rule(
            raw, path, kind, evaluators, max_depth=max_depth, group=group, compiled=compiled
        )

    rollouts: dict[str, tuple[Rule, ...]] = {}
    rollout_raw: dict[str, list[Any]] = {}
    for i, raw in enumerate(req_list(doc, "rollouts", "", required=False)):
        path = f"rollouts[{i}]"
        obj = req_obj(raw, path)
        rules = req_list(obj, "experiments", path)
        rollout_raw[req_str(obj, "id", path)] = rules
        rollouts[req_str(obj, "id", path)] = tuple(
            rule(r, f"{path}.experiments[{j}]", "rollout") for j, r in enumerate(rules)
        )

    flags_raw = [
        (f"featureFlags[{i}]", req_obj(f, f"featureFlags[{i}]"))
        for i, f in enumerate(req_list(doc, "featureFlags", "", required=False))
    ]
    everyone_else = read_everyone_else_by_experiment(flags_raw, rollout_raw)

    rules_by_id: dict[str, Rule] = {}
    experiments_by_key: dict[str, Rule] = {}
    experiment_ids: list[str] = []
    for path, raw, group in read_experiment_sources(doc):
        obj = req_obj(raw, path)
        rule_id = obj.get("id")
        extra = everyone_else.get(rule_id) if isinstance(rule_id, str) else None
        if obj.get("type") == "fr" and extra is not None:
            obj = inject_fr_variation(obj, extra)
        built = rule(obj, path, "experiment", group)
        rules_by_id[built.id] = built
        experiments_by_key[built.key] = built
        experiment_ids.append(built.id)
    for delivery_rules in rollouts.values():
        for r in delivery_rules:
            rules_by_id.setdefault(r.id, r)

    groups = read_groups(doc)
    flags: dict[str, FeatureFlag] = {}
    for path, raw in flags_raw:
        flag = build_flag(raw, path, rules_by_id, rollouts, warnings)
        flags[flag.key] = flag

    global_holdouts, local_holdouts = read_holdouts(doc, rule, warnings)
    odp_host, odp_key = read_odp(doc)
    attributes = tuple(
        read_attribute(raw, f"attributes[{i}]")
        for i, raw in enumerate(req_list(doc, "attributes", ""))
    )
    account_id = req_str(doc, "accountId", "")
    project_id = req_str(doc, "projectId", "")
    revision = req_str(doc, "revision", "")
    region = opt_str(doc, "region", "", "US").upper()
    anonymize_ip = bool(opt_bool(doc, "anonymizeIP", ""))
    return ProjectConfig(
        version=version,
        account_id=account_id,
        project_id=project_id,
        revision=revision,
        sdk_key=doc.get("sdkKey") if isinstance(doc.get("sdkKey"), str) else None,
        environment_key=doc.get("environmentKey")
        if isinstance(doc.get("environmentKey"), str)
        else None,
        anonymize_ip=anonymize_ip,
        bot_filtering=opt_bool(doc, "botFiltering", ""),
        send_flag_decisions=bool(opt_bool(doc, "sendFlagDecisions", "")),
        region=region if region == "EU" else "US",
        attributes=attributes,
        attribute_ids={a.key: a.id for a in attributes},
        audiences=audiences,
        events=read_events(doc),
        groups=groups,
        rules_by_id=rules_by_id,
        experiments_by_key=experiments_by_key,
        experiment_ids=tuple(experiment_ids),
        rollouts=rollouts,
        flags=flags,
        global_holdouts=global_holdouts,
        local_holdouts=local_holdouts,
        odp_host=odp_host,
        odp_public_key=odp_key,
        segments=read_segments(trees),
        event_context=EventContext(account_id, project_id, revision, anonymize_ip, region),
        datafile_text=text,
        raw=doc,
        warnings=tuple(warnings),
    )
