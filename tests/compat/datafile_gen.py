"""A seeded generator of valid v4 datafiles and users for the differential tests.

``generate_datafile(seed)`` builds a datafile (a JSON-ready dict) that both
asyncexp and optimizely-sdk 5.7.0 accept, covering:

* attributes (one with the reserved ``$opt_`` prefix), legacy ``audiences``
  (conditions as JSON text) and ``typedAudiences`` (one overriding a legacy
  audience with the same id); every match type (exact with and without
  ``match``, exists, substring, gt/ge/lt/le, semver_*, qualified), unknown
  types, matches and unusable values; ``and``/``or``/``not`` and implicit-OR trees;
* rules using ``audienceIds``, ``audienceConditions`` (including ``[]`` and the
  ``$opt_dummy_audience`` pattern) and missing audience ids;
* experiments with traffic gaps, empty-entity (``""``) ranges, unknown entity
  ids and partial allocations; non-running statuses; whitelisting
  ``forcedVariations``; a mutually exclusive group (policy ``random``) and an
  ``overlapping`` group; experiment types ab/mab/td/fr (never cmab);
* feature flags with boolean/integer/double/string/json and string+subType
  json variables (values that cast, and values that fail to cast), variations
  with ``featureEnabled`` true/false/absent, rollouts with targeted rules and
  "Everyone Else", empty rollouts and flags without a rollout;
* global ``holdouts`` (with ``excludeTargetedDeliveries`` and a stray
  ``includedRules``) and ``localHoldouts`` with ``includedRules``;
* events, and the ``botFiltering`` / ``anonymizeIP`` / ``sendFlagDecisions``
  / ``region`` toggles.

``generate_users(datafile, seed, n)`` builds users with random attributes
(missing ones, wrong types, NaN/inf/too-large numbers, ``$opt_bucketing_id``
as a string or not), qualified segments (or None) and forced decisions.

What is deliberately *not* generated (reference quirks asyncexp does not copy,
or inputs on which the reference raises instead of deciding):

* a rule-level forced decision naming a variation of the flag that is not a
  variation of that rule (known difference 1);
* ``cmab`` rules: ``test_cmab_compat`` adds them to generated datafiles and
  compares ``decide_all_async`` with the reference pointed at a prediction fake;
* empty lists inside audience condition trees, and semver versions whose
  pre-release/build suffix is all digits (the reference raises);
* duplicate keys or ids across rules, holdouts and variations, except that a
  flag's variations are shared between its rules by id (as real datafiles do),
  always with identical content;
* inputs behind the divergences that ``test_decide_compat`` and
  ``test_events_compat`` pin down one by one (``test_div*``): enabled holdout
  variations, one variation id with different content in two rules, JSON nested
  ~1000 deep.
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "ATTRIBUTE_KINDS",
    "SEGMENTS",
    "ForcedSpec",
    "UserSpec",
    "flag_rules",
    "generate_datafile",
    "generate_users",
]

# Attribute name → the kind of value the conditions expect.
ATTRIBUTE_KINDS: dict[str, str] = {
    "age": "number",
    "score": "number",
    "country": "string",
    "email": "string",
    "beta": "bool",
    "app_version": "semver",
    "$opt_tier": "string",  # a datafile attribute with the reserved prefix
}
SEGMENTS = ("seg_a", "seg_b", "seg_c", "seg_d")

_STRINGS = ("US", "DE", "fr", "gold", "silver", "example.com", "@example.com", "", "ü")
_NUMBERS: tuple[float, ...] = (0, 1, 18, 21.5, 30, 65, -3, 1000, 1e3, 2**53)
# Valid semver targets; none has an all-digit suffix (the reference raises on those).
_SEMVER_TARGETS = ("1.0.0", "2.1", "2", "2.0.0", "3.0.0-beta", "2.0.0+build", "1.2.3-rc.1", "10.1")
_SEMVER_USERS = (
    "1.0.0",
    "2.1.0",
    "2",
    "2.0.0",
    "2.0.0-beta",
    "3.0.0-beta",
    "3.0.0-rc.1",
    "2.0.0+build.5",
    "1.2",
    "10.0.1",
    "2.x",
    "1.2.3.4",
    "",
    " 1.0.0",
)
_STATUSES = ("Running",) * 8 + ("Paused", "Not started", "Archived")
_EXPERIMENT_TYPES: tuple[str | None, ...] = (None, None, "ab", "mab", "td", "fr", "fr")

# Variable types and the raw values they may carry: castable and uncastable.
_VARIABLE_VALUES: dict[str, tuple[str, ...]] = {
    "boolean": ("true", "false", "True", "1", ""),
    "integer": ("0", "42", "-7", " 3", "1_000", "10.5", "1e3", "", "0x10", "99999999999999999999"),
    "double": ("3.14", "10", "-0", "1e3", "nan", "inf", "-1.5e-7", "abc", "1_0.5", ""),
    "string": ("", "hello", "ünïcode", "true", "42", '{"a": 1}'),
    "json": (
        "{}",
        "[]",
        '{"a": 1, "b": 1.0, "c": [1, 2.5, "x"], "d": null, "e": true}',
        '{"n": 1e2, "m": -0, "k": -0.0, "u64": 18446744073709551615, "i64": -9223372036854775808}',
        '{"big": 123456789012345678901234567890, "neg": [-9223372036854775809]}',
        '{"nan": NaN, "inf": Infinity}',
        '{"dup": 1, "dup": 2}',
        '{"s": "\\ud83d\\ude00 \\u00e9"}',
        "[1, 2, 3]",
        '"just a string"',
        "12",
        "12.0",
        "null",
        "true",
        "{not json}",
        "",
        '{"a": 1,}',
        ' {"ws": 0.30000000000000004} ',
        '{"deep": [[[[[{"x": [0.1, 0.2e-5]}]]]]]}',
    ),
}


@dataclass(frozen=True)
class ForcedSpec:
    flag_key: str
    rule_key: str | None
    variation_key: str


@dataclass
class UserSpec:
    user_id: str
    attributes: dict[str, Any]
    segments: list[str] | None = None
    forced: list[ForcedSpec] = field(default_factory=list)


class _Ids:
    def __init__(self, start: int) -> None:
        self._next = start

    def __call__(self) -> str:
        self._next += 1
        return str(self._next)


class _Builder:
    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.rng = random.Random(seed)
        self.id = _Ids(1_000_000 * (seed % 1000 + 1))
        self.audience_ids: list[str] = []
        self.whitelisted_users: list[str] = []

    # -- conditions -------------------------------------------------------------------
    def leaf(self) -> dict[str, Any]:
        rng = self.rng
        roll = rng.random()
        if roll < 0.1:
            return {
                "name": "",
                "value": rng.choice((*SEGMENTS, "seg_z")),
                "type": "third_party_dimension",
                "match": "qualified",
            }
        name = rng.choice(list(ATTRIBUTE_KINDS))
        kind = ATTRIBUTE_KINDS[name]
        cond: dict[str, Any] = {"name": name, "type": "custom_attribute"}
        if kind == "number":
            match = rng.choice(("exact", "gt", "ge", "lt", "le", "exists"))
            cond["value"] = rng.choice(_NUMBERS)
        elif kind == "string":
            match = rng.choice(("exact", "exact", "substring", "exists"))
            cond["value"] = rng.choice(_STRINGS)
        elif kind == "bool":
            match = rng.choice(("exact", "exact", "exists"))
            cond["value"] = rng.choice((True, False))
        else:
            match = rng.choice(("semver_eq", "semver_gt", "semver_ge", "semver_lt", "semver_le"))
            cond["value"] = rng.choice(_SEMVER_TARGETS)
        cond["match"] = match
        odd = rng.random()
        if odd < 0.04:
            cond["type"] = "unknown_type"
        elif odd < 0.08:
            cond["match"] = "regex"
        elif odd < 0.14:
            # A value its match cannot use.
            cond["value"] = rng.choice(("10", None, [1], 2**53 + 2, "2.x", 5.5))
        elif odd < 0.2 and match == "exact":
            del cond["match"]  # a missing match means exact
        elif odd < 0.23:
            cond["type"] = "third_party_dimension"
        return cond

    def condition_tree(self, depth: int = 0) -> list[Any]:
        """An audience's conditions: never an empty list inside the tree."""
        rng = self.rng
        op = rng.choice(("and", "or", "not", None))
        if op == "not":
            if rng.random() < 0.05:
                return ["not"]
            return ["not", self.condition_node(depth + 1)]
        count = rng.choice((1, 1, 2, 2, 3))
        children = [self.condition_node(depth + 1) for _ in range(count)]
        if op is None:
            return children  # implicit OR
        if rng.random() < 0.03:
            return [op]  # ["and"] is TRUE, ["or"] is FALSE
        return [op, *children]

    def condition_node(self, depth: int) -> Any:
        if depth >= 3 or self.rng.random() < 0.55:
            return self.leaf()
        return self.condition_tree(depth)

    def audiences(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        legacy: list[dict[str, Any]] = []
        typed: list[dict[str, Any]] = []
        for i in range(self.rng.randint(3, 6)):
            aid = self.id()
            tree = self.condition_tree()
            legacy.append({"id": aid, "name": f"legacy_{i}", "conditions": json.dumps(tree)})
            self.audience_ids.append(aid)
        for i in range(self.rng.randint(2, 5)):
            aid = self.id()
            typed.append({"id": aid, "name": f"typed_{i}", "conditions": self.condition_tree()})
            self.audience_ids.append(aid)
        # typedAudiences win over audiences with the same id: the legacy one must not count.
        overridden = self.rng.choice(legacy)
        typed.append(
            {"id": overridden["id"], "name": "override", "conditions": self.condition_tree()}
        )
        # An audience that only matches through the typed override.
        overridden["conditions"] = json.dumps(
            ["and", {"name": "country", "type": "custom_attribute", "value": "nowhere"}]
        )
        return legacy, typed

    def audience_refs(self) -> dict[str, Any]:
        """The audienceIds / audienceConditions of a rule."""
        rng = self.rng
        roll = rng.random()
        ids = self.audience_ids
        if roll < 0.35:
            return {"audienceIds": []}
        if roll < 0.55:
            return {"audienceIds": rng.sample(ids, rng.randint(1, 2))}
        if roll < 0.6:
            return {"audienceIds": [rng.choice(ids), "99999999"]}  # one missing audience
        if roll < 0.65:
            return {"audienceIds": [rng.choice(ids)], "audienceConditions": []}
        if roll < 0.7:
            return {"audienceIds": [rng.choice(ids)], "audienceConditions": None}
        return {
            "audienceIds": rng.choice((["$opt_dummy_audience"], [rng.choice(ids)], [])),
            "audienceConditions": self.audience_tree(0),
        }

    def audience_tree(self, depth: int) -> list[Any]:
        rng = self.rng
        op = rng.choice(("and", "or", "not", None))
        count = 1 if op == "not" else rng.choice((1, 2, 2, 3))
        # The reference's OptimizelyConfig raises on a one-item list holding a list.
        nest = op is not None or count > 1
        children: list[Any] = []
        for _ in range(count):
            if nest and depth < 2 and rng.random() < 0.3:
                children.append(self.audience_tree(depth + 1))
            else:
                children.append(rng.choice(self.audience_ids))
        return children if op is None else [op, *children]

    # -- traffic ----------------------------------------------------------------------
    def traffic(self, entity_ids: list[str]) -> list[dict[str, Any]]:
        rng = self.rng
        shape = rng.random()
        if shape < 0.4:  # full, even split
            step = 10000 // len(entity_ids)
            out = [{"entityId": e, "endOfRange": step * (i + 1)} for i, e in enumerate(entity_ids)]
            out[-1]["endOfRange"] = 10000
            return out
        if shape < 0.5:
            return []  # no traffic at all
        # Random cut points with gaps ("" entities), unknown ids and a partial end.
        cuts = sorted(rng.sample(range(1, 10000), rng.randint(1, 5)))
        if rng.random() < 0.6:
            cuts.append(10000)
        out = []
        pool = [*entity_ids, *entity_ids, ""]
        if rng.random() < 0.1:
            pool.append("77777777")  # not a variation of this rule
        for end in cuts:
            out.append({"entityId": rng.choice(pool), "endOfRange": end})
        if rng.random() < 0.1:
            out.append({"entityId": rng.choice(entity_ids), "endOfRange": 0})
        return out

    # -- variations -------------------------------------------------------------------
    def variable_defs(self) -> list[dict[str, Any]]:
        rng = self.rng
        defs: list[dict[str, Any]] = []
        kinds = ["boolean", "integer", "double", "string", "json", "string+json"]
        for i, kind in enumerate(rng.sample(kinds, rng.randint(0, len(kinds)))):
            var: dict[str, Any] = {"id": self.id(), "key": f"var_{i}_{kind.replace('+', '_')}"}
            if kind == "string+json":
                var.update(type="string", subType="json")
                values = _VARIABLE_VALUES["json"]
            else:
                var["type"] = kind
                values = _VARIABLE_VALUES[kind]
            # Mostly castable defaults; sometimes one that fails to cast.
            var["defaultValue"] = values[0] if rng.random() < 0.5 else rng.choice(values)
            defs.append(var)
        return defs

    def variation_pool(self, defs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """A flag's variations, shared by id between its rules as in real datafiles."""
        specs: list[tuple[str, bool | None]] = [("off", False), ("on", True)]
        for j in range(self.rng.randint(0, 3)):
            specs.append((f"v{j}", self.rng.choice((True, True, False, None))))
        return self.variations(specs, defs)

    def legacy_variations(self, defs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Per-experiment variations of a legacy feature test: the same keys in every
        experiment of the flag, but their own ids and values."""
        specs: list[tuple[str, bool | None]] = [
            ("control", self.rng.choice((True, False))),
            ("treatment", True),
        ]
        return self.variations(specs, defs)

    def variations(
        self, specs: list[tuple[str, bool | None]], defs: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        rng = self.rng
        pool: list[dict[str, Any]] = []
        for key, enabled in specs:
            vid = self.id() if rng.random() < 0.93 else f"var_{self.id()}"  # non-numeric ids too
            variation: dict[str, Any] = {"id": vid, "key": key}
            if enabled is not None:
                variation["featureEnabled"] = enabled
            variables = []
            for var in defs:
                if rng.random() < 0.7:
                    kind = "json" if var.get("subType") == "json" else var["type"]
                    variables.append({"id": var["id"], "value": rng.choice(_VARIABLE_VALUES[kind])})
            variation["variables"] = variables
            pool.append(variation)
        return pool

    # -- rules ------------------------------------------------------------------------
    def experiment(self, key: str, variations: list[dict[str, Any]]) -> dict[str, Any]:
        rng = self.rng
        rule: dict[str, Any] = {
            "id": self.id(),
            "key": key,
            "status": rng.choice(_STATUSES),
            "layerId": self.id() if rng.random() < 0.9 else "",
            "variations": variations,
            "trafficAllocation": self.traffic([v["id"] for v in variations]),
            "forcedVariations": {},
        }
        rule.update(self.audience_refs())
        if rng.random() < 0.3:
            for _ in range(rng.randint(1, 2)):
                uid = f"wl_{self.seed}_{len(self.whitelisted_users)}"
                self.whitelisted_users.append(uid)
                choice = rng.choice([*[v["key"] for v in variations], "not_a_variation"])
                rule["forcedVariations"][uid] = choice
        kind = rng.choice(_EXPERIMENT_TYPES)
        if kind is not None:
            rule["type"] = kind
        return rule

    def rollout(self, flag_index: int, pool: list[dict[str, Any]]) -> dict[str, Any]:
        rng = self.rng
        rules: list[dict[str, Any]] = []
        count = rng.randint(0, 3)
        for r in range(count + 1):
            last = r == count
            variations = [rng.choice(pool)] if rng.random() < 0.85 else rng.sample(pool, 2)
            rule: dict[str, Any] = {
                "id": self.id(),
                "key": f"default-rollout-{self.seed}-{flag_index}"
                if last
                else (f"rollout_{self.seed}_{flag_index}_{r}"),
                "status": "Running" if rng.random() < 0.9 else "Paused",
                "layerId": self.id(),
                "variations": variations,
                "trafficAllocation": self.traffic([v["id"] for v in variations]),
                "forcedVariations": {},
            }
            if last and rng.random() < 0.8:
                rule["audienceIds"] = []
            else:
                rule.update(self.audience_refs())
            if rng.random() < 0.1 and self.whitelisted_users:
                # Whitelisting does not apply to delivery rules.
                rule["forcedVariations"] = {
                    rng.choice(self.whitelisted_users): variations[0]["key"]
                }
            rules.append(rule)
        return {"id": self.id(), "experiments": rules}

    def holdout(self, key: str, local: bool, rule_ids: list[str]) -> dict[str, Any]:
        rng = self.rng
        variations = [
            {"id": self.id(), "key": f"{key}_off", "featureEnabled": False, "variables": []}
        ]
        if rng.random() < 0.2:
            variations.append({"id": self.id(), "key": f"{key}_off2", "featureEnabled": False})
        ids = [v["id"] for v in variations]
        end = rng.choice((500, 1500, 3000, 10000))
        traffic: list[dict[str, Any]] = [{"entityId": rng.choice(ids), "endOfRange": end}]
        if rng.random() < 0.3:
            traffic.insert(0, {"entityId": "", "endOfRange": end // 2})
        holdout: dict[str, Any] = {
            "id": self.id(),
            "key": key,
            "status": rng.choice(("Running", "Running", "Running", "Draft", "Concluded")),
            "variations": variations,
            "trafficAllocation": traffic,
        }
        holdout.update(self.audience_refs())
        if local:
            chosen = rng.sample(rule_ids, min(len(rule_ids), rng.randint(1, 3)))
            if rng.random() < 0.2:
                chosen.append("55555555")  # names no rule
            holdout["includedRules"] = chosen
        else:
            if rng.random() < 0.35:
                # Read for its truthiness, as the reference does.
                holdout["excludeTargetedDeliveries"] = rng.choice((True, True, 1, "yes", False))
            if rng.random() < 0.1 and rule_ids:
                holdout["includedRules"] = [rng.choice(rule_ids)]  # ignored on a global holdout
        return holdout

    # -- the datafile -----------------------------------------------------------------
    def build(self) -> dict[str, Any]:
        rng = self.rng
        seed = self.seed
        attributes = [
            {"id": self.id(), "key": key} for key in ATTRIBUTE_KINDS if rng.random() < 0.85
        ]
        legacy, typed = self.audiences()

        experiments: list[dict[str, Any]] = []
        group_exps: list[dict[str, Any]] = []
        overlap_exps: list[dict[str, Any]] = []
        flags: list[dict[str, Any]] = []
        rollouts: list[dict[str, Any]] = []
        experiment_rule_ids: list[str] = []
        rollout_rule_ids: list[str] = []

        for f in range(rng.randint(4, 7)):
            defs = self.variable_defs()
            pool = self.variation_pool(defs)
            legacy_flag = rng.random() < 0.2
            exp_ids: list[str] = []
            for e in range(rng.choice((0, 1, 1, 2, 2, 3))):
                if legacy_flag:
                    variations = self.legacy_variations(defs)
                else:
                    variations = rng.sample(pool, rng.randint(1, min(3, len(pool))))
                exp = self.experiment(f"exp_{seed}_{f}_{e}", variations)
                where = rng.random()
                if where < 0.2:
                    group_exps.append(exp)
                elif where < 0.25:
                    overlap_exps.append(exp)
                else:
                    experiments.append(exp)
                exp_ids.append(exp["id"])
                experiment_rule_ids.append(exp["id"])
            roll = rng.random()
            rollout_id = ""
            if roll < 0.85:
                rollout = self.rollout(f, pool)
                rollouts.append(rollout)
                rollout_id = rollout["id"]
                rollout_rule_ids.extend(r["id"] for r in rollout["experiments"])
            elif roll < 0.9:
                rollout = {"id": self.id(), "experiments": []}
                rollouts.append(rollout)
                rollout_id = rollout["id"]
            flags.append(
                {
                    "id": self.id(),
                    "key": f"flag_{seed}_{f}",
                    "experimentIds": exp_ids,
                    "rolloutId": rollout_id,
                    "variables": defs,
                }
            )

        # Experiments that belong to no flag still take part in events.
        loose = self.experiment(
            f"loose_{seed}",
            [{"id": self.id(), "key": "a", "variables": []}, {"id": self.id(), "key": "b"}],
        )
        experiments.append(loose)

        groups: list[dict[str, Any]] = []
        if group_exps:
            gids = [e["id"] for e in group_exps]
            group_traffic = self.traffic(gids)
            if not group_traffic:
                group_traffic = [{"entityId": gids[0], "endOfRange": 10000}]
            groups.append(
                {
                    "id": self.id(),
                    "policy": "random",
                    "trafficAllocation": group_traffic,
                    "experiments": group_exps,
                }
            )
        if overlap_exps:
            groups.append(
                {
                    "id": self.id(),
                    "policy": "overlapping",
                    "trafficAllocation": [],
                    "experiments": overlap_exps,
                }
            )

        all_rule_ids = experiment_rule_ids + rollout_rule_ids
        holdouts = [
            self.holdout(f"holdout_{seed}_{i}", False, all_rule_ids)
            for i in range(rng.choice((0, 0, 1, 1, 2)))
        ]
        local_holdouts = [
            self.holdout(f"local_holdout_{seed}_{i}", True, all_rule_ids)
            for i in range(rng.choice((0, 1, 1, 2)) if all_rule_ids else 0)
        ]
        all_exp_ids = [e["id"] for e in experiments + group_exps + overlap_exps]
        events = [
            {
                "id": self.id(),
                "key": key,
                "experimentIds": rng.sample(all_exp_ids, min(len(all_exp_ids), rng.randint(0, 3))),
            }
            for key in ("purchase", "signup", "view")
        ]

        datafile: dict[str, Any] = {
            "version": "4",
            "accountId": str(10000 + seed),
            "projectId": str(20000 + seed),
            "revision": str(rng.randint(1, 500)),
            "attributes": attributes,
            "audiences": legacy,
            "typedAudiences": typed,
            "experiments": experiments,
            "groups": groups,
            "featureFlags": flags,
            "rollouts": rollouts,
            "events": events,
            "variables": [],
        }
        if holdouts:
            datafile["holdouts"] = holdouts
        if local_holdouts:
            datafile["localHoldouts"] = local_holdouts
        for key in ("botFiltering", "anonymizeIP", "sendFlagDecisions"):
            choice = rng.choice((True, False, None))
            if choice is not None:
                datafile[key] = choice
        region = rng.choice(("US", "EU", None))
        if region is not None:
            datafile["region"] = region
        return datafile


def generate_datafile(seed: int, **overrides: Any) -> dict[str, Any]:
    """A valid v4 datafile for ``seed``; ``overrides`` replace top-level keys."""
    datafile = _Builder(seed).build()
    datafile.update(overrides)
    return datafile


def _all_experiments(datafile: dict[str, Any]) -> list[dict[str, Any]]:
    out = list(datafile["experiments"])
    for group in datafile["groups"]:
        out.extend(group["experiments"])
    return out


def flag_rules(datafile: dict[str, Any], flag_key: str) -> list[dict[str, Any]]:
    """The experiment and delivery rules of a flag, in evaluation order."""
    experiments = {e["id"]: e for e in _all_experiments(datafile)}
    rollouts = {r["id"]: r for r in datafile["rollouts"]}
    flag = next(f for f in datafile["featureFlags"] if f["key"] == flag_key)
    rules = [experiments[e] for e in flag["experimentIds"]]
    if flag["rolloutId"]:
        rules.extend(rollouts[flag["rolloutId"]]["experiments"])
    return rules


def _number(rng: random.Random) -> Any:
    return rng.choice(
        (0, 17, 18, 21.5, 30, 64.999, 65, 1000, -3, 1e3, 2**53, 2**53 + 2, -(2**53) - 1)
    )


def _attribute_value(rng: random.Random, kind: str) -> Any:
    roll = rng.random()
    if roll < 0.05:
        return None
    if roll < 0.1:
        return rng.choice((math.nan, math.inf, -math.inf))
    if roll < 0.22:  # a value of some other type
        return rng.choice((True, False, "30", 30, 2.5, ["US"], {"a": 1}, "2.0.0"))
    if kind == "number":
        return _number(rng)
    if kind == "string":
        value = rng.choice(_STRINGS)
        return value + rng.choice(("", "", "x", "@example.com")) if value else value
    if kind == "bool":
        return rng.choice((True, False))
    return rng.choice(_SEMVER_USERS)


def generate_users(datafile: dict[str, Any], seed: int, n: int) -> list[UserSpec]:
    """``n`` users for ``datafile``; forced decisions only ever name valid contexts."""
    rng = random.Random(seed * 7919 + 17)
    whitelisted = sorted({u for e in _all_experiments(datafile) for u in e["forcedVariations"]})
    flags = [f["key"] for f in datafile["featureFlags"]]
    users: list[UserSpec] = []
    for i in range(n):
        roll = rng.random()
        if roll < 0.08 and whitelisted:
            user_id = rng.choice(whitelisted)
        elif roll < 0.1:
            user_id = rng.choice(("", "üser", "user with spaces", "12345"))
        else:
            user_id = f"user_{seed}_{i}"
        attributes: dict[str, Any] = {}
        for name, kind in ATTRIBUTE_KINDS.items():
            if rng.random() < 0.7:
                attributes[name] = _attribute_value(rng, kind)
        if rng.random() < 0.15:
            attributes["$opt_bucketing_id"] = (
                f"bucket_{rng.randint(0, 50)}" if rng.random() < 0.8 else rng.choice((7, None, ""))
            )
        if rng.random() < 0.1:
            attributes["$opt_user_agent"] = "Mozilla/5.0"
        if rng.random() < 0.1:
            attributes["unlisted"] = rng.choice(("x", 1, True))
        if rng.random() < 0.03:
            attributes["$opt_bot_filtering"] = rng.choice((False, "yes"))  # a reserved name
        if rng.random() < 0.3:
            # Shuffle the insertion order: visitor attributes keep it.
            items = list(attributes.items())
            rng.shuffle(items)
            attributes = dict(items)
        segments: list[str] | None = None
        if rng.random() < 0.6:
            segments = rng.sample((*SEGMENTS, "seg_unknown"), rng.randint(0, 3))
        forced: list[ForcedSpec] = []
        if rng.random() < 0.3 and flags:
            for _ in range(rng.randint(1, 3)):
                forced.append(_forced_spec(rng, datafile, rng.choice(flags)))
        users.append(UserSpec(user_id, attributes, segments, forced))
    return users


def _forced_spec(rng: random.Random, datafile: dict[str, Any], flag_key: str) -> ForcedSpec:
    rules = flag_rules(datafile, flag_key)
    if not rules or rng.random() < 0.35:
        keys = sorted({v["key"] for r in rules for v in r["variations"]})
        return ForcedSpec(flag_key, None, rng.choice([*keys, "no_such_variation"]))
    rule = rng.choice(rules)
    # Known difference 1: the reference resolves the key among all the flag's
    # variations (the first with that key wins), asyncexp among the rule's. Only keys
    # that name one variation in the whole flag, or no variation at all, agree.
    ids_by_key: dict[str, set[str]] = {}
    for r in rules:
        for v in r["variations"]:
            ids_by_key.setdefault(v["key"], set()).add(v["id"])
    keys = [v["key"] for v in rule["variations"] if len(ids_by_key[v["key"]]) == 1]
    return ForcedSpec(flag_key, rule["key"], rng.choice([*keys, "no_such_variation"]))
