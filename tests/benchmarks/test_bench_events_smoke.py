"""The event-shipping benchmark still runs: a tiny run of the real script, every client."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_events.py"


def _load_script(monkeypatch: pytest.MonkeyPatch) -> object:
    spec = importlib.util.spec_from_file_location("bench_events_under_test", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)  # dataclasses look the module up
    spec.loader.exec_module(module)
    return module


def _posthog_installed() -> bool:
    return all(importlib.util.find_spec(name) is not None for name in ("posthog", "httpx"))


def test_bench_events_runs_and_every_client_delivers_everything() -> None:
    done = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            "--events",
            "300",
            "--decide-events",
            "300",
            "--rounds",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads(done.stdout[done.stdout.index("\n{") :])
    expected = {
        "asyncexp BatchCollector",
        "optimizely-sdk BatchEventProcessor",
        "sensorsanalyticssdk AsyncBatchConsumer",
    }
    if _posthog_installed():
        expected.add("posthog AsyncClient")
    else:
        assert "the PostHog row is skipped" in done.stdout
    assert set(summary["events"]) == expected
    assert set(summary["decide"]) == {
        "asyncexp decide + BatchCollector",
        "optimizely-sdk decide + BatchEventProcessor",
    }
    for table in summary.values():
        for name, row in table.items():
            assert row["lost"] == 0, name
            assert row["delivered_per_s"] > 0, name
            assert row["cpu_us"] > 0, name


def test_without_posthog_the_row_is_skipped_with_a_reason(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bench = _load_script(monkeypatch)
    monkeypatch.setitem(sys.modules, "posthog", None)  # import posthog now raises ImportError
    monkeypatch.setitem(sys.modules, "posthog.async_client", None)
    why = bench.posthog_missing()  # type: ignore[attr-defined]
    assert why is not None
    assert "posthog[async] is not installed" in why
