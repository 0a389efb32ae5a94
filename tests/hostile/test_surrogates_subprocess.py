"""Lone surrogates through every public entry point, each run in a child process.

A lone surrogate (``"\\ud800"``) handed to mmh3 as ``str`` kills the process
with SIGSEGV, so each case runs in ``python -c``: a crash fails the test
(return code -11) instead of taking pytest down. Each child prints what it
got; the parent checks the return code and that output.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

PRELUDE = """
import asyncio, json, logging
logging.disable(logging.CRITICAL)
from asyncexp.client import Client
from asyncexp.testing import CapturingCollector
from tests.datafiles import base_datafile
BAD = "\\ud800"
"""


def run_child(body: str) -> str:
    code = PRELUDE + textwrap.dedent(body)
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, f"child died ({done.returncode}): {done.stderr[-2000:]}"
    return done.stdout.strip().splitlines()[-1]


DECIDE_CASES = {
    "decide": "print(user.decide('checkout').variation_key is not None)",
    "decide_for_keys": "print(sorted(user.decide_for_keys(['checkout', 'rollout_only'])))",
    "decide_all": "print(len(user.decide_all()) > 0)",
    "bucketing_id": (
        "user.set_attribute('$opt_bucketing_id', BAD + 'x'); "
        "print(user.decide('checkout').variation_key is not None)"
    ),
    "attribute_value": (
        "user.set_attribute('country', BAD); print(user.decide('rollout_only').flag_key)"
    ),
}


@pytest.mark.parametrize("case", sorted(DECIDE_CASES))
def test_decide_with_a_surrogate_user_id_survives(case: str) -> None:
    out = run_child(
        f"""
        client = Client(datafile=json.dumps(base_datafile()), collector=CapturingCollector())
        user = client.create_user_context(BAD + "user", {{"age": 30}})
        {DECIDE_CASES[case]}
        """
    )
    expected = {
        "decide": "True",
        "decide_for_keys": "['checkout', 'rollout_only']",
        "decide_all": "True",
        "bucketing_id": "True",
        "attribute_value": "rollout_only",
    }[case]
    assert out == expected


def test_forced_decision_with_surrogate_keys_survives() -> None:
    out = run_child(
        """
        from asyncexp.core.flags.decision_types import DecisionContext, ForcedDecision
        client = Client(datafile=json.dumps(base_datafile()), collector=CapturingCollector())
        user = client.create_user_context(BAD)
        user.set_forced_decision(
            DecisionContext("checkout", BAD), ForcedDecision(BAD)
        )
        user.set_forced_decision(
            DecisionContext("checkout"), ForcedDecision("treatment")
        )
        print(user.decide("checkout").variation_key)
        """
    )
    assert out == "treatment"


def test_bucketing_of_a_surrogate_is_deterministic_across_processes() -> None:
    body = """
        from asyncexp.core.flags.bucketing import bucket_value
        print(bucket_value(BAD + "1886780721"), bucket_value("ppid11886780721"))
        """
    first, second = run_child(body), run_child(body)
    assert first == second
    assert first.split()[1] == "5254"  # a reference test vector, unchanged


@pytest.mark.parametrize(
    "call",
    [
        "client.track(BAD, 'Purchase')",
        "client.track('u', 'Purchase', {'name': 'x' + BAD})",
        "client.track('u', 'Purchase', {'tags': ['ok', BAD]})",
        "client.alias(BAD, 'anon')",
        "client.alias('login', BAD)",
        "client.profile_set(BAD, {'a': 1})",
        "client.profile_set('u', {'a': BAD})",
    ],
)
def test_analytics_calls_raise_validation_error_at_the_call(call: str) -> None:
    out = run_child(
        f"""
        from asyncexp.errors import ValidationError
        collector = CapturingCollector()
        client = Client(collector=collector, app_key="shop")
        try:
            {call}
        except ValidationError as exc:
            print("ValidationError", "surrogate" in str(exc), len(collector.records))
        else:
            print("accepted")
        """
    )
    assert out == "ValidationError True 0"


def test_record_id_is_reserved() -> None:
    out = run_child(
        """
        from asyncexp.errors import ValidationError
        client = Client(collector=CapturingCollector(), app_key="shop")
        try:
            client.track("u", "Purchase", {"$record_id": "mine"})
        except ValidationError as exc:
            print("ValidationError", "$record_id" in str(exc))
        """
    )
    assert out == "ValidationError True"


def test_decide_treatment_with_a_surrogate_entity_and_context_survives() -> None:
    out = run_child(
        """
        from tests.appconfig_samples import IN_AUDIENCE, run_dict
        client = Client(collector=CapturingCollector())
        client.appconfig.load_run(run_dict(ExposurePercentage=100.0))
        first = client.appconfig.decide_treatment(BAD + "e", {**IN_AUDIENCE, "plan": "pro"})
        again = client.appconfig.decide_treatment(BAD + "e", {**IN_AUDIENCE, "x": BAD})
        print(first.reason, first.treatment_key == again.treatment_key)
        """
    )
    assert out == "ASSIGNED True"


def test_split_rule_with_a_surrogate_context_value_survives() -> None:
    out = run_child(
        """
        from asyncexp.core.appconfig import compile_rule
        rule = compile_rule('(split pct::50 by::$id seed::"s")')
        print(rule.evaluate({"id": BAD}) in (True, False))
        """
    )
    assert out == "True"


def test_fetch_qualified_segments_with_a_surrogate_user_id_survives() -> None:
    out = run_child(
        """
        import importlib.util
        from asyncexp.testing import OdpServer
        spec = importlib.util.spec_from_file_location("odp_example", "examples/odp_segments.py")
        example = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(example)

        async def main():
            async with OdpServer(api_key=example.PUBLIC_KEY, default_qualified={"vip"}) as odp:
                async with Client(datafile=example.datafile(odp.url)) as client:
                    user = client.create_user_context(BAD + "alice")
                    ok = await user.fetch_qualified_segments()
                    print("fetched", ok in (True, False))

        asyncio.run(main())
        """
    )
    assert out == "fetched True"
