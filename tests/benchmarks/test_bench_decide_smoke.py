"""The decide benchmark still runs: a tiny run of the real script, every installed SDK.

Checks what the run must show whatever the machine's speed: a positive figure for
every SDK in every case it takes part in, asyncexp and optimizely-sdk deciding the
same for every user, every SDK letting exactly the audience's users into the A/B
test, and no connection to anything but loopback.
"""

from __future__ import annotations

import json
import subprocess
import sys
from importlib import metadata
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_decide.py"
PEERS = {
    "growthbook": "growthbook",
    "launchdarkly": "launchdarkly-server-sdk",
    "eppo": "eppo-server-sdk",
}
EVERY_SDK_CASES = ("decide_ab", "decide_rollout", "decide_all_50", "decide_all_1000")
REFERENCE_CASES = (
    "decide_example",
    "decide_all_example",
    "decide_all_example_1000",
    "create_user_context",
    "construction_example",
)


def installed(distribution: str) -> bool:
    try:
        metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return False
    return True


def test_bench_decide_runs_every_sdk_and_they_agree() -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--users", "200", "--rounds", "1"],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads(done.stdout[done.stdout.index("\n{") :])
    sdks = ["asyncexp", "optimizely", *(p for p, dist in PEERS.items() if installed(dist))]
    assert summary["sdks"] == sdks
    for peer in PEERS:
        assert (peer in sdks) != (peer in summary["skipped"]), peer
        if peer in summary["skipped"]:
            assert f"skipped: {peer}" in done.stdout

    cases = summary["cases"]
    assert set(cases) == {*EVERY_SDK_CASES, *REFERENCE_CASES}
    for key in EVERY_SDK_CASES:
        assert set(cases[key]["us"]) == set(sdks), key
    for key in REFERENCE_CASES:
        assert set(cases[key]["us"]) == {"asyncexp", "optimizely"}, key
    for key, case in cases.items():
        for sdk, us in case["us"].items():
            assert us > 0, (key, sdk)
            if sdk != "asyncexp":
                assert case["ratio"][sdk] > 0, (key, sdk)
    assert set(summary["import_ms"]) == {*sdks, "asyncexp (bare)"}
    assert all(ms > 0 for ms in summary["import_ms"].values())

    checks = summary["checks"]
    ab, rollout = checks["ab_0000"], checks["rollout_0001"]
    assert ab["users"] == rollout["users"] == 200
    assert ab["asyncexp_vs_optimizely_mismatches"] == 0
    assert rollout["asyncexp_vs_optimizely_mismatches"] == 0
    assert checks["decide_all_example"]["asyncexp_vs_optimizely_mismatches"] == 0
    assert ab["in_audience_expected"] > 0
    assert ab["audience_mismatches"] == dict.fromkeys(sdks, 0)
    assert ab["in_audience"] == dict.fromkeys(sdks, ab["in_audience_expected"])
    assert set(rollout["on_share"]) == set(sdks)
    assert "unexpected_values" not in ab

    assert summary["network"] == {"refused": [], "eppo_base_url_connections": 0}


def test_bench_decide_refuses_an_unknown_peer() -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--peers", "growthbook,statsig"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2
    assert "unknown peers ['statsig']" in done.stderr
