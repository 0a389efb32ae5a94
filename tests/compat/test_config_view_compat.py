"""Differential tests: the project-config view against optimizely-sdk 5.7.0's OptimizelyConfig.

On the bench datafile, the hand-written test datafile (and variants of it) and
generated datafiles, every field of ``get_optimizely_config()`` is compared
with ``build_config_view`` strictly (types included, ``None`` is not ``False``,
key order of every map included), except exactly the documented deliberate
differences, which are asserted to differ in the documented way:

* D1 - delivery-rule variations: the reference shows the flag's defaults; the
  view shows the variation's values when it is enabled (computed here from the
  raw datafile) and the defaults otherwise.
* D2 - a rule without ``audienceConditions``: the reference's audience string
  is ``''``; the view renders ``audienceIds`` as an implicit OR.
* D3 - audience trees the reference renders malformed (a nested list followed
  by two or more operands, or a lone nested operand after ``and``/``or``): the
  view's string has the same names, parentheses and NOTs in the same order,
  only with the AND/OR words placed correctly.
"""

from __future__ import annotations

import copy
import json
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from optimizely import optimizely as optimizely_module

from asyncexp.core.flags.datafile import parse_datafile
from asyncexp.examples_data import example_datafile
from asyncexp.flags.config_view import (
    ExperimentView,
    FeatureView,
    ProjectConfigView,
    VariationView,
    build_config_view,
)
from tests.compat.datafile_gen import generate_datafile
from tests.datafiles import base_datafile

# The bench datafile (shared/bench/datafile_50.json) ships in the package as the example.
BENCH_DATAFILE_TEXT = example_datafile()
GENERATED_SEEDS = range(40)
_OPERATORS = ("and", "or", "not")


@pytest.fixture(autouse=True)
def _quiet() -> Iterator[None]:
    # asyncexp's datafile warnings and the reference's duplicate-key warning are noise here.
    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)
    yield
    logging.disable(previous)


def reference_config(text: str) -> Any:
    client = optimizely_module.Optimizely(datafile=text)
    try:
        config = client.get_optimizely_config()
    finally:
        client.close()
    assert config is not None, "the reference rejected the datafile"
    return config


# -- the documented differences, modelled from the raw datafile ----------------------------


def reference_renders_well(tree: Any) -> bool:
    """Whether the reference's audience string for ``tree`` is well formed (see D3)."""
    if not isinstance(tree, list):
        return False  # a string is rendered character by character
    if not tree:
        return True
    has_op = isinstance(tree[0], str) and tree[0] in _OPERATORS
    operands = tree[1:] if has_op else tree
    if any(isinstance(n, str) and n in _OPERATORS for n in operands):
        return False  # an operator word in the middle changes the reference's joiner
    if has_op and tree[0] == "not" and len(operands) > 1:
        return False
    if len(operands) == 1 and isinstance(operands[0], list) and tree[0] != "not":
        return False  # a dangling operator, or (without one) the reference raises
    if any(isinstance(n, list) for n in tree[:-2]):
        return False  # a nested list followed by a non-final operand loses its operator
    return all(reference_renders_well(n) for n in operands if isinstance(n, list))


def shape_tokens(rendered: str) -> list[str]:
    """A rendered string without its AND/OR words: quoted names, parentheses and NOT."""
    return re.findall(r'"[^"]*"|\(|\)|\bNOT\b', rendered)


def enabled_values(variation: dict[str, Any], flag: dict[str, Any]) -> dict[str, str]:
    """A delivery variation's variables as the view shows them (D1), from the raw datafile."""
    values = {v["id"]: v["value"] for v in variation.get("variables", [])}
    out: dict[str, str] = {}
    for var in flag.get("variables", []):
        use_own = variation.get("featureEnabled") is True and var["id"] in values
        out[var["key"]] = values[var["id"]] if use_own else var["defaultValue"]
    return out


# -- the comparison -------------------------------------------------------------------------


