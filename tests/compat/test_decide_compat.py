"""Differential tests: asyncexp decisions against optimizely-sdk 5.7.0.

For every generated (datafile, user, flag), ``variation_key``, ``enabled``,
``rule_key`` and ``variables`` (strictly: ``1`` is not ``1.0``, JSON values
included) must agree, through ``decide``, ``decide_all`` and
``decide_for_keys``, with and without forced decisions and qualified segments,
and under every decide option. With ``INCLUDE_REASONS`` the reasons must agree as
de-duplicated sequences (order kept, repeats removed: the reference repeats earlier
reasons, asyncexp lists each once, known difference 2); ``test_reasons_match_reference``
asks for reasons on every decision and checks that holdouts, groups, forced
decisions and non-string ``$opt_bucketing_id`` users were among them.

The known deliberate differences each get one explicit test at the end, as do
the divergences found by these tests (``DIV-1``…); those are marked
``xfail(strict=True)`` while asyncexp still differs.
"""

from __future__ import annotations

import copy
import random
from decimal import Decimal
from enum import IntEnum
from fractions import Fraction
from typing import Any

import pytest
from optimizely.decision.optimizely_decide_option import OptimizelyDecideOption as RefOption

from asyncexp.client import Client
from asyncexp.core.flags.decision_types import DecideOption
from tests.compat.conftest import (
    DictProfileService,
    MakePair,
    decision_fields,
    dedup_reasons,
    describe_user,
)
from tests.compat.datafile_gen import ForcedSpec, UserSpec, generate_datafile, generate_users

DATAFILE_SEEDS = range(30)
USERS_PER_DATAFILE = 200

# Option lists a user's calls draw from; every option appears, alone and combined.
OPTION_SETS: list[list[str]] = [
    [],
    [],
    [DecideOption.INCLUDE_REASONS],
    [DecideOption.EXCLUDE_VARIABLES],
    [DecideOption.DISABLE_DECISION_EVENT],
    [DecideOption.IGNORE_USER_PROFILE_SERVICE],
    [DecideOption.INCLUDE_REASONS, DecideOption.DISABLE_DECISION_EVENT],
    [DecideOption.ENABLED_FLAGS_ONLY],  # ignored by single decide, filters the others
]


def test_option_values_are_the_references() -> None:
    for option in DecideOption:
        assert getattr(RefOption, option.name) == option.value


@pytest.mark.parametrize("seed", DATAFILE_SEEDS)
def test_decisions_match_reference(make_pair: MakePair, seed: int) -> None:
    """decide / decide_all / decide_for_keys for 200 users on one generated datafile."""
    datafile = generate_datafile(seed)
    pair = make_pair(datafile)
    rng = random.Random(seed)
    flags = pair.flag_keys
    compared = forced_users = segment_users = plain_users = 0
    for i, spec in enumerate(generate_users(datafile, seed, USERS_PER_DATAFILE)):
        ref_user, our_user = pair.users(spec)
        who = describe_user(spec)
        forced_users += bool(spec.forced)
        segment_users += spec.segments is not None
        plain_users += not spec.forced and spec.segments is None

        options = rng.choice(OPTION_SETS)
        for key in flags:
            pair.expect_same(
                f"seed {seed} decide({key!r}, {options}) {who}",
                decision_fields(ref_user.decide(key, list(options))),
                decision_fields(our_user.decide(key, list(options))),
            )
            compared += 1

        options = rng.choice(OPTION_SETS)
        pair.compare_decisions(
            f"seed {seed} decide_all({options}) {who}",
            ref_user.decide_all(list(options)),
            our_user.decide_all(list(options)),
        )
        compared += len(flags)

        if i % 3 == 0:
            keys = rng.sample(flags, rng.randint(1, len(flags)))
            options = rng.choice(OPTION_SETS)
            unknown = DecideOption.ENABLED_FLAGS_ONLY not in options and rng.random() < 0.5
            if unknown:  # known difference 3 needs ENABLED_FLAGS_ONLY: not generated
                keys.insert(rng.randint(0, len(keys)), "no_such_flag")
            pair.compare_decisions(
                f"seed {seed} decide_for_keys({keys}, {options}) {who}",
                ref_user.decide_for_keys(list(keys), list(options)),
                our_user.decide_for_keys(list(keys), list(options)),
                ordered=not unknown,  # DIV-2: the reference lists unknown keys first
            )
            compared += len(keys)
        pair.discard_events()  # impressions are compared in test_events_compat

    pair.assert_no_mismatches()
    assert compared >= USERS_PER_DATAFILE * len(flags) * 2
    assert forced_users > 0
    assert segment_users > 0
    assert plain_users > 0


