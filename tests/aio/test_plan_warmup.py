"""A started client builds every flag's decide plan in the background (issue 20).

Plans are otherwise built at a flag's first decide, which stalls the first
request that decides many flags. The warm-up changes no decision.
"""

from __future__ import annotations

import asyncio
import random

import orjson

from asyncexp import Client
from asyncexp.core.flags.decision_types import DecideOption
from asyncexp.examples_data import example_datafile
from asyncexp.flags.parsing import parse_datafile_fast


def _users(n: int) -> list[tuple[str, dict[str, object]]]:
    rng = random.Random(5)
    return [
        (
            f"user-{i}",
            {
                "country": rng.choice(["US", "DE", "FR"]),
                "age": rng.randint(13, 80),
                "plan": rng.choice(["free", "pro"]),
            },
        )
        for i in range(n)
    ]


def _decisions(client: Client) -> list[dict[str, tuple[object, ...]]]:
    out = []
    for user_id, attrs in _users(200):
        user = client.create_user_context(user_id, attrs)
        decided = user.decide_all([DecideOption.INCLUDE_REASONS])
        decided_fast = user.decide_all()
        out.append(
            {
                key: (d.variation_key, d.enabled, d.rule_key, d.variables, tuple(d.reasons))
                for key, d in decided.items()
            }
            | {
                f"fast:{key}": (d.variation_key, d.enabled, d.rule_key, d.variables)
                for key, d in decided_fast.items()
            }
        )
    return out


async def test_start_builds_every_plan_and_changes_no_decision() -> None:
    cold = Client(datafile=example_datafile())  # never started: plans only from decides
    async with Client(datafile=example_datafile()) as warm:
        await warm._plans.wait()
        config = warm._current.config
        assert config is not None
        assert set(config.plans) == set(config.flags)
        assert warm._plans.built == len(config.flags)
        assert cold._current.config is not None
        assert cold._current.config.plans == {}
        assert _decisions(warm) == _decisions(cold)


async def test_a_new_datafile_is_warmed_too() -> None:
    body = orjson.loads(example_datafile())
    async with Client(datafile=example_datafile()) as client:
        await client._plans.wait()
        body["revision"] = str(int(body["revision"]) + 1)
        client._current.apply(parse_datafile_fast(orjson.dumps(body)))
        await client._plans.wait()
        config = client._current.config
        assert config is not None
        assert config.revision == body["revision"]
        assert set(config.plans) == set(config.flags)


async def test_the_warm_up_yields_between_flags_and_close_cancels_it() -> None:
    client = Client(datafile=example_datafile())
    await client.start()
    steps = 0
    task = client._plans._task
    assert task is not None
    while not task.done() and steps < 5:
        await asyncio.sleep(0)  # other work runs between two flags' builds
        steps += 1
    config = client._current.config
    assert config is not None
    assert 0 < len(config.plans) < len(config.flags)  # part-way: one flag per step
    await client.aclose()
    assert task.cancelled()
    assert all(t.get_name() != "asyncexp-plan-warmup" for t in asyncio.all_tasks())


def test_without_a_running_loop_nothing_is_scheduled() -> None:
    client = Client(datafile=example_datafile())
    client._plans.start(client._current.config)  # no loop: a decide builds plans itself
    assert client._plans._task is None
