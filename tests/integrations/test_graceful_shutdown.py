"""SIGTERM to a real uvicorn server mid-burst: every event a 200 response tracked is delivered.

The app (``uvicorn_runner.py``) runs in a subprocess on a socket this test
bound on 127.0.0.1, tracks one event per request into a ``BatchCollector`` that
waits an hour between sends, and ships to an ``IngestionServer`` running here.
So whatever reaches the server was shipped by the shutdown flush. Requests
are held open until uvicorn has begun shutting down, so SIGTERM lands while
they are in flight; requests that had not reached the app by then fail.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from pathlib import Path
from typing import Any

import aiohttp

from asyncexp.testing import IngestionServer

RUNNER = Path(__file__).with_name("uvicorn_runner.py")
ROOT = Path(__file__).resolve().parents[2]
REQUESTS = 40
SIGTERM_AFTER = REQUESTS // 2  # in-flight requests before the signal
TIMEOUT = 180.0  # a slow 2-core machine imports FastAPI and uvicorn in seconds


async def one_request(session: aiohttp.ClientSession, port: int, i: int) -> dict[str, Any] | None:
    """The JSON of a 200 answer, or None for a refused, reset or failed request."""
    try:
        url = f"http://127.0.0.1:{port}/work"
        async with session.get(url, headers={"X-User-Id": f"user-{i}"}) as response:
            return await response.json() if response.status == 200 else None
    except aiohttp.ClientError:
        return None


async def first_of(*aws: Any) -> None:
    """Return when any of the awaitables finishes; cancel the others."""
    tasks = [asyncio.ensure_future(aw) for aw in aws]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()


async def test_sigterm_during_a_burst_flushes_every_tracked_event(
    ingest: IngestionServer,
) -> None:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(REQUESTS * 2)  # connections queue here until uvicorn accepts them
    port = listener.getsockname()[1]
    env = {
        **os.environ,
        "ASYNCEXP_INGEST_URL": ingest.url,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(RUNNER),
        "--fd",
        str(listener.fileno()),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        pass_fds=(listener.fileno(),),
        env=env,
        cwd=ROOT,
    )
    # Only the server holds the socket now: once it stops listening, connects fail.
    listener.close()
    assert proc.stdin is not None
    assert proc.stdout is not None
    assert proc.stderr is not None
    stdout, stderr = proc.stdout, proc.stderr
    tracked: list[str] = []
    log: list[str] = []
    enough_in_flight = asyncio.Event()
    shutting_down = asyncio.Event()

    async def read_stdout() -> None:
        async for line in stdout:
            if line.startswith(b"tracked "):
                tracked.append(line.split()[1].decode())
                if len(tracked) >= SIGTERM_AFTER:
                    enough_in_flight.set()

    async def read_stderr() -> None:
        async for line in stderr:
            log.append(line.decode(errors="replace").rstrip())
            if "Shutting down" in log[-1]:
                shutting_down.set()

    readers = [asyncio.create_task(read_stdout()), asyncio.create_task(read_stderr())]
    try:
        async with asyncio.timeout(TIMEOUT):
            timeout = aiohttp.ClientTimeout(total=TIMEOUT)
            connector = aiohttp.TCPConnector(limit=0)
            async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
                burst = [
                    asyncio.create_task(one_request(session, port, i)) for i in range(REQUESTS)
                ]
                await first_of(enough_in_flight.wait(), proc.wait())
                assert enough_in_flight.is_set(), "\n".join(["the server died:", *log])
                assert ingest.request_count == 0  # nothing shipped before the shutdown
                proc.send_signal(signal.SIGTERM)
                await first_of(shutting_down.wait(), proc.wait())
                assert shutting_down.is_set(), "\n".join(["no graceful shutdown:", *log])
                proc.stdin.write(b"release\n")  # now let the held requests answer
                await proc.stdin.drain()
                proc.stdin.close()
                results = await asyncio.gather(*burst)
            returncode = await proc.wait()
            await asyncio.gather(*readers)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        for reader in readers:
            reader.cancel()

    # uvicorn re-raises the SIGTERM it caught once it has shut down.
    assert returncode in (0, -signal.SIGTERM), "\n".join(log)
    answered = [r["user"] for r in results if r is not None and r["tracked"]]
    assert len(answered) >= SIGTERM_AFTER
    assert sorted(answered) == sorted(tracked)  # every tracked request got its 200
    assert ingest.record_count == len(answered), "\n".join(log)
    assert sorted(record["xwho"] for record in ingest.records) == sorted(answered)
    assert ingest.event_count == len(answered)  # the impressions were flushed too
