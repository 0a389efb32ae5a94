"""Writing LogCollector files for the ship tests, with the real collector."""

from __future__ import annotations

import itertools
from datetime import UTC
from pathlib import Path
from typing import Any

import orjson

from asyncexp.aio.collectors import LogCollector
from asyncexp.analytics.api import Analytics

__all__ = ["T0_MS", "as_multiset", "read_records", "write_records"]

T0_MS = 1_700_000_000_000  # 2023-11-14T22:13:20Z


async def write_records(directory: Path, first: int, count: int) -> None:
    """Track ``count`` events numbered from ``first``, 90 s apart from T0 on: several hours."""
    collector = LogCollector(directory, tz=UTC)
    ticks = itertools.count(first)
    analytics = Analytics(collector, app_key="shop", clock=lambda: T0_MS + next(ticks) * 90_000)
    await collector.start()
    for n in range(first, first + count):
        analytics.track(f"user-{n}", "Visit", {"n": n})
    await collector.aclose()


def read_records(directory: Path) -> list[dict[str, Any]]:
    """Every record in the directory's ``datas_*.log`` files."""
    return [
        orjson.loads(line)
        for path in sorted(directory.glob("datas_*.log"))
        for line in path.read_bytes().splitlines()
    ]


def as_multiset(records: list[dict[str, Any]]) -> list[bytes]:
    return sorted(orjson.dumps(r, option=orjson.OPT_SORT_KEYS) for r in records)