# Reasons that show each path of the decide flow was compared (a substring of each).
REASON_PATHS = {
    "global holdout": "for feature flag",  # "... is bucketed into holdout 'h' for feature flag"
    "holdout miss": "is not bucketed into any variation for holdout",
    "local holdout": "into local holdout",
    "group hit": "of group",
    "group miss": "is not in experiment",
    "empty range": "Bucketed into an empty traffic range",
    "flag forced decision": "is mapped to flag (",
    "invalid forced decision": "Invalid variation is mapped",
    "whitelist": "is forced in variation",
    "bucketing id": "Bucketing ID attribute is not a string",
    "everyone else": 'Checking "Everyone Else" rule now',
}


def test_reasons_match_reference(make_pair: MakePair) -> None:
    """Every decision with INCLUDE_REASONS, on every generated datafile: the same
    de-duplicated reasons (decide and decide_all), and every path above shows up."""
    seen = dict.fromkeys(REASON_PATHS, 0)
    compared = 0
    options = [DecideOption.INCLUDE_REASONS, DecideOption.DISABLE_DECISION_EVENT]
    for seed in DATAFILE_SEEDS:
        datafile = generate_datafile(seed)
        pair = make_pair(datafile)
        for i, spec in enumerate(generate_users(datafile, seed, 80)):
            ref_user, our_user = pair.users(spec)
            if i % 2:
                ref_all = ref_user.decide_all(list(options))
                our_all = our_user.decide_all(list(options))
                pair.compare_decisions(
                    f"seed {seed} decide_all {describe_user(spec)}", ref_all, our_all
                )
                decisions = list(our_all.values())
            else:
                decisions = []
                for key in pair.flag_keys:
                    ours = our_user.decide(key, list(options))
                    pair.expect_same(
                        f"seed {seed} decide({key!r}) {describe_user(spec)}",
                        decision_fields(ref_user.decide(key, list(options))),
                        decision_fields(ours),
                    )
                    decisions.append(ours)
            for decision in decisions:
                compared += 1
                for path, text in REASON_PATHS.items():
                    seen[path] += any(text in reason for reason in decision.reasons)
        pair.assert_no_mismatches()
    assert compared >= 80 * len(DATAFILE_SEEDS) * 4
    assert all(seen.values()), f"paths never compared: {[p for p, n in seen.items() if not n]}"


@pytest.mark.parametrize("seed", range(100, 106))
def test_sticky_bucketing_matches_reference(make_pair: MakePair, seed: int) -> None:
    """With stored profiles (some stale): same decisions, same lookups, same saves."""
    datafile = generate_datafile(seed)
    users = generate_users(datafile, seed, 100)
    rng = random.Random(seed)
    experiments = list(datafile["experiments"])
    for group in datafile["groups"]:
        experiments.extend(group["experiments"])
    profiles: dict[str, Any] = {}
    for spec in users:
        if rng.random() < 0.6:
            stored: dict[str, Any] = {}
            for exp in rng.sample(experiments, min(3, len(experiments))):
                choices = [v["id"] for v in exp["variations"]] + ["404"]
                stored[exp["id"]] = {"variation_id": rng.choice(choices)}
            profile: Any = {"user_id": spec.user_id, "experiment_bucket_map": stored}
            odd = rng.random()
            if odd < 0.05:
                del profile["experiment_bucket_map"]  # missing keys: an empty profile
            elif odd < 0.1:
                del profile["user_id"]
            elif odd < 0.15 and stored:
                stored[next(iter(stored))] = {}  # an entry without variation_id
            profiles[spec.user_id] = profile
    ref_ups, our_ups = DictProfileService(profiles), DictProfileService(profiles)
    pair = make_pair(datafile, reference_ups=ref_ups, asyncexp_ups=our_ups)
    for spec in users:
        ref_user, our_user = pair.users(spec)
        options = rng.choice(OPTION_SETS)
        pair.compare_decisions(
            f"seed {seed} decide_all({options}) {describe_user(spec)}",
            ref_user.decide_all(list(options)),
            our_user.decide_all(list(options)),
        )
        key = rng.choice(pair.flag_keys)
        pair.expect_same(
            f"seed {seed} decide({key!r}) {describe_user(spec)}",
            decision_fields(ref_user.decide(key)),
            decision_fields(our_user.decide(key)),
        )
    pair.assert_no_mismatches()
    assert ref_ups.lookups == our_ups.lookups
    assert ref_ups.saves == our_ups.saves
    assert our_ups.saves, "no profile was saved: the test would prove nothing"


