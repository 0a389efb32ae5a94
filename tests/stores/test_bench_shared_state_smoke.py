"""The shared-state benchmark still runs: a tiny run of the real script."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_shared_state.py"


def test_bench_shared_state_runs_and_every_load_succeeds() -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--users", "200", "--rounds", "1"],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout)
    profiles = result["profiles"]
    assert profiles["failed_loads"] == 0
    assert profiles["saved"] == 200
    assert profiles["found"] == 4 * 200
    assert result["segments"]["redis"]["p50_us"] > 0