@dataclass
class Comparison:
    """Compares one datafile field by field and counts what it compared."""

    raw: dict[str, Any]
    names: dict[str, str] = field(default_factory=dict)
    mismatches: list[str] = field(default_factory=list)
    fields: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    raw_experiments_by_id: dict[str, Any] = field(default_factory=dict)

    @property
    def raw_experiments(self) -> list[dict[str, Any]]:
        groups = [e for g in self.raw["groups"] for e in g["experiments"]]
        return [*self.raw["experiments"], *groups]

    def same(self, where: str, ref: Any, ours: Any) -> None:
        self.fields += 1
        if type(ref) is not type(ours) or ref != ours:
            self.mismatches.append(f"{where}: reference {ref!r} | asyncexp {ours!r}")

    def count(self, what: str) -> None:
        self.counts[what] = self.counts.get(what, 0) + 1

    def run(self, ref: Any, view: ProjectConfigView, text: str) -> None:
        self.same("revision", ref.revision, view.revision)
        self.same("sdk_key", ref.sdk_key, view.sdk_key)
        self.same("environment_key", ref.environment_key, view.environment_key)
        self.same("get_datafile()", ref.get_datafile(), view.get_datafile())
        self.same("get_datafile() is the text", text, view.get_datafile())
        self.same(
            "attributes",
            [(a.id, a.key) for a in ref.attributes],
            [(a.id, a.key) for a in view.attributes],
        )
        self.same(
            "audiences",
            [(a.id, a.name, a.conditions) for a in ref.audiences],
            [(a.id, a.name, a.conditions) for a in view.audiences],
        )
        self.same(
            "events",
            [(e.id, e.key, e.experiment_ids) for e in ref.events],
            [(e.id, e.key, list(e.experiment_ids)) for e in view.events],
        )
        self.names = {a.id: a.name for a in ref.audiences}
        raw_experiments = {e["key"]: e for e in self.raw_experiments}
        self.raw_experiments_by_id = {e["id"]: e for e in self.raw_experiments}
        self.same("experiments_map keys", list(ref.experiments_map), list(view.experiments_map))
        for key, ref_exp in ref.experiments_map.items():
            if key in view.experiments_map:
                raw = raw_experiments[key]
                self.rule(f"experiment {key}", ref_exp, view.experiments_map[key], raw, None)
                self.count("experiment")
        self.same("features_map keys", list(ref.features_map), list(view.features_map))
        for key, ref_feature in ref.features_map.items():
            if key in view.features_map:
                self.feature(ref_feature, view.features_map[key])

    def feature(self, ref: Any, ours: FeatureView) -> None:
        where = f"feature {ref.key}"
        self.same(f"{where} id", ref.id, ours.id)
        self.same(f"{where} key", ref.key, ours.key)
        self.variables(f"{where} variables_map", ref.variables_map, ours.variables_map)
        self.same(
            f"{where} experiment_rules",
            [e.key for e in ref.experiment_rules],
            [e.key for e in ours.experiment_rules],
        )
        for ref_exp, our_exp in zip(ref.experiment_rules, ours.experiment_rules, strict=False):
            raw = self.raw_experiments_by_id[ref_exp.id]
            self.rule(f"{where} rule {ref_exp.key}", ref_exp, our_exp, raw, None)
        self.same(
            f"{where} experiments_map",
            list(ref.experiments_map),
            list(ours.experiments_map),
        )
        raw_flag = next(f for f in self.raw["featureFlags"] if f["key"] == ref.key)
        rollout = next(
            (r for r in self.raw.get("rollouts", []) if r["id"] == raw_flag["rolloutId"]), None
        )
        raw_rules = rollout["experiments"] if rollout else []
        self.same(
            f"{where} delivery_rules",
            [e.key for e in ref.delivery_rules],
            [e.key for e in ours.delivery_rules],
        )
        for ref_rule, our_rule, raw in zip(
            ref.delivery_rules, ours.delivery_rules, raw_rules, strict=False
        ):
            self.rule(f"{where} delivery {ref_rule.key}", ref_rule, our_rule, raw, raw_flag)
            self.count("delivery rule")

    def rule(
        self,
        where: str,
        ref: Any,
        ours: ExperimentView,
        raw: dict[str, Any],
        delivery_flag: dict[str, Any] | None,
    ) -> None:
        self.same(f"{where} id", ref.id, ours.id)
        self.same(f"{where} key", ref.key, ours.key)
        self.audiences(where, ref.audiences, ours.audiences, raw)
        self.same(f"{where} variations", list(ref.variations_map), list(ours.variations_map))
        raw_by_key = {v["key"]: v for v in raw["variations"]}
        for key, ref_var in ref.variations_map.items():
            if key not in ours.variations_map:
                continue
            our_var: VariationView = ours.variations_map[key]
            vwhere = f"{where} variation {key}"
            self.same(f"{vwhere} id", ref_var.id, our_var.id)
            self.same(f"{vwhere} key", ref_var.key, our_var.key)
            self.same(f"{vwhere} feature_enabled", ref_var.feature_enabled, our_var.feature_enabled)
            if delivery_flag is None or key not in raw_by_key:
                self.variables(
                    f"{vwhere} variables_map", ref_var.variables_map, our_var.variables_map
                )
                continue
            # D1: the reference shows defaults; the view shows what a decision returns.
            defaults = {k: v.value for k, v in ref_var.variables_map.items()}
            self.same(
                f"{vwhere} reference defaults",
                {v["key"]: v["defaultValue"] for v in delivery_flag.get("variables", [])},
                defaults,
            )
            expected = enabled_values(raw_by_key[key], delivery_flag)
            self.same(
                f"{vwhere} variables_map (D1)",
                expected,
                {k: v.value for k, v in our_var.variables_map.items()},
            )
            self.same(
                f"{vwhere} variable ids and types",
                [(v.id, v.key, v.type) for v in ref_var.variables_map.values()],
                [(v.id, v.key, v.type) for v in our_var.variables_map.values()],
            )
            self.count("D1 differs" if expected != defaults else "D1 same")

    def variables(self, where: str, ref: Any, ours: Any) -> None:
        self.same(
            where,
            [(k, v.id, v.key, v.type, v.value) for k, v in ref.items()],
            [(k, v.id, v.key, v.type, v.value) for k, v in ours.items()],
        )

    def audiences(self, where: str, ref: str, ours: str, raw: dict[str, Any]) -> None:
        conditions = raw.get("audienceConditions")
        if conditions is None:
            # D2: rendered from audienceIds, an implicit OR of the audience names.
            ids = raw.get("audienceIds", [])
            expected = " OR ".join(f'"{self.names.get(i, i)}"' for i in ids)
            self.same(f"{where} reference audiences (D2)", "", ref)
            self.same(f"{where} audiences (D2)", expected, ours)
            self.count("D2 differs" if expected else "D2 same")
        elif reference_renders_well(conditions):
            self.same(f"{where} audiences", ref, ours)
            self.count("audiences compared")
        else:
            # D3: the same names, parentheses and NOTs, differently joined.
            self.same(f"{where} audiences (D3) differ", True, ref != ours)
            self.same(f"{where} audiences (D3) shape", shape_tokens(ref), shape_tokens(ours))
            self.count("D3 differs")