def test_unknown_flag_keys_match_reference(make_pair: MakePair) -> None:
    datafile = generate_datafile(7)
    pair = make_pair(datafile)
    ref_user, our_user = pair.users(UserSpec("u1", {"age": 30}))
    for key in ("no_such_flag", ""):
        pair.expect_same(
            f"decide({key!r})",
            decision_fields(ref_user.decide(key)),
            decision_fields(our_user.decide(key)),
        )
    keys = ["no_such_flag", *pair.flag_keys, "other"]
    pair.compare_decisions(
        "decide_for_keys",
        ref_user.decide_for_keys(keys),
        our_user.decide_for_keys(keys),
        ordered=False,  # DIV-2
    )
    pair.compare_decisions(
        "decide_for_keys([])", ref_user.decide_for_keys([]), our_user.decide_for_keys([])
    )
    pair.assert_no_mismatches()


def test_decision_as_dict_matches_as_json(make_pair: MakePair) -> None:
    """``Decision.as_dict()`` is the reference's ``as_json()`` (reasons de-duplicated)."""
    datafile = generate_datafile(3)
    pair = make_pair(datafile)
    for spec in generate_users(datafile, 3, 60):
        ref_user, our_user = pair.users(spec)
        for key in [*pair.flag_keys, "no_such_flag"]:
            ref = ref_user.decide(key, [RefOption.INCLUDE_REASONS]).as_json()
            ours = our_user.decide(key, [DecideOption.INCLUDE_REASONS]).as_dict()
            ref["reasons"] = dedup_reasons(ref["reasons"])
            ours["reasons"] = dedup_reasons(ours["reasons"])
            pair.expect_same(f"decide({key!r}).as_dict() {describe_user(spec)}", ref, ours)
    pair.assert_no_mismatches()


@pytest.mark.parametrize(
    "defaults",
    [
        [DecideOption.EXCLUDE_VARIABLES],
        [DecideOption.ENABLED_FLAGS_ONLY],
        [DecideOption.DISABLE_DECISION_EVENT, DecideOption.INCLUDE_REASONS],
    ],
)
def test_default_decide_options_match_reference(make_pair: MakePair, defaults: list[str]) -> None:
    datafile = generate_datafile(11)
    pair = make_pair(datafile, default_decide_options=defaults)
    for spec in generate_users(datafile, 11, 40):
        ref_user, our_user = pair.users(spec)
        # decide_all first: the reference's decide(key) with options=None edits its defaults
        # (a quirk asyncexp does not copy, tested below).
        pair.compare_decisions("decide_all()", ref_user.decide_all(), our_user.decide_all())
        pair.compare_decisions(
            "decide_all([INCLUDE_REASONS])",
            ref_user.decide_all([DecideOption.INCLUDE_REASONS]),
            our_user.decide_all([DecideOption.INCLUDE_REASONS]),
        )
        for key in pair.flag_keys:
            pair.expect_same(
                f"decide({key!r}, [])",
                decision_fields(ref_user.decide(key, [])),
                decision_fields(our_user.decide(key, [])),
            )
    pair.assert_no_mismatches()


