"""The relay benchmark still runs: a tiny run of the real script."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_relay.py"


def test_bench_relay_runs_and_reports_every_figure() -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--records", "2000", "--rate", "500", "--seconds", "0.5"],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout)
    stream = result["stream"]
    assert stream["spooled"] == 0
    assert stream["append_records_per_s"] > 0
    assert stream["1_relay_delivered_per_s"] > 0
    assert stream["2_relay_delivered_per_s"] > 0
    assert stream["latency"]["p99_ms"] >= stream["latency"]["p50_ms"] > 0
    assert result["direct"]["latency"]["p50_ms"] > 0