def compare(datafile: dict[str, Any] | None = None, text: str | None = None) -> Comparison:
    text = text if text is not None else json.dumps(datafile)
    raw = json.loads(text)
    comparison = Comparison(raw)
    comparison.run(reference_config(text), build_config_view(parse_datafile(text)), text)
    if comparison.mismatches:
        shown = "\n".join(comparison.mismatches[:10])
        pytest.fail(f"{len(comparison.mismatches)} mismatches with optimizely-sdk:\n{shown}")
    return comparison


# -- the tests ------------------------------------------------------------------------------


def test_bench_datafile_matches_reference() -> None:
    comparison = compare(text=BENCH_DATAFILE_TEXT)
    assert comparison.counts["experiment"] == 63
    assert comparison.counts["delivery rule"] >= 50
    assert comparison.counts["D1 differs"] > 0  # the bench has enabled delivery variations
    assert comparison.fields > 1000


@pytest.mark.parametrize("seed", GENERATED_SEEDS)
def test_generated_datafile_matches_reference(seed: int) -> None:
    comparison = compare(generate_datafile(seed))
    assert comparison.counts["experiment"] >= 1
    assert comparison.fields > 50


def test_generated_datafiles_exercise_every_documented_difference() -> None:
    """Guards the tests above against comparing only the easy cases."""
    totals: dict[str, int] = {}
    for seed in GENERATED_SEEDS:
        for what, n in compare(generate_datafile(seed)).counts.items():
            totals[what] = totals.get(what, 0) + n
    for what in ("audiences compared", "D1 differs", "D1 same", "D2 differs", "D3 differs"):
        assert totals.get(what, 0) >= 5, (what, totals)


