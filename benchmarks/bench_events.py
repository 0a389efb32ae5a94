"""Shipping events: asyncexp BatchCollector vs optimizely-sdk vs the Sensors Analytics SDK.

Each client ships N events (100,000 by default) from coroutines of one asyncio
loop (as a web app would: bursts of 100 calls, then a yield) to the same local
ingestion server, which runs in a separate process so it does not share the
client's CPU. Reported per client, median over ``--rounds`` runs:

* enqueue µs per call: time spent inside the producing call;
* delivered events/s: events the server counted / time from the first call
  until the client's close returned;
* lost: N minus what the server counted;
* loop lag p99: lateness of a 1 ms ticker on the same loop, from the first call
  until close returned.

The clients, all with a batch of 100 and a queue of ``--queue`` items:

* asyncexp: ``Analytics.track`` into ``BatchCollector`` with library defaults (gzip+base64
  ``/up``; ``--queue`` is not applied: the memory budget and the spool decide);
* optimizely-sdk 5.7.0: ``user.track_event`` with ``BatchEventProcessor``
  (its ``EventDispatcher``, pointed at the local ``/v1/events``);
* sensorsanalyticssdk 1.11.0: ``track`` with ``AsyncBatchConsumer`` (form POST).

The threaded references are closed from an executor thread so the loop (and
the lag ticker) keep running while they drain.

    python benchmarks/bench_events.py [--events N] [--rounds R] [--queue Q]

``--queue`` defaults to 1,000, the library default of both references (optimizely-sdk's
``BatchEventProcessor`` and the Sensors ``AsyncBatchConsumer``), so every client
runs with its defaults and the references' losses show; ``--queue 200000`` sizes
their queues for the burst so that nobody has to drop (asyncexp is the same in both).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import gc
import gzip
import json
import logging
import multiprocessing
import queue
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any
from urllib.parse import parse_qs

import orjson
from aiohttp import ClientSession, web

from asyncexp.aio.collectors import BatchCollector
from asyncexp.analytics.api import Analytics
from asyncexp.examples_data import example_datafile
from asyncexp.testing import IngestionServer

BURST = 100
USER_IDS = [f"user-{i}" for i in range(1000)]  # inputs are built before timing, for every client


# -- the server process -------------------------------------------------------------------
def _serve(conn: Connection) -> None:
    async def main() -> None:
        server = IngestionServer(keep_payloads=False)
        sensors = {"count": 0}

        async def sensors_handler(request: web.Request) -> web.Response:
            form = parse_qs((await request.read()).decode())
            for field in ("data_list", "data"):
                for value in form.get(field, []):
                    decoded = orjson.loads(gzip.decompress(base64.b64decode(value)))
                    sensors["count"] += len(decoded) if isinstance(decoded, list) else 1
            return web.Response(text="ok")

        async def stats(request: web.Request) -> web.Response:
            return web.json_response(
                {
                    "analysys": server.record_count,
                    "optimizely": server.event_count,
                    "sensors": sensors["count"],
                }
            )

        server.app.router.add_post("/sa", sensors_handler)
        server.app.router.add_get("/stats", stats)
        await server.start()
        conn.send(server.url)
        await asyncio.get_running_loop().run_in_executor(None, conn.recv)  # until told to stop
        await server.aclose()

    asyncio.run(main())


async def server_counts(url: str) -> dict[str, int]:
    async with ClientSession() as session, session.get(url + "/stats") as resp:
        counts: dict[str, int] = await resp.json()
        return counts


# -- measurement harness ------------------------------------------------------------------
@dataclass
class Result:
    enqueue_us: float
    delivered_per_s: float
    lost: int
    lag_p99_ms: float


async def measure(
    url: str,
    key: str,
    events: int,
    produce: Callable[[int], object],
    close: Callable[[], Any],
) -> Result:
    lags: list[float] = []
    running = True

    async def ticker() -> None:
        while running:
            t = time.perf_counter()
            await asyncio.sleep(0.001)
            lags.append(time.perf_counter() - t - 0.001)

    before = (await server_counts(url))[key]
    gc.collect()  # the previous client's garbage is not this client's cost
    tick = asyncio.create_task(ticker())
    await asyncio.sleep(0.01)
    inside = 0.0
    start = time.perf_counter()
    for base in range(0, events, BURST):
        t = time.perf_counter()
        for i in range(base, min(base + BURST, events)):
            produce(i)
        inside += time.perf_counter() - t
        await asyncio.sleep(0)
    await close()
    elapsed = time.perf_counter() - start
    running = False
    await tick
    delivered = (await server_counts(url))[key] - before
    lags.sort()
    return Result(
        enqueue_us=inside / events * 1e6,
        delivered_per_s=delivered / elapsed,
        lost=events - delivered,
        lag_p99_ms=lags[int(len(lags) * 0.99)] * 1000 if lags else 0.0,
    )


# -- the three clients --------------------------------------------------------------------
async def run_asyncexp(url: str, events: int, queue_size: int) -> Result:
    # library defaults (memory budget, spool, batch 20 / request 100); only the spool
    # directory is a temporary one, so runs do not share files
    import tempfile

    collector = BatchCollector(url, spool=tempfile.mkdtemp(prefix="bench-spool-"))
    await collector.start()
    analytics = Analytics(collector, app_key="bench")
    props = {"price": 5000, "name": "treadmill", "vip": True}

    def produce(i: int) -> None:
        analytics.track(USER_IDS[i % 1000], "purchase", props)

    result = await measure(url, "analysys", events, produce, lambda: collector.aclose(timeout=120))
    if collector.stats.total_dropped:
        print(f"  asyncexp dropped: {collector.stats.dropped}")
    return result


async def run_optimizely(url: str, events: int, queue_size: int) -> Result:
    from optimizely import optimizely
    from optimizely.event.event_processor import BatchEventProcessor
    from optimizely.event_dispatcher import EventDispatcher

    class LocalDispatcher:
        @staticmethod
        def dispatch_event(event: Any) -> None:
            event.url = url + "/v1/events"
            EventDispatcher.dispatch_event(event)

    processor = BatchEventProcessor(
        LocalDispatcher,
        start_on_init=True,
        event_queue=queue.Queue(maxsize=queue_size),
        batch_size=100,
        flush_interval=30,
        timeout_interval=120,
    )
    client = optimizely.Optimizely(datafile=example_datafile(), event_processor=processor)
    attrs: Any = {"country": "US"}
    users = [client.create_user_context(uid, attrs) for uid in USER_IDS]
    tags: Any = {"revenue": 5000}

    def produce(i: int) -> None:
        user = users[i % 1000]
        assert user is not None
        user.track_event("purchase", tags)

    loop = asyncio.get_running_loop()
    return await measure(
        url, "optimizely", events, produce, lambda: loop.run_in_executor(None, client.close)
    )


async def run_sensors(url: str, events: int, queue_size: int) -> Result:
    import sensorsanalytics  # type: ignore[import-untyped]

    consumer = sensorsanalytics.AsyncBatchConsumer(
        url + "/sa", flush_max_time=3, flush_size=100, max_batch_size=100, max_size=queue_size
    )
    sa = sensorsanalytics.SensorsAnalytics(consumer)
    lost = {"n": 0}
    props = {"price": 5000, "name": "treadmill", "vip": True}

    def produce(i: int) -> None:
        try:
            sa.track(USER_IDS[i % 1000], "purchase", props)
        except sensorsanalytics.SensorsAnalyticsException:
            lost["n"] += 1  # queue full: raised to the caller

    loop = asyncio.get_running_loop()
    return await measure(
        url, "sensors", events, produce, lambda: loop.run_in_executor(None, sa.close)
    )


async def bench(url: str, events: int, rounds: int, queue_size: int) -> dict[str, list[Result]]:
    runners = {
        "asyncexp BatchCollector": run_asyncexp,
        "optimizely-sdk BatchEventProcessor": run_optimizely,
        "sensorsanalyticssdk AsyncBatchConsumer": run_sensors,
    }
    results: dict[str, list[Result]] = {name: [] for name in runners}
    for r in range(rounds):
        for name, runner in runners.items():
            result = await runner(url, events, queue_size)
            results[name].append(result)
            print(f"round {r + 1} {name}: {result}")
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--queue", type=int, default=1000)
    args = parser.parse_args()
    logging.disable(logging.WARNING)

    parent, child = multiprocessing.Pipe()
    proc = multiprocessing.get_context("spawn").Process(target=_serve, args=(child,))
    proc.start()
    url = parent.recv()
    try:
        results = asyncio.run(bench(url, args.events, args.rounds, args.queue))
    finally:
        parent.send("stop")
        proc.join(10)

    base = statistics.median(r.delivered_per_s for r in results["asyncexp BatchCollector"])
    print(f"\n{args.events} events, queue {args.queue}, batch 100, median of {args.rounds}\n")
    print("| client | enqueue µs/call | delivered events/s | lost | loop lag p99 ms | rate ratio |")
    print("|---|---:|---:|---:|---:|---:|")
    summary = {}
    for name, rs in results.items():
        row = {
            "enqueue_us": statistics.median(r.enqueue_us for r in rs),
            "delivered_per_s": statistics.median(r.delivered_per_s for r in rs),
            "lost": statistics.median(r.lost for r in rs),
            "lag_p99_ms": statistics.median(r.lag_p99_ms for r in rs),
        }
        summary[name] = row
        ratio = base / row["delivered_per_s"] if row["delivered_per_s"] else float("inf")
        print(
            f"| {name} | {row['enqueue_us']:.2f} | {row['delivered_per_s']:,.0f} | "
            f"{row['lost']:,.0f} | {row['lag_p99_ms']:.2f} | {ratio:.1f} |"
        )
    print("\n" + json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