# --- every match type against many kinds of user values ---------------------------------


class Level(IntEnum):
    LOW = 1
    HIGH = 30


class Label(str):
    pass


# (match, condition value) leaves: every match type, valid and unusable values.
LEAVES: list[tuple[str | None, Any]] = [
    ("exact", "US"),
    ("exact", ""),
    ("exact", True),
    ("exact", False),
    ("exact", 30),
    ("exact", 30.0),
    ("exact", 1),
    ("exact", 2**53),
    ("exact", 2**53 + 1),
    ("exact", None),
    ("exact", [1]),
    (None, "US"),
    (None, 30),
    ("exists", None),
    ("exists", "anything"),
    ("substring", "S"),
    ("substring", ""),
    ("substring", 5),
    ("gt", 29),
    ("gt", 30),
    ("ge", 30),
    ("lt", 30.5),
    ("le", 30),
    ("gt", "29"),
    ("gt", True),
    ("lt", 2**53 + 2),
    ("semver_eq", "2.0.0"),
    ("semver_eq", "2"),
    ("semver_gt", "1.9.9"),
    ("semver_ge", "2.0.0-beta"),
    ("semver_lt", "2.0.0+build"),
    ("semver_le", "10.1"),
    ("semver_eq", "2.x"),
    ("semver_gt", 2),
    ("qualified", "seg_a"),
    ("qualified", 5),
    ("unknown_match", "US"),
]

# User values: every JSON-ish type, Python subclasses, and numbers at the edges.
USER_VALUES: list[Any] = [
    "US",
    "USA",
    "",
    "2.0.0",
    "2.0.0-beta",
    "2.0.0+build.1",
    "2.1",
    "10.0.0",
    "1.2.3.4",
    " 2.0.0",
    Label("US"),
    True,
    False,
    1,
    30,
    30.0,
    29.999,
    -0.0,
    2**53,
    2**53 + 1,
    -(2**53) - 2,
    float("nan"),
    float("inf"),
    Level.HIGH,
    Decimal("30"),
    Fraction(30, 1),
    None,
    ["US"],
    {"US": 1},
    b"US",
]


def _leaf_datafile() -> dict[str, Any]:
    """One flag per leaf and one per negated leaf: TRUE, FALSE and UNKNOWN all show."""
    audiences, flags, rollouts = [], [], []
    next_id = iter(range(500_000, 600_000))
    for i, (match, value) in enumerate(LEAVES):
        leaf: dict[str, Any] = {"name": f"a{i}", "type": "custom_attribute", "value": value}
        if match is not None:
            leaf["match"] = match
        if match == "qualified":
            leaf["type"] = "third_party_dimension"
        for negate in (False, True):
            aid = str(next(next_id))
            tree = ["not", leaf] if negate else ["and", leaf]
            audiences.append({"id": aid, "name": f"leaf{i}{negate}", "conditions": tree})
            on = {"id": str(next(next_id)), "key": "on", "featureEnabled": True, "variables": []}
            rule_id, ee_id, rollout_id = (str(next(next_id)) for _ in range(3))
            rule = {
                "id": rule_id,
                "key": f"leaf_{i}_{negate}",
                "status": "Running",
                "layerId": rule_id,
                "audienceIds": [aid],
                "variations": [on],
                "trafficAllocation": [{"entityId": on["id"], "endOfRange": 10000}],
                "forcedVariations": {},
            }
            everyone_else = {**rule, "id": ee_id, "key": f"ee_{i}_{negate}", "audienceIds": []}
            everyone_else["trafficAllocation"] = []
            rollouts.append({"id": rollout_id, "experiments": [rule, everyone_else]})
            flags.append(
                {
                    "id": str(next(next_id)),
                    "key": f"leaf_{i}_{negate}",
                    "experimentIds": [],
                    "rolloutId": rollout_id,
                    "variables": [],
                }
            )
    return {
        "version": "4",
        "accountId": "1",
        "projectId": "2",
        "revision": "3",
        "attributes": [],
        "audiences": [],
        "typedAudiences": audiences,
        "experiments": [],
        "groups": [],
        "events": [],
        "featureFlags": flags,
        "rollouts": rollouts,
    }


