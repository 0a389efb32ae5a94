"""Differential tests of the planned decide path (asyncexp.core.flags.plan).

Generated datafiles with their holdouts removed, so that most flags decide through
a plan rather than the full flow: decisions, decide_all, decide_for_keys and their
impressions must still equal optimizely-sdk 5.7.0's, for users with and without
segments, with attributes changed between calls (the shared snapshot must follow).
Each test also checks that plans were used, so the comparison is not vacuous.
"""

from __future__ import annotations

import random
from typing import Any

import pytest

from asyncexp.core.flags.decision_types import DecideOption
from tests.compat.conftest import MakePair, Pair, decision_fields, describe_user, same
from tests.compat.datafile_gen import generate_datafile, generate_users

SEEDS = range(400, 412)
USERS = 60
OPTION_SETS: list[list[str]] = [
    [],
    [],
    [DecideOption.DISABLE_DECISION_EVENT],
    [DecideOption.EXCLUDE_VARIABLES],
    [DecideOption.ENABLED_FLAGS_ONLY],
    [DecideOption.INCLUDE_REASONS],
]


def _no_holdouts(seed: int, **toggles: Any) -> dict[str, Any]:
    datafile = generate_datafile(seed, **toggles)
    datafile.pop("holdouts", None)
    datafile.pop("localHoldouts", None)
    return datafile


def _events(pair: Pair, what: str) -> int:
    ref, ours = pair.take_payloads()
    if len(ref) != len(ours) or not same(ref, ours, ordered=False):
        pair.mismatches.append(f"{what}: events\n    reference: {ref!r}\n    asyncexp:  {ours!r}")
    return len(ref)


def _planned(pair: Pair) -> int:
    config = pair.client.config
    assert config is not None
    return sum(1 for plan in config.plans.values() if plan is not None)


@pytest.mark.parametrize("send_flag_decisions", [True, False])
def test_planned_decisions_and_impressions_match_reference(
    make_pair: MakePair, send_flag_decisions: bool
) -> None:
    compared = events = planned = 0
    for seed in SEEDS:
        datafile = _no_holdouts(seed, sendFlagDecisions=send_flag_decisions)
        pair = make_pair(datafile)
        rng = random.Random(seed)
        flags = pair.flag_keys
        for spec in generate_users(datafile, seed, USERS):
            ref_user, our_user = pair.users(spec)
            who = describe_user(spec)
            for step in range(2):
                options = rng.choice(OPTION_SETS)
                for key in flags:
                    pair.expect_same(
                        f"seed {seed} decide({key!r}, {options}) {who}",
                        decision_fields(ref_user.decide(key, list(options))),
                        decision_fields(our_user.decide(key, list(options))),
                    )
                    events += _events(pair, f"seed {seed} decide({key!r}) {who}")
                    compared += 1
                options = rng.choice(OPTION_SETS)
                pair.compare_decisions(
                    f"seed {seed} decide_all({options}) {who}",
                    ref_user.decide_all(list(options)),
                    our_user.decide_all(list(options)),
                )
                events += _events(pair, f"seed {seed} decide_all({options}) {who}")
                keys = rng.sample(flags, rng.randint(1, len(flags)))
                pair.compare_decisions(
                    f"seed {seed} decide_for_keys({keys}) {who}",
                    ref_user.decide_for_keys(list(keys)),
                    our_user.decide_for_keys(list(keys)),
                )
                events += _events(pair, f"seed {seed} decide_for_keys({keys}) {who}")
                if step == 0:  # the next round decides with changed attributes
                    for name, value in (("age", rng.randint(0, 90)), ("plan", "gold")):
                        ref_user.set_attribute(name, value)
                        our_user.set_attribute(name, value)
                    if rng.random() < 0.5:
                        ref_user.set_qualified_segments(["seg_a"])
                        our_user.set_qualified_segments(["seg_a"])
        pair.assert_no_mismatches()
        planned += _planned(pair)
    assert compared > 1000
    assert events > 100
    assert planned > 20
