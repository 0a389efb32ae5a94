"""The spool's size cap under concurrent writers (the collector writes from executor threads).

``BatchCollector`` spools each failed batch with ``run_in_executor(None,
SpoolStore.write, …)``, so with ``max_concurrency > 1`` several writes run at
once in different threads (and pre-forked workers may share one directory).
``SpoolStore.write`` used to check the room (``_make_room``) and then write the
file with nothing held in between, so two writers could both see room for one
file and both write it (seen first as a flaky ``bytes_used() <= max_bytes`` in
the fault suite's full-spool test). It now holds a directory ``flock`` across
check and write, and eviction skips files a replayer has claimed.
"""

from __future__ import annotations

import contextlib
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from asyncexp.aio.collectors.spool import SpoolBatch, SpoolFull, SpoolStore


def test_two_concurrent_writes_never_exceed_the_cap(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two writers whose files fit only one at a time: at most one is stored and
    the other raises ``SpoolFull``. Made deterministic by holding both writers
    inside ``fsync`` (after their room check) until both got there; with a lock
    around check-and-write the second never gets there, the barrier times out
    and the first finishes alone."""
    batch = SpoolBatch("http://127.0.0.1:1/up", {}, b"x" * 600, 1, True)
    store = SpoolStore(tmp_path, max_bytes=1000)  # one ~800-byte file fits, two do not
    barrier = threading.Barrier(2)
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        # a broken barrier: the other writer never came (serialised), go on alone
        with contextlib.suppress(threading.BrokenBarrierError):
            barrier.wait(timeout=1.0)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)

    def write() -> str:
        try:
            store.write(batch)
        except SpoolFull:
            return "full"
        return "stored"

    with ThreadPoolExecutor(2) as pool:
        outcomes = sorted(pool.map(lambda _: write(), range(2)))
    assert store.bytes_used() <= store.max_bytes
    assert outcomes == ["full", "stored"]


def test_eviction_skips_a_file_being_resent(tmp_path: Path) -> None:
    """``drop_oldest`` makes room by deleting the oldest files, but one that a
    replayer holds (its ``flock`` claim) is being re-sent right now: deleting it
    counts its items as evicted although the re-send may well be acknowledged.
    The claimed file must survive; the next oldest is evicted instead."""
    batch = SpoolBatch("http://127.0.0.1:1/up", {}, b"x" * 300, 4, True)
    store = SpoolStore(tmp_path, max_bytes=1000, on_full="drop_oldest")  # two files fit
    store.write(batch)
    store.write(batch)
    oldest, newer = store.pending()
    claim = store.claim(oldest)  # what SpoolReplayer.replay_once holds while it sends
    assert claim is not None
    try:
        assert store.write(batch) == 4
        assert oldest.exists()
        assert not newer.exists()
    finally:
        store.release(claim)