def test_every_match_type_matches_reference(make_pair: MakePair) -> None:
    pair = make_pair(_leaf_datafile())
    outcomes: set[tuple[str, str | None]] = set()
    for index, value in enumerate([*USER_VALUES, "<missing>"]):
        attributes = {} if value == "<missing>" else {f"a{i}": value for i in range(len(LEAVES))}
        for segments in (None, ["seg_a"]):
            ref_user, our_user = pair.users(UserSpec(f"user{index}", attributes, segments))
            options = [DecideOption.DISABLE_DECISION_EVENT, DecideOption.INCLUDE_REASONS]
            ref = ref_user.decide_all(list(options))
            ours = our_user.decide_all(list(options))
            pair.compare_decisions(f"user value {value!r}, segments {segments}", ref, ours)
            outcomes.update((k, d.rule_key) for k, d in ref.items())
    pair.assert_no_mismatches()
    # Each leaf was TRUE for some value and not TRUE for another (unusable leaves aside).
    matched = {k for k, rule in outcomes if rule is not None}
    assert len(matched) > len(LEAVES)


# --- known deliberate differences: asyncexp's documented behaviour ---------------------


def _two_experiment_datafile() -> dict[str, Any]:
    """Flag "f": experiments e1 (control/treatment) and e2 (control/treatment, other ids),
    then a rollout whose only rule serves "off"."""

    def variation(vid: str, key: str, enabled: bool, value: str) -> dict[str, Any]:
        return {
            "id": vid,
            "key": key,
            "featureEnabled": enabled,
            "variables": [{"id": "9", "value": value}],
        }

    def experiment(
        eid: str, key: str, variations: list[dict[str, Any]], end: int
    ) -> dict[str, Any]:
        return {
            "id": eid,
            "key": key,
            "status": "Running",
            "layerId": eid + "0",
            "audienceIds": [],
            "variations": variations,
            "trafficAllocation": [{"entityId": variations[0]["id"], "endOfRange": end}],
            "forcedVariations": {},
        }

    e1 = experiment(
        "11",
        "e1",
        [variation("111", "control", True, "1"), variation("112", "treatment", True, "2")],
        0,
    )
    e2 = experiment(
        "12",
        "e2",
        [variation("121", "control", False, "3"), variation("122", "treatment", True, "4")],
        0,
    )
    off = variation("131", "off", False, "5")
    rule = experiment("13", "everyone_else", [off], 10000)
    return {
        "version": "4",
        "accountId": "1",
        "projectId": "2",
        "revision": "3",
        "attributes": [],
        "audiences": [],
        "experiments": [e1, e2],
        "groups": [],
        "events": [],
        "featureFlags": [
            {
                "id": "1",
                "key": "f",
                "experimentIds": ["11", "12"],
                "rolloutId": "2",
                "variables": [{"id": "9", "key": "x", "type": "integer", "defaultValue": "0"}],
            }
        ],
        "rollouts": [{"id": "2", "experiments": [rule]}],
    }


def test_known_difference_1_rule_forced_decision_needs_a_variation_of_that_rule(
    make_pair: MakePair,
) -> None:
    """asyncexp only accepts a variation of the named rule, and uses that rule's own
    variation; the reference takes the first variation of the flag with that key."""
    pair = make_pair(_two_experiment_datafile())
    spec = UserSpec("u1", {}, forced=[ForcedSpec("f", "e1", "off")])  # "off" is not in e1
    ref_user, our_user = pair.users(spec)
    ours = our_user.decide("f")
    assert (ours.variation_key, ours.rule_key, ours.variables) == ("off", "everyone_else", {"x": 0})
    assert ref_user.decide("f").rule_key == "e1"  # the reference forces e1 into "off"

    spec = UserSpec("u2", {}, forced=[ForcedSpec("f", "e2", "treatment")])
    ref_user, our_user = pair.users(spec)
    ours = our_user.decide("f")
    assert (ours.variation_key, ours.rule_key, ours.variables) == ("treatment", "e2", {"x": 4})
    assert ref_user.decide("f").variables == {"x": 2}  # e1's "treatment"
    impression = pair.collector.payloads()[-1]
    decision = impression["visitors"][0]["snapshots"][0]["decisions"][0]
    assert (decision["experiment_id"], decision["variation_id"]) == ("12", "122")


