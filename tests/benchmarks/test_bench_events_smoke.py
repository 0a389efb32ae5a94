"""The event-shipping benchmark still runs: a tiny run of the real script, all three clients."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_events.py"


def test_bench_events_runs_and_every_client_delivers_everything() -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--events", "300", "--rounds", "1"],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads(done.stdout[done.stdout.index("\n{") :])
    assert set(summary) == {
        "asyncexp BatchCollector",
        "optimizely-sdk BatchEventProcessor",
        "sensorsanalyticssdk AsyncBatchConsumer",
    }
    for name, row in summary.items():
        assert row["lost"] == 0, name
        assert row["delivered_per_s"] > 0, name
