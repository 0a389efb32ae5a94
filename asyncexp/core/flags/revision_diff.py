"""Which flag keys changed between two datafile revisions (OpenFeature's ``flags_changed``).

A flag changed when it was added or removed, or when anything its decisions read
differs between the two datafiles: its own entry (variables, rule ids, rollout id),
its experiment rules (with their group), its rollout rules, the audiences those
rules name, and the holdouts that can apply to it (every global holdout, and local
holdouts of its rules). The comparison is on the datafile JSON as parsed
(``ProjectConfig.raw``), so a re-published but identical flag is not reported.
Global settings every flag shares (``botFiltering``, ``sendFlagDecisions``,
attributes, events) are not flag changes.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from asyncexp.core.flags.datafile import ProjectConfig

__all__ = ["changed_flag_keys"]


def _by_id(items: object) -> dict[str, Any]:
    if not isinstance(items, list):
        return {}
    return {str(i.get("id")): i for i in items if isinstance(i, dict)}


def _audience_ids(node: object, out: set[str]) -> None:
    if isinstance(node, str):
        if node not in ("and", "or", "not"):
            out.add(node)
    elif isinstance(node, list):
        for child in node:
            _audience_ids(child, out)


class _Index:
    """The parts of one datafile a flag's decisions read, by id."""

    def __init__(self, doc: Mapping[str, Any]) -> None:
        self.flags = {f.get("key"): f for f in doc.get("featureFlags") or [] if isinstance(f, dict)}
        self.experiments = _by_id(doc.get("experiments"))
        for group in doc.get("groups") or []:
            if isinstance(group, dict):
                for exp in group.get("experiments") or []:
                    if isinstance(exp, dict):
                        rest = {k: v for k, v in group.items() if k != "experiments"}
                        self.experiments[str(exp.get("id"))] = {**exp, "$group": rest}
        self.rollouts = _by_id(doc.get("rollouts"))
        self.audiences = _by_id(doc.get("audiences"))
        self.audiences.update(_by_id(doc.get("typedAudiences")))  # typed ones win
        self.global_holdouts = [h for h in doc.get("holdouts") or [] if isinstance(h, dict)]
        self.local_holdouts = [h for h in doc.get("localHoldouts") or [] if isinstance(h, dict)]

    def fingerprint(self, key: str) -> str | None:
        flag = self.flags.get(key)
        if flag is None:
            return None
        rules = [self.experiments.get(str(i)) for i in flag.get("experimentIds") or []]
        rollout = self.rollouts.get(str(flag.get("rolloutId")))
        rules += (rollout or {}).get("experiments") or []
        rule_ids = {str(r.get("id")) for r in rules if isinstance(r, dict)}
        local = [
            h for h in self.local_holdouts if rule_ids & set(map(str, h.get("includedRules") or []))
        ]
        audience_ids: set[str] = set()
        for part in (*rules, *self.global_holdouts, *local):
            if isinstance(part, dict):
                _audience_ids(part.get("audienceIds"), audience_ids)
                _audience_ids(part.get("audienceConditions"), audience_ids)
        audiences = [self.audiences.get(a) for a in sorted(audience_ids)]
        parts = [flag, rules, rollout, audiences, self.global_holdouts, local]
        return json.dumps(parts, sort_keys=True, default=str)


def changed_flag_keys(old: ProjectConfig | None, new: ProjectConfig) -> list[str]:
    """Sorted keys of the flags added, removed or changed from ``old`` to ``new``
    (every flag of ``new`` when ``old`` is None)."""
    after = _Index(new.raw)
    if old is None:
        return sorted(k for k in after.flags if isinstance(k, str))
    before = _Index(old.raw)
    keys: Iterable[Any] = set(before.flags) | set(after.flags)
    return sorted(
        k for k in keys if isinstance(k, str) and before.fingerprint(k) != after.fingerprint(k)
    )