def test_known_difference_2_reasons_are_listed_once(make_pair: MakePair) -> None:
    pair = make_pair(_two_experiment_datafile())
    forced = [ForcedSpec("f", "e1", "no_such"), ForcedSpec("f", "e2", "no_such")]
    ref_user, our_user = pair.users(UserSpec("u1", {}, forced=forced))
    ours = our_user.decide("f", [DecideOption.INCLUDE_REASONS]).reasons
    ref = ref_user.decide("f", [RefOption.INCLUDE_REASONS]).reasons
    invalid = (
        "Invalid variation is mapped to flag (f), rule ({}) and user (u1) "
        "in the forced decision map."
    )
    per_rule = [
        'Evaluating audiences for experiment "{}": [].',
        'Audiences for experiment "{}" collectively evaluated to TRUE.',
        "Bucketed into an empty traffic range. Returning nil.",
        'User "u1" is in no variation.',
    ]
    assert ours == [
        *(line.format(rule) for rule in ("e1", "e2") for line in (invalid, *per_rule)),
        "Evaluating audiences for rule Everyone Else: [].",
        "Audiences for rule Everyone Else collectively evaluated to TRUE.",
        'User "u1" meets audience conditions for targeting rule Everyone Else.',
        'User "u1" bucketed into a targeting rule Everyone Else.',
    ]
    assert ref.count(invalid.format("e1")) == 4  # the reference repeats earlier reasons
    assert set(ours) == set(ref)


def test_known_difference_3_enabled_flags_only_drops_unknown_keys(make_pair: MakePair) -> None:
    pair = make_pair(_two_experiment_datafile())
    ref_user, our_user = pair.users(UserSpec("u1", {}))
    keys = ["f", "no_such_flag"]
    ours = our_user.decide_for_keys(keys, [DecideOption.ENABLED_FLAGS_ONLY])
    assert ours == {}  # "f" is disabled ("off"), "no_such_flag" unknown
    assert list(ref_user.decide_for_keys(keys, [RefOption.ENABLED_FLAGS_ONLY])) == ["no_such_flag"]
    assert list(our_user.decide_for_keys(keys)) == keys


def test_known_difference_4_plain_decide_does_not_fetch_cmab_predictions() -> None:
    """asyncexp's ``decide`` never waits for a prediction service: a CMAB rule without a
    valid cached prediction gives the reference's error decision, with a reason naming
    ``decide_async`` (tests/aio/test_cmab.py and tests/compat/test_cmab_compat.py cover
    the async path)."""
    datafile = _two_experiment_datafile()
    e2 = datafile["experiments"][1]
    e2["trafficAllocation"] = [{"entityId": "122", "endOfRange": 10000}]
    user = Client(datafile=copy.deepcopy(datafile)).create_user_context("u1")
    assert user.decide("f").rule_key == "e2"  # without cmab, e2 serves the user

    e2["cmab"] = {"attributeIds": [], "trafficAllocation": 10000}
    user = Client(datafile=datafile).create_user_context("u1")
    decision = user.decide("f")  # the error decision carries reasons without INCLUDE_REASONS
    assert (decision.variation_key, decision.rule_key, decision.enabled) == (None, None, False)
    assert decision.variables == {}
    assert "Failed to fetch CMAB data for experiment e2." in decision.reasons
    assert any("decide_async" in reason for reason in decision.reasons)


