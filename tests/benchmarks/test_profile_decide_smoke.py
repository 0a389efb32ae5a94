"""The decide-path profile still runs: a tiny run of the real script prints every case."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "profile_decide.py"
CASES = ("ab", "rollout", "example", "impression", "all-5", "all-20")


def test_profile_decide_runs_and_prints_every_case() -> None:
    done = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            "--users",
            "50",
            "--calls",
            "200",
            "--rounds",
            "1",
            "--flags",
            "5,20",
        ],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    figures = dict(re.findall(r"^(\S+)\s+([0-9.]+) µs", done.stdout, re.MULTILINE))
    assert set(figures) == set(CASES), done.stdout
    assert all(float(value) > 0 for value in figures.values())
