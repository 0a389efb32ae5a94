"""LogCollector: JSON lines by the record's hour or day, locked appends, batch flushes."""

from __future__ import annotations

import asyncio
import os
import sys
import textwrap
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from asyncexp.aio.collectors import LogCollector
from asyncexp.aio.collectors.log import log_file_name
from asyncexp.aio.http import RetryPolicy
from asyncexp.analytics.api import Analytics
from asyncexp.core.flags.events import EventContext, UserEvent


def ms(year: int, month: int, day: int, hour: int, minute: int, second: int) -> int:
    return int(datetime(year, month, day, hour, minute, second, tzinfo=UTC).timestamp() * 1000)


def lines(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


async def test_rotation_across_an_hour_boundary(tmp_path: Path) -> None:
    directory = tmp_path / "does" / "not" / "exist"
    collector = LogCollector(directory, tz=UTC)
    times = iter([ms(2024, 3, 1, 10, 59, 59) + 999, ms(2024, 3, 1, 11, 0, 0)])
    analytics = Analytics(collector, app_key="shop", clock=lambda: next(times))
    await collector.start()
    analytics.track("u", "before", {"name": "跑步机"})
    analytics.track("u", "after")
    await collector.flush()
    assert sorted(p.name for p in directory.iterdir()) == [
        "datas_2024030110.log",
        "datas_2024030111.log",
    ]
    assert [r["xwhat"] for r in lines(directory / "datas_2024030110.log")] == ["before"]
    assert [r["xwhat"] for r in lines(directory / "datas_2024030111.log")] == ["after"]
    raw = (directory / "datas_2024030110.log").read_bytes()
    assert "跑步机".encode() in raw
    assert raw.endswith(b"\n")
    assert collector.stats.delivered == 2
    await collector.aclose()


def test_day_rotation_names() -> None:
    assert log_file_name("datas", ms(2024, 12, 31, 23, 0, 0), "day", UTC) == "datas_20241231.log"
    assert log_file_name("datas", ms(2024, 12, 31, 23, 0, 0), "hour", UTC) == "datas_2024123123.log"


async def test_batch_mode_writes_at_batch_size_and_on_interval(
    tmp_path: Path, manual_time: Any, make_analytics: Callable[..., Analytics]
) -> None:
    writes: list[tuple[str, int]] = []
    loop = asyncio.get_running_loop()
    wrote = asyncio.Event()

    def writer(path: Path, data: bytes) -> None:  # runs in the executor thread
        writes.append((path.name, data.count(b"\n")))
        with path.open("ab") as f:
            f.write(data)
        loop.call_soon_threadsafe(wrote.set)

    collector = LogCollector(
        tmp_path,
        batch=True,
        batch_size=3,
        max_interval=5,
        tz=UTC,
        clock=manual_time.clock,
        wait=manual_time.wait,
        writer=writer,
    )
    await collector.start()
    analytics = make_analytics(collector)
    for i in range(3):
        analytics.track("u", f"e{i}")
    await collector.flush()
    assert writes == [("datas_2023111422.log", 3)]
    analytics.track("u", "lonely")
    wrote.clear()
    assert await manual_time.sleeping(finite=True) == 5.0
    assert len(writes) == 1
    manual_time.advance(5.0)
    await wrote.wait()  # written by the interval, with no flush asked
    assert writes[1] == ("datas_2023111422.log", 1)
    await collector.aclose()
    assert len(lines(tmp_path / "datas_2023111422.log")) == 4


async def test_optimizely_events_get_their_own_files(tmp_path: Path) -> None:
    collector = LogCollector(tmp_path, rotation="day", tz=UTC)
    ctx = EventContext("acc", "proj", "3")
    visitor = {"snapshots": [], "attributes": [], "visitor_id": "u"}
    collector.submit(UserEvent(ctx, visitor, "impression", "id1", ms(2024, 1, 2, 3, 0, 0)))
    await collector.aclose()
    (batch,) = lines(tmp_path / "optimizely_20240102.log")
    assert batch["project_id"] == "proj"
    assert batch["visitors"] == [visitor]


async def test_write_errors_are_retried_then_counted(tmp_path: Path, no_sleep: Any) -> None:
    failures = iter([OSError("disk full"), None, OSError("a"), OSError("b"), OSError("c")])

    def writer(path: Path, data: bytes) -> None:
        error = next(failures)
        if error is not None:
            raise error

    collector = LogCollector(
        tmp_path, writer=writer, sleep=no_sleep, retry=RetryPolicy(max_retries=2)
    )
    record = {
        "appid": "a",
        "xwho": "u",
        "xwhat": "e",
        "xwhen": ms(2024, 1, 1, 0, 0, 0),
        "xcontext": {},
    }
    collector.submit(record)
    await collector.flush()
    assert collector.stats.delivered == 1
    collector.submit(record)
    await collector.flush()
    assert collector.stats.dropped == {"retries_exhausted": 1}
    assert collector.stats.retried == 3
    assert collector.stats.last_error is not None
    assert collector.stats.last_error.endswith(": c")
    await collector.aclose()


def test_bad_settings() -> None:
    from asyncexp.errors import ConfigError

    with pytest.raises(ConfigError, match="rotation"):
        LogCollector("/tmp/x", rotation="week")  # type: ignore[arg-type]


_WRITER = textwrap.dedent(
    """
    import asyncio, sys
    from asyncexp.aio.collectors import LogCollector

    async def main(directory, tag, count):
        collector = LogCollector(directory, batch=True, batch_size=7)
        await collector.start()
        pad = tag * 4000
        for i in range(count):
            collector.submit({"appid": "a", "xwho": tag, "xwhat": "e", "xwhen": 1700000000000,
                              "xcontext": {"i": i, "pad": pad}})
            if i % 50 == 0:
                await asyncio.sleep(0)
        await collector.aclose(timeout=60)
        assert collector.stats.delivered == count, collector.stats

    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
    """
)


async def test_two_processes_append_without_interleaving(tmp_path: Path) -> None:
    count = 400
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable, "-c", _WRITER, str(tmp_path), tag, str(count)
        )
        for tag in ("a", "b")
    ]
    codes = await asyncio.gather(*(p.wait() for p in procs))
    assert codes == [0, 0]
    (path,) = list(tmp_path.glob("datas_*.log"))  # noqa: ASYNC240 - test inspection
    records = lines(path)  # every line parses: no torn or interleaved writes
    for tag in ("a", "b"):
        mine = [r["xcontext"]["i"] for r in records if r["xwho"] == tag]
        assert mine == list(range(count))