def test_default_options_are_not_changed_by_decide(make_pair: MakePair) -> None:
    """The reference's decide(key) drops ENABLED_FLAGS_ONLY from its own defaults for good
    (behaviour reference §4.1 quirk); asyncexp's defaults never change."""
    pair = make_pair(
        _two_experiment_datafile(), default_decide_options=[DecideOption.ENABLED_FLAGS_ONLY]
    )
    ref_user, our_user = pair.users(UserSpec("u1", {}))
    ref_user.decide("f")
    our_user.decide("f")
    assert our_user.decide_all() == {}
    assert list(ref_user.decide_all()) == ["f"]


# --- divergences found by these tests ---------------------------------------------------


def _single_flag_datafile(variable: dict[str, Any], value: str) -> dict[str, Any]:
    on = {
        "id": "31",
        "key": "on",
        "featureEnabled": True,
        "variables": [{"id": variable["id"], "value": value}],
    }
    rule = {
        "id": "41",
        "key": "everyone_else",
        "status": "Running",
        "layerId": "42",
        "audienceIds": [],
        "variations": [on],
        "trafficAllocation": [{"entityId": "31", "endOfRange": 10000}],
        "forcedVariations": {},
    }
    return {
        "version": "4",
        "accountId": "1",
        "projectId": "2",
        "revision": "3",
        "attributes": [],
        "audiences": [],
        "experiments": [],
        "groups": [],
        "events": [],
        "featureFlags": [
            {"id": "1", "key": "f", "experimentIds": [], "rolloutId": "2", "variables": [variable]}
        ],
        "rollouts": [{"id": "2", "experiments": [rule]}],
    }


def _compare_single_flag(make_pair: MakePair, datafile: dict[str, Any]) -> None:
    pair = make_pair(datafile)
    ref_user, our_user = pair.users(UserSpec("u1", {}))
    pair.expect_same(
        "decide('f')", decision_fields(ref_user.decide("f")), decision_fields(our_user.decide("f"))
    )
    pair.assert_no_mismatches()


@pytest.mark.parametrize(
    "value",
    [
        "123456789012345678901234567890",
        '{"big": 18446744073709551616}',
        "[-9223372036854775809]",
    ],
)
def test_div1_json_variable_with_huge_integers(make_pair: MakePair, value: str) -> None:
    variable = {"id": "9", "key": "j", "type": "json", "defaultValue": "{}"}
    _compare_single_flag(make_pair, _single_flag_datafile(variable, value))


@pytest.mark.xfail(
    strict=True,
    reason="DIV-2 (deliberate): results keep the requested key order; "
    "the reference lists unknown keys first",
)
def test_div2_decide_for_keys_order_with_unknown_keys(make_pair: MakePair) -> None:
    pair = make_pair(_two_experiment_datafile())
    ref_user, our_user = pair.users(UserSpec("u1", {}))
    keys = ["f", "no_such_flag"]
    assert list(our_user.decide_for_keys(keys)) == list(ref_user.decide_for_keys(keys))


def _holdout_datafile(holdout: dict[str, Any]) -> dict[str, Any]:
    variable = {"id": "9", "key": "x", "type": "integer", "defaultValue": "1"}
    datafile = _single_flag_datafile(variable, "2")
    base = {
        "id": "61",
        "key": "h",
        "status": "Running",
        "audienceIds": [],
        "variations": [{"id": "62", "key": "held", "featureEnabled": False, "variables": []}],
        "trafficAllocation": [{"entityId": "62", "endOfRange": 10000}],
    }
    datafile["holdouts"] = [{**base, **holdout}]
    return datafile


@pytest.mark.xfail(
    strict=True,
    reason="DIV-3 (deliberate): an enabled holdout variation gives its variables; "
    "the reference gives None",
)
def test_div3_enabled_holdout_variation(make_pair: MakePair) -> None:
    """The reference finds no variable values for a holdout variation (it only indexes
    experiment variations), so every variable is None; asyncexp uses the values."""
    variation = {"id": "62", "key": "held", "featureEnabled": True}
    variation["variables"] = [{"id": "9", "value": "5"}]
    _compare_single_flag(make_pair, _holdout_datafile({"variations": [variation]}))


