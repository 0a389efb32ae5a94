"""The spool and the log collector under Windows file semantics (emulated on Linux).

Windows refuses to remove or rename a file that any process holds open, and
has no ``os.pread``; :mod:`tests.windows_files` makes Linux behave that way
(see there). The spool used to remove and move a file while its claim's
descriptor was still open, and ``LogCollector`` read the last byte of a log
with ``os.pread``: each test below failed that way before. The spool now locks
a separate claim file and closes the spool file before removing, moving or
rewriting it; the log collector seeks and reads.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from asyncexp.aio.collectors import BatchCollector, LogCollector
from asyncexp.aio.collectors.log import log_file_name
from asyncexp.aio.collectors.spool import SpoolBatch, SpoolStore
from asyncexp.aio.http import RetryPolicy
from asyncexp.testing import IngestionServer, Reply
from tests import windows_files
from tests.windows_files import WindowsFiles

pytestmark = pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="reads Linux /proc")

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def windows() -> Iterator[WindowsFiles]:
    state = windows_files.install()
    try:
        yield state
    finally:
        state.uninstall()


def record(name: str) -> dict[str, Any]:
    return {"xwhat": name, "xwho": "u", "appid": "a", "xwhen": 1, "xcontext": {}}


def batch_of(url: str, name: str, count: int = 1) -> SpoolBatch:
    body = json.dumps([record(name)] * count).encode()
    return SpoolBatch(url + "/up", {"Content-Type": "application/json"}, body, count, True)


def test_the_emulation_refuses_what_windows_refuses(tmp_path: Path, windows: WindowsFiles) -> None:
    """The harness itself: an open file cannot be removed, moved or replaced (by
    any of the wrapped calls), a closed one can, and ``os.pread`` is gone."""
    held, other = tmp_path / "held", tmp_path / "other"
    held.write_bytes(b"x")
    other.write_bytes(b"y")
    with open(held, "rb"):
        for call in (
            lambda: os.remove(held),
            lambda: os.unlink(held),
            lambda: held.unlink(),
            lambda: os.rename(held, tmp_path / "moved"),
            lambda: held.rename(tmp_path / "moved"),
            lambda: os.replace(other, held),  # the target is open
            lambda: Path(other).replace(held),
        ):
            with pytest.raises(PermissionError):
                call()
    assert len(windows.refused) == 7
    assert held.exists()
    assert other.exists()
    assert not hasattr(os, "pread")
    os.replace(other, held)  # closed: allowed
    held.unlink()
    assert not held.exists()


async def test_a_handle_in_another_process_of_the_group_refuses_too(
    tmp_path: Path, windows: WindowsFiles
) -> None:
    path = tmp_path / "held"
    path.write_bytes(b"x")
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        "import sys; f = open(sys.argv[1], 'rb'); print('open', flush=True); sys.stdin.read()",
        str(path),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert child.stdin is not None
    assert child.stdout is not None
    assert await child.stdout.readline() == b"open\n"
    with pytest.raises(PermissionError):
        path.unlink()
    child.stdin.close()
    assert await child.wait() == 0
    path.unlink()


async def test_replay_removes_marks_and_quarantines_with_no_handle_open(
    tmp_path: Path, windows: WindowsFiles, no_sleep: Any
) -> None:
    """Every way a replayed file leaves or changes: acknowledged (removed), damaged
    (moved to ``corrupt/``), answered 2xx without ``{"code":200}`` (rewritten in
    place, then removed once acknowledged). No call is refused and no claim file
    is left behind."""
    async with IngestionServer() as server:
        store = SpoolStore(tmp_path)
        store.write(batch_of(server.url, "first"))
        store.write(batch_of(server.url, "second", 2))
        garbage = tmp_path / ("0" * 20 + "-1-000000.batch")  # sorts first
        garbage.write_bytes(b"not a header")
        first, second = store.pending()[1:]
        # first: acknowledged; second: 2xx without code 200 (marked, and the pass stops)
        server.script("analysys", Reply(), Reply(code=500))
        collector = BatchCollector(
            server.url,
            spool=tmp_path,
            sleep=no_sleep,
            retry=RetryPolicy(max_retries=0),
            jitter=lambda: 0.0,
        )
        await collector.start()
        replayer = collector.replayer
        assert replayer is not None
        await replayer.pass_done.wait()
        assert (tmp_path / "corrupt" / garbage.name).exists()
        assert not first.exists()
        assert b'"unconfirmed":1' in second.read_bytes().split(b"\n", 1)[0]
        replayer.pass_done.clear()
        replayer.kick()
        await replayer.pass_done.wait()
        await collector.aclose()
    assert store.pending() == []
    assert collector.stats.spool_corrupt == 1
    assert collector.stats.replayed == 3
    assert server.request_count == 3  # first; second twice (marked, then acknowledged)
    assert [r["xwhat"] for r in server.records] == ["first", "second", "second"]
    assert windows.refused == []
    store.sweep()
    assert list((tmp_path / "claims").iterdir()) == []


def test_eviction_and_sweeps_under_windows_semantics(tmp_path: Path, windows: WindowsFiles) -> None:
    """``drop_oldest`` removes the oldest file under the directory lock, a sweep
    removes a write's leftover and the claim files of spool files that are
    gone, and a released claim leaves the file for the next sender."""
    url = "http://127.0.0.1:1"
    size = len(SpoolStore._encode(batch_of(url, "a", 3)))
    store = SpoolStore(tmp_path, max_bytes=2 * size + size // 2, on_full="drop_oldest")
    store.write(batch_of(url, "a", 3))
    store.write(batch_of(url, "b", 3))
    oldest, newer = store.pending()
    claim = store.claim(newer)
    assert claim is not None
    store.release(claim)  # a failed send: kept, with its claim file
    assert store.write(batch_of(url, "c", 3)) == 3  # the oldest made room
    assert not oldest.exists()
    assert newer.exists()
    (tmp_path / f".{newer.name}.tmp").write_bytes(b"half a write")
    (tmp_path / "claims" / "00000000000000000001-1-000000.batch").write_bytes(b"")
    store.sweep()
    assert store.tmp_removed == 1
    assert sorted(p.name for p in (tmp_path / "claims").iterdir()) == [newer.name]
    assert windows.refused == []


def test_a_claim_file_held_by_another_worker_is_left_for_a_later_sweep(
    tmp_path: Path, windows: WindowsFiles
) -> None:
    """On Windows a claim file another worker has open cannot be removed: the
    removal of the spool file still happens and the claim file goes later."""
    store = SpoolStore(tmp_path)
    store.write(batch_of("http://127.0.0.1:1", "a"))
    (path,) = store.pending()
    claim = store.claim(path)
    assert claim is not None
    other = os.open(tmp_path / "claims" / path.name, os.O_RDWR)  # a worker about to try it
    try:
        store.remove(claim)
        assert not path.exists()
        assert windows.refused_paths() == [str(tmp_path / "claims" / path.name)]
    finally:
        os.close(other)
    store.sweep()
    assert list((tmp_path / "claims").iterdir()) == []


async def test_log_collector_without_pread(tmp_path: Path, windows: WindowsFiles) -> None:
    """Appends go through with ``os.pread`` gone, including the repair of a torn
    last line (a newline written first so the next record starts its own line)."""
    when = 1_767_261_600_000  # 2026-01-01 10:00 UTC
    path = tmp_path / log_file_name("datas", when, "hour", None)
    path.write_bytes(b'{"torn":')
    collector = LogCollector(tmp_path)
    await collector.start()
    first = dict(record("one"), xwhen=when)
    second = dict(record("two"), xwhen=when)
    collector.submit(first)
    await collector.flush()
    collector.submit(second)
    await collector.flush()
    await collector.aclose()
    assert collector.stats.delivered == 2
    assert path.read_bytes().split(b"\n") == [
        b'{"torn":',
        json.dumps(first, separators=(",", ":")).encode(),
        json.dumps(second, separators=(",", ":")).encode(),
        b"",
    ]
    assert windows.refused == []


_WORKER = textwrap.dedent(
    """
    import asyncio, json, sys

    import tests.windows_files as windows_files

    windows = windows_files.install()

    from asyncexp.aio.collectors import BatchCollector

    async def main(url, spool):
        print("ready", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        collector = BatchCollector(url, spool=spool)
        await collector.start()
        await collector.replayer.pass_done.wait()
        await collector.aclose()
        print(json.dumps({
            "replayed": collector.stats.replayed,
            "refused": [path for _, path in windows.refused],
        }))

    asyncio.run(main(sys.argv[1], sys.argv[2]))
    """
)


async def test_workers_sharing_a_spool_send_each_file_once_under_windows_semantics(
    tmp_path: Path, windows: WindowsFiles
) -> None:
    """Three processes replay one spool at once, each refusing removals of files
    any of them holds open: every file reaches the server exactly once, none is
    left, and the only refusals are of claim files (removed by a later sweep)."""
    files = 60
    async with IngestionServer() as server:
        store = SpoolStore(tmp_path)
        for i in range(files):
            store.write(batch_of(server.url, f"e{i}"))
        workers = [
            await asyncio.create_subprocess_exec(
                sys.executable,
                "-c",
                _WORKER,
                server.url,
                str(tmp_path),
                cwd=ROOT,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
            )
            for _ in range(3)
        ]
        for worker in workers:
            assert worker.stdout is not None
            assert await worker.stdout.readline() == b"ready\n"
        for worker in workers:  # all three are waiting: start them together
            assert worker.stdin is not None
            worker.stdin.write(b"go\n")
            await worker.stdin.drain()
        outputs = [await worker.communicate() for worker in workers]
        assert [worker.returncode for worker in workers] == [0, 0, 0]
    reports = [json.loads(out.splitlines()[-1]) for out, _ in outputs]
    assert sum(report["replayed"] for report in reports) == files
    assert sorted(r["xwhat"] for r in server.records) == sorted(f"e{i}" for i in range(files))
    refused = [path for report in reports for path in report["refused"]]
    assert all(Path(path).parent.name == "claims" for path in refused), refused
    assert store.pending() == []
    store.sweep()
    assert list((tmp_path / "claims").iterdir()) == []
