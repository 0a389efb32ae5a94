"""Portable file locks (``asyncexp.aio.filelock``) and the platform's cache directory."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from asyncexp.aio import filelock
from asyncexp.aio.filelock import _ProcessLocks, user_cache_dir

ROOT = Path(__file__).resolve().parent.parent.parent


@pytest.fixture
def two_fds(tmp_path: Path) -> Iterator[tuple[int, int]]:
    path = tmp_path / "f.lock"
    a = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    b = os.open(path, os.O_RDWR)
    try:
        yield a, b
    finally:
        for fd in (a, b):
            with contextlib.suppress(OSError):
                os.close(fd)


def test_the_os_lock_excludes_another_descriptor(two_fds: tuple[int, int]) -> None:
    a, b = two_fds
    assert ("msvcrt" if sys.platform == "win32" else "fcntl") == filelock.BACKEND
    assert filelock.try_lock(a)
    assert not filelock.try_lock(b)
    filelock.unlock(a)
    assert filelock.try_lock(b)
    filelock.unlock_and_close(b)
    filelock.lock(a)  # free again once b's descriptor is closed
    filelock.unlock(a)


def test_the_process_fallback_excludes_descriptors_and_threads(two_fds: tuple[int, int]) -> None:
    locks = _ProcessLocks()
    a, b = two_fds
    assert locks.acquire(a, blocking=False)
    assert locks.acquire(a, blocking=False)  # the holder again: no-op, as flock
    assert not locks.acquire(b, blocking=False)
    got = threading.Event()
    started = threading.Event()

    def waiter() -> None:
        started.set()
        locks.acquire(b, blocking=True)
        got.set()

    thread = threading.Thread(target=waiter)
    thread.start()
    started.wait()
    assert not got.is_set()  # a still holds it
    locks.release(a)
    thread.join()
    assert got.is_set()
    assert not locks.acquire(a, blocking=False)  # b holds it now
    locks.release(b)
    assert locks.acquire(a, blocking=False)
    locks.release(b)  # not the holder: nothing happens
    assert not locks.acquire(b, blocking=False)


@pytest.mark.parametrize(
    ("platform", "environ", "expected"),
    [
        ("win32", {"LOCALAPPDATA": r"C:\Users\u\AppData\Local"}, r"C:\Users\u\AppData\Local"),
        ("win32", {}, "/home/u/AppData/Local"),
        ("darwin", {"XDG_CACHE_HOME": "/x"}, "/home/u/Library/Caches"),
        ("linux", {"XDG_CACHE_HOME": "/var/cache/u"}, "/var/cache/u"),
        ("linux", {"XDG_CACHE_HOME": "relative"}, "/home/u/.cache"),  # the spec: ignore it
        ("linux", {}, "/home/u/.cache"),
        ("freebsd14", {}, "/home/u/.cache"),
    ],
)
def test_user_cache_dir(platform: str, environ: dict[str, str], expected: str) -> None:
    found = user_cache_dir(platform=platform, environ=environ, home=Path("/home/u"))
    assert found == Path(expected)


_WITHOUT_FCNTL = textwrap.dedent(
    """
    import asyncio, importlib.abc, json, sys
    from pathlib import Path

    class NoFcntl(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name in ("fcntl", "msvcrt"):
                raise ImportError(f"no {name} here")
            return None

    sys.meta_path.insert(0, NoFcntl())
    sys.modules.pop("fcntl", None)

    import asyncexp  # must not need fcntl
    from asyncexp.aio import filelock
    from asyncexp.aio.collectors import BatchCollector
    from asyncexp.aio.collectors.spool import SpoolBatch, SpoolStore, default_spool_dir
    from asyncexp.testing import IngestionServer

    spool_dir = Path(sys.argv[1])

    async def main():
        async with IngestionServer() as server:
            store = SpoolStore(spool_dir)
            record = {"xwhat": "replayed", "xwho": "u", "appid": "a", "xwhen": 1,
                      "xcontext": {}}
            body = json.dumps([record]).encode()
            store.write(SpoolBatch(server.url + "/up", {}, body, 1, True))
            (path,) = store.pending()
            claim = store.claim(path)
            again = store.claim(path)  # a second claim of a claimed file fails
            store.release(claim)
            collector = BatchCollector(server.url, spool=spool_dir)
            await collector.start()
            await collector.replayer.pass_done.wait()
            await collector.aclose()
            print(json.dumps({
                "backend": filelock.BACKEND,
                "fcntl_loaded": "fcntl" in sys.modules,
                "second_claim": again is not None,
                "replayed": collector.stats.replayed,
                "received": [r.get("xwhat") for r in server.records],
                "pending": len(store.pending()),
                "default": str(default_spool_dir("x")),
            }))

    asyncio.run(main())
    """
)


def test_the_package_and_the_spool_work_without_fcntl(tmp_path: Path) -> None:
    env = dict(os.environ, ASYNCEXP_SPOOL_DIR=str(tmp_path / "root"))
    result = subprocess.run(
        [sys.executable, "-c", _WITHOUT_FCNTL, str(tmp_path / "spool")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    import json

    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report == {
        "backend": "process",
        "fcntl_loaded": False,
        "second_claim": False,
        "replayed": 1,
        "received": ["replayed"],
        "pending": 0,
        "default": str(tmp_path / "root" / "x"),  # $ASYNCEXP_SPOOL_DIR comes first
    }
    assert "file locks exclude the threads of this process only" in result.stderr
