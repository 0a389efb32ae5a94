"""Segment fetching under load: asyncexp ``OdpManager`` vs optimizely-sdk 5.7.0.

10,000 fetches for 1,000 distinct users (10 each, shuffled) are started at once
from one asyncio loop against a local GraphQL server that runs in a separate
process and answers after ``--latency-ms`` (20 ms by default, standing in for
the network). Reported per scenario, median over ``--rounds`` runs:

* requests: GraphQL requests the server counted;
* p50 / p99 / max latency of one fetch, from the moment it was started to its
  answer (so queueing behind the others counts);
* wall: from the first start until the last answer;
* loop lag p99 / max: lateness of a 1 ms ticker on the same loop.

Scenarios:

* asyncexp, cold cache: ``await manager.fetch_segments(user)`` in 10,000 tasks.
  Identical fetches in flight share one request; the transport allows 100
  connections.
* asyncexp, warm cache: the same again, answered from the cache.
* optimizely-sdk, cold cache: ``user.fetch_qualified_segments()`` (blocking) in a
  64-thread executor, as an asyncio app has to call it; its cache has no
  coalescing, so concurrent fetches for one user each send a request.

    python benchmarks/bench_odp.py [--users N] [--per-user K] [--latency-ms L] [--rounds R]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import multiprocessing
import random
import statistics
import time
import zlib
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from aiohttp import ClientSession, web

from asyncexp.aio.http import HttpTransport
from asyncexp.aio.odp import OdpManager
from asyncexp.core.flags.datafile import parse_datafile

SEGMENTS = ["vip", "gold", "churn-risk"]
API_KEY = "bench-key"


def datafile(host: str) -> dict[str, Any]:
    audiences = [
        {
            "id": f"aud_{name}",
            "name": name,
            "conditions": [
                "or",
                {
                    "type": "third_party_dimension",
                    "name": "odp.audiences",
                    "match": "qualified",
                    "value": name,
                },
            ],
        }
        for name in SEGMENTS
    ]
    return {
        "version": "4",
        "accountId": "1",
        "projectId": "2",
        "revision": "1",
        "attributes": [],
        "audiences": [],
        "typedAudiences": audiences,
        "events": [],
        "experiments": [],
        "groups": [],
        "featureFlags": [],
        "rollouts": [],
        "integrations": [{"key": "odp", "host": host, "publicKey": API_KEY}],
    }


# -- the server process -------------------------------------------------------------------
def _serve(conn: Connection, latency: float) -> None:
    async def main() -> None:
        count = {"requests": 0}

        async def graphql(request: web.Request) -> web.Response:
            count["requests"] += 1
            body = await request.json()
            await asyncio.sleep(latency)
            user = body["variables"]["userId"]
            edges = [
                {
                    "node": {
                        "name": name,
                        "state": "qualified" if zlib.crc32((user + name).encode()) % 2 else "no",
                    }
                }
                for name in body["variables"]["audiences"]
            ]
            return web.json_response({"data": {"customer": {"audiences": {"edges": edges}}}})

        async def stats(request: web.Request) -> web.Response:
            return web.json_response(count)

        app = web.Application()
        app.router.add_post("/v3/graphql", graphql)
        app.router.add_get("/stats", stats)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, backlog=4096)
        await site.start()
        conn.send(f"http://127.0.0.1:{runner.addresses[0][1]}")
        await asyncio.get_running_loop().run_in_executor(None, conn.recv)  # until told to stop
        await runner.cleanup()

    asyncio.run(main())


async def server_requests(url: str) -> int:
    async with ClientSession() as session, session.get(url + "/stats") as resp:
        counts: dict[str, int] = await resp.json()
        return counts["requests"]


# -- measurement harness ------------------------------------------------------------------
@dataclass
class Result:
    ok: int
    requests: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    wall_s: float
    lag_p99_ms: float
    lag_max_ms: float


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


async def measure(
    url: str, users: list[str], fetch: Callable[[str], Awaitable[Any]], burst: int | None
) -> Result:
    lags: list[float] = []
    running = True

    async def ticker() -> None:
        while running:
            t = time.perf_counter()
            await asyncio.sleep(0.001)
            lags.append(time.perf_counter() - t - 0.001)

    async def one(user: str, started: float) -> tuple[float, bool]:
        answer = await fetch(user)
        return time.perf_counter() - started, answer is not None and answer is not False

    before = await server_requests(url)
    tick = asyncio.create_task(ticker())
    await asyncio.sleep(0.01)
    start = time.perf_counter()
    tasks: list[asyncio.Task[tuple[float, bool]]] = []
    step = burst or len(users)
    for base in range(0, len(users), step):
        tasks.extend(
            asyncio.create_task(one(user, time.perf_counter()))
            for user in users[base : base + step]
        )
        await asyncio.sleep(0)
    outcomes = await asyncio.gather(*tasks)
    wall = time.perf_counter() - start
    running = False
    await tick
    latencies = [latency for latency, _ in outcomes]
    return Result(
        ok=sum(ok for _, ok in outcomes),
        requests=await server_requests(url) - before,
        p50_ms=pct(latencies, 0.50) * 1e3,
        p99_ms=pct(latencies, 0.99) * 1e3,
        max_ms=max(latencies) * 1e3,
        wall_s=wall,
        lag_p99_ms=pct(lags, 0.99) * 1e3,
        lag_max_ms=max(lags) * 1e3,
    )


async def run_asyncexp(
    url: str, users: list[str], burst: int | None
) -> tuple[Result, Result, dict[str, Any]]:
    transport = HttpTransport()
    manager = OdpManager(lambda: transport)
    manager.update_config(parse_datafile(datafile(url)))
    await manager.start()
    try:
        cold = await measure(url, users, manager.fetch_segments, burst)
        warm = await measure(url, users, manager.fetch_segments, burst)
        stats = manager.stats.segments.as_dict()
    finally:
        await manager.aclose()
        await transport.aclose()
    return cold, warm, stats


async def run_reference(url: str, users: list[str], threads: int, burst: int | None) -> Result:
    from optimizely import optimizely
    from optimizely.helpers.sdk_settings import OptimizelySdkSettings

    client = optimizely.Optimizely(
        datafile=json.dumps(datafile(url)), settings=OptimizelySdkSettings()
    )
    contexts: dict[str, Any] = {user: client.create_user_context(user) for user in set(users)}
    loop = asyncio.get_running_loop()
    pool = ThreadPoolExecutor(threads)

    async def fetch(user: str) -> bool:
        result: bool = await loop.run_in_executor(pool, contexts[user].fetch_qualified_segments)
        return result

    try:
        return await measure(url, users, fetch, burst)
    finally:
        await loop.run_in_executor(None, pool.shutdown)
        await loop.run_in_executor(None, client.close)


def median_result(results: list[Result]) -> Result:
    fields = Result.__dataclass_fields__
    values = {name: statistics.median(getattr(r, name) for r in results) for name in fields}
    return Result(**values)


def row(name: str, r: Result) -> str:
    return (
        f"| {name} | {r.ok:.0f} | {r.requests:.0f} | {r.p50_ms:.1f} | {r.p99_ms:.1f} "
        f"| {r.max_ms:.1f} | {r.wall_s:.2f} | {r.lag_p99_ms:.2f} | {r.lag_max_ms:.2f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--per-user", type=int, default=10)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=64)
    parser.add_argument("--burst", type=int, default=0, help="start N fetches per loop turn")
    parser.add_argument("--no-reference", action="store_true")
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    ids = [f"user-{i}" for i in range(args.users)] * args.per_user
    random.Random(7).shuffle(ids)
    burst = args.burst or None

    parent, child = multiprocessing.Pipe()
    server = multiprocessing.Process(target=_serve, args=(child, args.latency_ms / 1e3))
    server.start()
    url = parent.recv()
    results: dict[str, list[Result]] = {"cold": [], "warm": [], "reference": []}
    try:
        for _ in range(args.rounds):
            cold, warm, stats = asyncio.run(run_asyncexp(url, ids, burst))
            results["cold"].append(cold)
            results["warm"].append(warm)
            if not args.no_reference:
                reference = asyncio.run(run_reference(url, ids, args.threads, burst))
                results["reference"].append(reference)
    finally:
        parent.send("stop")
        server.join()
    started = f"{burst} per loop turn" if burst else "all at once"
    print(
        f"{len(ids)} fetches for {args.users} users ({started}), server latency "
        f"{args.latency_ms:g} ms, median of {args.rounds} rounds"
    )
    print(
        "| scenario | ok | requests | p50 ms | p99 ms | max ms | wall s | lag p99 ms | lag max ms |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    print(row("asyncexp, cold cache", median_result(results["cold"])))
    print(row("asyncexp, warm cache", median_result(results["warm"])))
    if results["reference"]:
        print(
            row(
                f"optimizely-sdk 5.7.0, {args.threads} threads", median_result(results["reference"])
            )
        )
    print(f"asyncexp stats of the last round: {stats}")


if __name__ == "__main__":
    main()
