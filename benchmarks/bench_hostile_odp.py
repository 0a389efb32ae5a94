"""Memory against a hostile ODP server: RSS after fetching segments for N users.

The datafile asks ODP about three segments (``vip``, ``gold``, ``churn-risk``).
The server, in a separate process on 127.0.0.1, answers every user with
``--segments`` qualified audiences (15,000 by default, ``vip`` among them: about
1 MB per answer, under the client's 1 MiB response cap), whatever was asked.
asyncexp's ``OdpManager`` fetches the segments of ``--users`` distinct users
(10,000 by default, the default cache size), ``--concurrency`` at a time, through
the real transport, and every answer goes into the segment cache. Reported,
after ``gc.collect()``:

* RSS (``VmRSS``) before the first fetch and after the last, and the difference
  per cached user;
* the cache's entries and estimated bytes, and the segments discarded.

To measure the code before a change, run the script against an older tree, e.g.
``git archive <commit> asyncexp | tar -x -C /tmp/before`` and
``PYTHONPATH=/tmp/before python benchmarks/bench_hostile_odp.py --users 1000``
(before the fix, 10,000 users need about 13 GB).

    python benchmarks/bench_hostile_odp.py [--users N] [--segments S] [--concurrency C]

The last line of output is a JSON summary.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import multiprocessing
import time
from dataclasses import replace
from multiprocessing.connection import Connection
from typing import Any

from aiohttp import web

import asyncexp
from asyncexp.aio.http import HttpTransport
from asyncexp.aio.odp import OdpManager
from asyncexp.core.flags.datafile import parse_datafile

ASKED = ("vip", "gold", "churn-risk")
API_KEY = "bench-key"
MINIMAL_DATAFILE = {
    "version": "4",
    "accountId": "1",
    "projectId": "2",
    "revision": "1",
    "attributes": [],
    "audiences": [],
    "typedAudiences": [],
    "events": [],
    "experiments": [],
    "groups": [],
    "featureFlags": [],
    "rollouts": [],
}


def hostile_body(count: int) -> bytes:
    """``count`` qualified audiences nobody asked for, ``vip`` first."""
    names = ["vip"] + [f"segment-not-asked-{i:06d}" for i in range(count - 1)]
    edges = [{"node": {"name": name, "state": "qualified"}} for name in names]
    doc = {"data": {"customer": {"audiences": {"edges": edges}}}}
    return json.dumps(doc, separators=(",", ":")).encode()


# -- the server process -------------------------------------------------------------------
def _serve(conn: Connection, segments: int) -> None:
    body = hostile_body(segments)

    async def main() -> None:
        async def graphql(request: web.Request) -> web.Response:
            await request.read()
            return web.Response(body=body, content_type="application/json")

        app = web.Application()
        app.router.add_post("/v3/graphql", graphql)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
        await site.start()
        conn.send((f"http://127.0.0.1:{runner.addresses[0][1]}", len(body)))
        await asyncio.get_running_loop().run_in_executor(None, conn.recv)  # until told to stop
        await runner.cleanup()

    asyncio.run(main())


# -- the client -----------------------------------------------------------------------------
def rss_bytes() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


async def run(url: str, users: int, concurrency: int) -> dict[str, Any]:
    transport = HttpTransport()
    manager = OdpManager(lambda: transport)
    config = parse_datafile(json.dumps(MINIMAL_DATAFILE).encode())
    manager.update_config(replace(config, odp_host=url, odp_public_key=API_KEY, segments=ASKED))
    queue: asyncio.Queue[str] = asyncio.Queue()
    for i in range(users):
        queue.put_nowait(f"user-{i:06d}")
    answers: list[int] = []

    async def worker() -> None:
        while not queue.empty():
            segments = await manager.fetch_segments(queue.get_nowait())
            answers.append(-1 if segments is None else len(segments))

    # one fetch first, so the transport, the session and the parser are warm
    await manager.fetch_segments("warm-up")
    manager.cache.reset()
    gc.collect()
    before = rss_bytes()
    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    wall = time.perf_counter() - started
    gc.collect()
    after = rss_bytes()
    stats = manager.stats.segments
    summary = {
        "asyncexp": asyncexp.__file__,
        "users": users,
        "failed": answers.count(-1),
        "segments_kept_per_user": max(answers, default=0),
        "rss_before_mb": round(before / 1e6, 1),
        "rss_after_mb": round(after / 1e6, 1),
        "rss_per_user_kb": round((after - before) / max(users, 1) / 1e3, 2),
        "cache_entries": len(manager.cache),
        "cache_bytes": getattr(manager.cache, "bytes", None),
        "cache_max_bytes": getattr(manager.cache, "max_bytes", None),
        "discarded_segments": getattr(stats, "discarded_segments", None),
        "wall_s": round(wall, 1),
    }
    await manager.aclose(5)
    await transport.aclose()
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--segments", type=int, default=15_000)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    logging.disable(logging.WARNING)

    parent, child = multiprocessing.Pipe()
    server = multiprocessing.Process(target=_serve, args=(child, args.segments))
    server.start()
    try:
        url, body_size = parent.recv()
        summary = asyncio.run(run(url, args.users, args.concurrency))
    finally:
        parent.send("stop")
        server.join(10)
    if summary["failed"]:
        raise SystemExit(f"{summary['failed']} fetches failed: {summary}")
    summary["answer_bytes"] = body_size
    summary["segments_per_answer"] = args.segments
    print(
        f"{summary['users']} users, answers of {body_size:,} bytes listing "
        f"{args.segments:,} segments (3 asked for)"
    )
    print(
        f"RSS {summary['rss_before_mb']} MB -> {summary['rss_after_mb']} MB "
        f"({summary['rss_per_user_kb']} KB per user); cache {summary['cache_entries']} entries, "
        f"{summary['cache_bytes']} bytes; discarded {summary['discarded_segments']}"
    )
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