async def test_a_write_waits_while_another_writer_holds_the_file_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the flock buys: a write never lands inside another locked writer's append
    (the Analysys SDK, a second process, a shipper). The writer's lock call is
    wrapped to signal when it meets the held lock, so the test waits on that event."""
    import fcntl

    from asyncexp.aio import filelock

    contended = threading.Event()
    real_lock, real_try_lock = filelock.lock, filelock.try_lock

    def lock(fd: int) -> None:
        if not real_try_lock(fd):  # held by someone else: the writer now waits in the kernel
            contended.set()
            real_lock(fd)

    monkeypatch.setattr(filelock, "lock", lock)
    when = ms(2026, 1, 1, 10, 30, 0)
    path = tmp_path / log_file_name("datas", when, "hour", None)
    path.touch()
    holder = os.open(path, os.O_WRONLY)
    fcntl.flock(holder, fcntl.LOCK_EX)
    collector = LogCollector(tmp_path)
    record = {"appid": "a", "xwho": "u", "xwhat": "e", "xwhen": when, "xcontext": {}}
    try:
        await collector.start()
        collector.submit(record)
        flushed = asyncio.ensure_future(collector.flush())
        assert await asyncio.to_thread(contended.wait, 30)
        assert path.stat().st_size == 0
        assert not flushed.done()
    finally:
        fcntl.flock(holder, fcntl.LOCK_UN)
        os.close(holder)
    await flushed
    assert lines(path) == [record]
    await collector.aclose()