@pytest.mark.parametrize("flag", [1, "yes"])
def test_div4_exclude_targeted_deliveries_truthy(make_pair: MakePair, flag: object) -> None:
    _compare_single_flag(make_pair, _holdout_datafile({"excludeTargetedDeliveries": flag}))


def _variation(vid: str, enabled: bool, value: str) -> dict[str, Any]:
    return {
        "id": vid,
        "key": "on",
        "featureEnabled": enabled,
        "variables": [{"id": "9", "value": value}],
    }


def _experiment(eid: str, variation: dict[str, Any], end: int = 10000) -> dict[str, Any]:
    return {
        "id": eid,
        "key": f"e{eid}",
        "status": "Running",
        "layerId": eid + "0",
        "audienceIds": [],
        "variations": [variation],
        "trafficAllocation": [{"entityId": variation["id"], "endOfRange": end}],
        "forcedVariations": {},
    }


def _shared_id_datafile(case: str) -> dict[str, Any]:
    """Variation id "100" listed by two rules with different content; the user lands in e11."""
    variable = {"id": "9", "key": "x", "type": "integer", "defaultValue": "0"}
    e11 = _experiment("11", _variation("100", True, "1"))
    other = _experiment("12", _variation("100", case != "last_is_disabled", "2"), end=0)
    flag = {
        "id": "1",
        "key": "f",
        "experimentIds": ["11"],
        "rolloutId": "",
        "variables": [variable],
    }
    datafile: dict[str, Any] = {
        "version": "4",
        "accountId": "1",
        "projectId": "2",
        "revision": "3",
        "attributes": [],
        "audiences": [],
        "experiments": [e11],
        "groups": [],
        "events": [],
        "featureFlags": [flag],
        "rollouts": [],
    }
    if case in ("rollout_rule", "last_is_disabled"):
        datafile["rollouts"] = [{"id": "20", "experiments": [other]}]
        flag["rolloutId"] = "20"
    elif case == "experiment_ids_reversed":
        datafile["experiments"].append(other)
        flag["experimentIds"] = ["12", "11"]
    elif case == "other_flag":
        datafile["experiments"].append(other)
        datafile["featureFlags"].append({**flag, "id": "2", "key": "g", "experimentIds": ["12"]})
    elif case == "experiment_of_no_flag":
        datafile["experiments"].append(other)
    elif case == "group_experiment":
        group = {"id": "30", "policy": "random", "experiments": [other]}
        group["trafficAllocation"] = [{"entityId": "12", "endOfRange": 10000}]
        datafile["groups"].append(group)
        flag["experimentIds"] = ["12", "11"]
    return datafile


_DIV5 = pytest.mark.xfail(
    strict=True,
    reason="DIV-5 (open, malformed datafiles only): values of a variation id "
    "reused with other content",
)


@pytest.mark.parametrize(
    "case",
    [
        "rollout_rule",
        "last_is_disabled",
        pytest.param("experiment_ids_reversed", marks=_DIV5),
        pytest.param("other_flag", marks=_DIV5),
        pytest.param("experiment_of_no_flag", marks=_DIV5),
        pytest.param("group_experiment", marks=_DIV5),
    ],
)
def test_div5_variation_id_shared_with_different_values(make_pair: MakePair, case: str) -> None:
    """The reference reads a variation's variable values by id from a datafile-wide map in
    which the last listing wins (experiments, then group experiments, then delivery
    rules), while ``featureEnabled`` comes from the rule's own variation."""
    _compare_single_flag(make_pair, _shared_id_datafile(case))


def test_div6_deeply_nested_json_variable(make_pair: MakePair) -> None:
    variable = {"id": "9", "key": "j", "type": "json", "defaultValue": "{}"}
    pair = make_pair(_single_flag_datafile(variable, "[" * 1010 + "]" * 1010))
    ref_user, our_user = pair.users(UserSpec("u1", {}))
    # The values are too deep to compare or print: compare whether each decoded it.
    ref_value = ref_user.decide("f").variables["j"]
    our_value = our_user.decide("f").variables["j"]
    assert (ref_value is None) == (our_value is None)
