"""Killing the process that ships events: what survives SIGTERM and SIGKILL.

A child process (``child_tracker.py``, ``sys.executable``) runs a Client with a
BatchCollector and a disk spool, tracking events ``{"n": 0}, {"n": 1}, …`` to
an in-test :class:`~tests.faults.fault_server.FaultServer` and printing its
counters on every tick. The parent makes the server flaky (503 first, so some
batches are spooled), kills the child, then starts a second child on the same
spool that only starts and closes, re-sending what the first one spooled. The
server de-duplicates on ``n``.

* SIGTERM: the child's loop signal handler closes the client gracefully, so
  **nothing** is lost: the events acknowledged after the restart are exactly
  ``0 .. produced-1``, whether the server was healthy, failing or hanging at
  the time (a hang is cut by the close deadline and spooled).
* SIGKILL: no code runs. What was acknowledged or fsynced to the spool survives;
  what was only in memory is lost. The bound: received ≥ delivered + spooled as
  the child last reported, and the loss is at most the in-memory tail, i.e.
  ``queued + in_flight`` ≤ ``max_queue_size + max_concurrency × max_request_size``.
  Nothing that was not produced ever arrives.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.faults.fault_server import FaultServer

CHILD = Path(__file__).with_name("child_tracker.py")
TIMEOUT = 45.0  # per test: two interpreter start-ups on a slow machine, and the scenario
MAX_QUEUE = 50_000
CONCURRENCY = 2
BATCH = 50

Line = dict[str, Any]


class Child:
    """A running ``child_tracker.py``: its stdout lines are read as they come."""

    def __init__(self, proc: asyncio.subprocess.Process, stderr: Path) -> None:
        self.proc = proc
        self.stderr = stderr
        self.lines: list[tuple[str, Line]] = []
        self._changed = asyncio.Event()
        self._eof = False
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def spawn(cls, mode: str, url: str, spool: Path, stderr: Path, *extra: str) -> Child:
        err = stderr.open("ab")
        try:
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                str(CHILD),
                mode,
                "--url",
                url,
                "--spool",
                str(spool),
                "--max-queue",
                str(MAX_QUEUE),
                "--concurrency",
                str(CONCURRENCY),
                "--batch-size",
                str(BATCH),
                *extra,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=err,  # a file: a full stderr pipe would block the child
            )
        finally:
            err.close()
        return cls(proc, stderr)

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        # drained continuously, so the child never blocks on a full pipe
        async for raw in self.proc.stdout:
            kind, _, payload = raw.decode().partition(" ")
            self.lines.append((kind, json.loads(payload)))
            self._changed.set()
        self._eof = True
        self._changed.set()

    async def wait_for(self, kind: str, predicate: Callable[[Line], bool] = lambda _: True) -> Line:
        """The first ``kind`` line (from now on) for which ``predicate`` holds."""
        seen = len(self.lines)
        while True:
            for line_kind, line in self.lines[seen:]:
                if line_kind == kind and predicate(line):
                    return line
            seen = len(self.lines)
            if self._eof:
                raise AssertionError(
                    f"child exited before a matching {kind!r} line; stderr:\n"
                    + self.stderr.read_text()[-3000:]
                )
            self._changed.clear()
            await self._changed.wait()

    def send(self, text: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(text.encode() + b"\n")

    async def wait_exit(self) -> int:
        code = await self.proc.wait()
        await self._reader
        return code

    async def kill_if_running(self) -> None:
        if self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()
        self._reader.cancel()


async def replay_spool(server: FaultServer, spool: Path, stderr: Path) -> Line:
    """A second child on the same spool: start, one re-send pass, close."""
    child = await Child.spawn("replay", server.url, spool, stderr)
    try:
        replayed = await child.wait_for("replayed")
        assert await child.wait_exit() == 0
    finally:
        await child.kill_if_running()
    assert replayed["pending"] == 0, replayed
    assert replayed["replay_dropped"] == 0, replayed
    return replayed


@pytest.mark.parametrize("server_at_sigterm", ["ok", "503", "hang"])
async def test_sigterm_closes_gracefully_and_a_restart_delivers_every_event(
    server_at_sigterm: str, fault_server: FaultServer, tmp_path: Path
) -> None:
    """SIGTERM while shipping (server healthy), during a 503 storm, or while the
    server hangs: the child closes its client (hanging requests are cut by the
    close deadline and spooled), reports settled counters with nothing dropped,
    and after a restart the server has acknowledged exactly the events produced."""
    spool = tmp_path / "spool"
    stderr = tmp_path / "child.stderr"
    async with asyncio.timeout(TIMEOUT):
        fault_server.set_mode("503")
        child = await Child.spawn("track", fault_server.url, spool, stderr, "--close-timeout", "2")
        try:
            await child.wait_for("progress", lambda line: line["spooled"] > 0)
            if server_at_sigterm != "503":
                fault_server.set_mode("ok")  # shipping again; the spool is re-sent in the run too
                await child.wait_for("progress", lambda line: line["delivered"] > 0)
            if server_at_sigterm == "hang":
                fault_server.set_mode("hang")
                await fault_server.wait_until(lambda s: s.hanging >= 1)
            child.proc.send_signal(signal.SIGTERM)
            closed = await child.wait_for("closed")
            assert await child.wait_exit() == 0
        finally:
            await child.kill_if_running()

        assert closed["settled"], closed
        assert closed["dropped"] == 0, closed
        assert closed["produced"] == closed["delivered"] + closed["spooled"]
        assert closed["spooled"] > 0

        fault_server.set_mode("ok")
        await replay_spool(fault_server, spool, stderr)

    produced = closed["produced"]
    assert set(fault_server.acked) == set(range(produced))
    assert fault_server.bad_records == 0
    assert set(fault_server.received) <= set(range(produced))


async def test_sigkill_loses_at_most_the_in_memory_tail(
    fault_server: FaultServer, tmp_path: Path
) -> None:
    """SIGKILL while batches hang in flight and more wait in the queue.

    The child is paused first (production stops, shipping goes on) so the number
    produced is known exactly. After the kill and a restart on the same spool:

    * every event the child had reported as delivered or spooled arrives
      (acknowledged responses and fsynced spool files survive a kill);
    * the loss is at most what was in memory at the last report, ``queued +
      in_flight``, itself at most ``max_queue_size + max_concurrency ×
      max_request_size``;
    * nothing arrives that was not produced.
    """
    spool = tmp_path / "spool"
    stderr = tmp_path / "child.stderr"
    async with asyncio.timeout(TIMEOUT):
        fault_server.set_mode("503")
        child = await Child.spawn("track", fault_server.url, spool, stderr)
        try:
            await child.wait_for("progress", lambda line: line["spooled"] > 0)
            fault_server.set_mode("ok")
            await child.wait_for("progress", lambda line: line["delivered"] > 0)
            fault_server.set_mode("hang")  # requests now stay in flight; the queue grows
            await fault_server.wait_until(lambda s: s.hanging >= 1)
            await child.wait_for(
                "progress", lambda line: line["in_flight"] > 0 and line["queued"] > 0
            )
            child.send("pause")
            paused = await child.wait_for("paused")
            child.proc.kill()
            assert await child.wait_exit() == -signal.SIGKILL
        finally:
            await child.kill_if_running()
        # the counters only grow: the last report before the kill is the best bound
        last = max(
            (line for kind, line in child.lines if kind in ("progress", "paused")),
            key=lambda line: line["delivered"] + line["spooled"],
        )

        fault_server.set_mode("ok")  # lets the hung handlers go (their client is dead)
        await replay_spool(fault_server, spool, stderr)

    produced = paused["produced"]
    received = set(fault_server.acked)
    assert fault_server.bad_records == 0
    assert received <= set(range(produced)), "an event arrived that was never produced"
    assert len(received) >= last["delivered"] + last["spooled"]
    in_memory = paused["queued"] + paused["in_flight"]
    assert in_memory > 0  # the kill really cut something off
    assert in_memory <= MAX_QUEUE + CONCURRENCY * BATCH
    lost = produced - paused["dropped"] - len(received)
    assert 0 <= lost <= in_memory
