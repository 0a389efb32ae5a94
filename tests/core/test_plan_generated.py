"""The generated (unrolled) decide plan gives the step loop's outcomes (same rule,
variation and source objects), and no datafile text ever becomes its source."""

from __future__ import annotations

from typing import Any

from asyncexp.core.flags import plan as plan_module
from asyncexp.core.flags.datafile import parse_datafile
from asyncexp.core.flags.plan import build_plan
from tests.compat.datafile_gen import SEGMENTS, generate_datafile, generate_users


def _no_holdouts(seed: int) -> dict[str, Any]:
    datafile = generate_datafile(seed)
    datafile.pop("holdouts", None)
    datafile.pop("localHoldouts", None)
    return datafile


def test_generated_plans_match_the_loop_on_generated_datafiles() -> None:
    compared = generated = hits = 0
    for seed in range(20):
        datafile = _no_holdouts(seed)
        config = parse_datafile(datafile)
        users = generate_users(datafile, seed, 120)
        for flag in config.flags.values():
            loop = build_plan(config, flag, unrolled=False)
            unrolled = build_plan(config, flag)
            if loop is None:
                assert unrolled is None
                continue
            assert unrolled is not None
            generated += unrolled.__code__.co_filename == "<asyncexp.plan>"
            for user in users:
                # Lone surrogates and non-ASCII text hash exactly as before.
                for bucketing_id in (user.user_id, "b\ud800" + user.user_id, "ü"):
                    for segments in (None, frozenset(user.segments or ()), frozenset(SEGMENTS)):
                        args = (user.attributes, segments, bucketing_id, user.user_id)
                        want = loop(*args)
                        got = unrolled(*args)
                        assert got.rule is want.rule, (seed, flag.key, user.user_id)
                        assert got.variation is want.variation, (seed, flag.key, user.user_id)
                        assert got.source is want.source
                        hits += want.variation is not None
                        compared += 1
    assert generated > 100
    assert compared > 100_000
    assert hits > compared // 10


def test_no_datafile_text_becomes_plan_source() -> None:
    evil = '"); import os; os._exit(3); ("'
    datafile = _no_holdouts(3)
    for entity in (*datafile["experiments"], *datafile["rollouts"][0]["experiments"]):
        entity["forcedVariations"] = {evil: entity["variations"][0]["key"]}
    config = parse_datafile(datafile)
    for flag in config.flags.values():
        build_plan(config, flag)
    sources = list(plan_module._plan_codes)
    assert sources
    assert not any(evil in source or "import" in source for source in sources)
    assert all(rule.id not in source for source in sources for rule in config.rules_by_id.values())


def test_plans_with_too_many_steps_stay_loops() -> None:
    datafile = _no_holdouts(4)
    config = parse_datafile(datafile)
    for flag in config.flags.values():
        plan = build_plan(config, flag)
        if plan is None:
            continue
        steps = len(flag.experiments) + len(flag.rollout_rules)
        if steps > plan_module.MAX_PLAN_STEPS:
            assert plan.__code__.co_filename != "<asyncexp.plan>"
    previous = plan_module.MAX_PLAN_STEPS
    plan_module.MAX_PLAN_STEPS = 0
    try:
        for flag in config.flags.values():
            plan = build_plan(config, flag)
            if plan is not None and (flag.experiments or flag.rollout_rules):
                assert plan.__code__.co_filename != "<asyncexp.plan>"
    finally:
        plan_module.MAX_PLAN_STEPS = previous