def base_variants() -> Iterator[tuple[str, dict[str, Any]]]:
    yield "base", base_datafile()
    doc = base_datafile()
    doc["experiments"][0]["type"] = "fr"  # injected everyone-else variation
    del doc["rollouts"][0]["experiments"][-1]["variations"][0]["featureEnabled"]
    yield "fr", doc
    doc = base_datafile()
    doc["groups"][0]["experiments"][1]["key"] = "checkout_test"  # duplicate experiment key
    yield "duplicate key", doc
    doc = base_datafile()
    doc["audiences"].append(
        {"id": "$opt_dummy_audience", "name": "Optimizely-Generated", "conditions": "[]"}
    )
    doc["events"].append({"id": "e2", "key": "purchase", "experimentIds": ["exp_gb", "exp_ga"]})
    del doc["sdkKey"]
    doc["environmentKey"] = None
    yield "dummy audience, repeated event, no keys", doc
    doc = base_datafile()
    doc["featureFlags"] = doc["featureFlags"][1:]  # checkout_test belongs to no flag
    del doc["experiments"][0]["variations"][0]["featureEnabled"]
    yield "experiment without flag", doc


@pytest.mark.parametrize(("name", "datafile"), list(base_variants()))
def test_hand_written_datafiles_match_reference(name: str, datafile: dict[str, Any]) -> None:
    comparison = compare(datafile)
    assert comparison.counts["experiment"] >= 2, name


TABLE = [
    (["1"], '"A"'),
    (["and", "1"], '"A"'),
    (["not", "1"], 'NOT "A"'),
    (["or", "1", "2"], '"A" OR "B"'),
    (["and", "1", "2", "3"], '"A" AND "B" AND "C"'),
    (["and", ["or", "1", "2"], "3"], '("A" OR "B") AND "C"'),
    (["or", "1", ["and", "2", "3"]], '"A" OR ("B" AND "C")'),
    (["not", ["or", "1", "2"]], 'NOT ("A" OR "B")'),
    (["1", "2"], '"A" OR "B"'),
    (["and", ["or", "1"], ["or", "2"]], '("A") AND ("B")'),
    ([], ""),
]


def _with_conditions(conditions: Any) -> dict[str, Any]:
    doc = base_datafile()
    doc["typedAudiences"] = []
    doc["audiences"] = [
        {"id": aid, "name": name, "conditions": "[]"}
        for aid, name in (("1", "A"), ("2", "B"), ("3", "C"))
    ]
    doc["experiments"][0]["audienceConditions"] = copy.deepcopy(conditions)
    return doc


@pytest.mark.parametrize(("conditions", "expected"), TABLE)
def test_rendering_table_matches_reference(conditions: list[Any], expected: str) -> None:
    text = json.dumps(_with_conditions(conditions))
    ref = reference_config(text).experiments_map["checkout_test"].audiences
    ours = build_config_view(parse_datafile(text)).experiments_map["checkout_test"].audiences
    assert (ref, ours) == (expected, expected)
    assert reference_renders_well(conditions)


@pytest.mark.parametrize(
    ("conditions", "reference", "ours"),
    [
        (["and", ["or", "1", "2"]], 'AND ("A" OR "B")', '("A" OR "B")'),
        (
            ["and", ["or", "1", "2"], "3", "1"],
            '("A" OR "B") "C" AND "A"',
            '("A" OR "B") AND "C" AND "A"',
        ),
        (
            ["or", ["not", "1"], ["or", "2"], "3"],
            '(NOT "A") ("B") OR "C"',
            '(NOT "A") OR ("B") OR "C"',
        ),
    ],
)
def test_d3_malformed_reference_strings_are_rendered_well(
    conditions: list[Any], reference: str, ours: str
) -> None:
    text = json.dumps(_with_conditions(conditions))
    ref = reference_config(text).experiments_map["checkout_test"].audiences
    mine = build_config_view(parse_datafile(text)).experiments_map["checkout_test"].audiences
    assert (ref, mine) == (reference, ours)
    assert not reference_renders_well(conditions)
    assert shape_tokens(ref) == shape_tokens(mine)
