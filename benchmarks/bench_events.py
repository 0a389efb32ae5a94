"""Shipping events: asyncexp vs optimizely-sdk, the Sensors Analytics SDK and PostHog.

Two tables, every client with its library defaults, all in one process run
against the same local ingestion server, which runs in a separate process so it
does not share the client's CPU. Each client is driven from coroutines of one
asyncio loop, as a web app would: bursts of 100 calls, then a yield.

**Analytics events** (N = ``--events``, 100,000 by default):

* asyncexp: ``Analytics.track`` into ``BatchCollector`` with library defaults (gzip+base64
  ``/up``; the memory budget and the spool decide, ``--queue`` is not applied);
* optimizely-sdk 5.7.0: ``user.track_event`` with ``BatchEventProcessor`` (batch 100,
  its ``EventDispatcher`` pointed at the local ``/v1/events``);
* sensorsanalyticssdk 1.11.0: ``track`` with ``AsyncBatchConsumer`` (form POST, flush 100);
* posthog 7.x (optional, skipped with a message when not installed): ``capture`` on its
  asyncio ``AsyncClient`` (httpx, ``POST /batch/``), library defaults (flush_at 100,
  queue 10,000).

**Decide with its impression** (``--decide-events``, 20,000 by default): ``user.decide(flag)``
cycling through the 50 flags of the benchmark datafile for 1,000 users, each decide
sending its impression:

* asyncexp: ``Client(datafile=…, collector=BatchCollector(optimizely_events_url=…))``,
  library defaults (requests of 100);
* optimizely-sdk: ``Optimizely(datafile=…, event_processor=BatchEventProcessor(…))``
  (batch 100) to the local ``/v1/events``.

Columns, median over ``--rounds`` rounds (clients interleaved within a round):

* µs/call: time spent inside the producing call (``track``/``capture``/``decide``);
* CPU µs/event: CPU time of the whole process (every thread) from the first call
  until close returned, per event;
* delivered events/s: events the server counted / time from the first call until
  the client's close returned;
* lost: N minus what the server counted;
* server CPU µs/event: CPU time of the ingestion server's process over the same span,
  per event it counted (the server shares the machine's cores with the client, so a
  costly body to parse slows every client on a loaded machine);
* loop lag p99: lateness of a 1 ms ticker on the same loop over the same span;
* ratio: asyncexp's delivered/s ÷ the client's.

The threaded references are closed from an executor thread so the loop (and the
lag ticker) keep running while they drain.

    python benchmarks/bench_events.py [--events N] [--decide-events N] [--rounds R] [--queue Q]

``--queue`` (default: each library's own default, 1,000 for optimizely-sdk's
``BatchEventProcessor`` and the Sensors ``AsyncBatchConsumer``, 10,000 for PostHog) sizes
the references' queues; ``--queue 200000`` sizes them for the burst so that nobody has to
drop (asyncexp is the same in both).
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
import random
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any
from urllib.parse import parse_qs

import orjson
from aiohttp import ClientSession, web

from asyncexp.aio.collectors import BatchCollector
from asyncexp.analytics.api import Analytics
from asyncexp.client import Client
from asyncexp.examples_data import example_datafile
from asyncexp.testing import IngestionServer

BURST = 100
USER_IDS = [f"user-{i}" for i in range(1000)]  # inputs are built before timing, for every client
OPTIMIZELY_DEFAULT_QUEUE = 1000
SENSORS_DEFAULT_QUEUE = 1000


def user_attributes(seed: int = 7) -> list[dict[str, Any]]:
    """Attributes of the 1,000 users of the decide case (the same for both clients)."""
    rng = random.Random(seed)
    return [
        {
            "country": rng.choice(["US", "DE", "FR", "GB", "BR", "IN", "CA", "JP"]),
            "age": rng.randint(13, 80),
            "plan": rng.choice(["free", "basic", "pro", "enterprise"]),
            "device": rng.choice(["ios", "android", "web", "desktop"]),
            "is_beta": rng.random() < 0.2,
            "purchases": rng.randint(0, 12),
        }
        for _ in USER_IDS
    ]


def flag_keys() -> list[str]:
    return [flag["key"] for flag in orjson.loads(example_datafile())["featureFlags"]]


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
                    "posthog": server.posthog_count,
                    "cpu": time.process_time(),
                }
            )

        server.app.router.add_post("/sa", sensors_handler)
        server.app.router.add_get("/stats", stats)
        await server.start()
        conn.send(server.url)
        await asyncio.get_running_loop().run_in_executor(None, conn.recv)  # until told to stop
        await server.aclose()

    asyncio.run(main())


async def server_counts(url: str) -> dict[str, float]:
    """The server's counters by client, and its process CPU seconds (``cpu``)."""
    async with ClientSession() as session, session.get(url + "/stats") as resp:
        counts: dict[str, float] = await resp.json()
        return counts


# -- measurement harness ------------------------------------------------------------------
@dataclass
class Result:
    enqueue_us: float
    delivered_per_s: float
    lost: int
    lag_p99_ms: float
    cpu_us: float
    server_cpu_us: float = 0.0


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

    counts_before = await server_counts(url)
    before = int(counts_before[key])
    gc.collect()  # the previous client's garbage is not this client's cost
    tick = asyncio.create_task(ticker())
    await asyncio.sleep(0.01)
    inside = 0.0
    cpu = time.process_time()
    start = time.perf_counter()
    for base in range(0, events, BURST):
        t = time.perf_counter()
        for i in range(base, min(base + BURST, events)):
            produce(i)
        inside += time.perf_counter() - t
        await asyncio.sleep(0)
    await close()
    elapsed = time.perf_counter() - start
    cpu = time.process_time() - cpu
    running = False
    await tick
    counts_after = await server_counts(url)
    delivered = int(counts_after[key]) - before
    server_cpu = counts_after["cpu"] - counts_before["cpu"]
    lags.sort()
    return Result(
        enqueue_us=inside / events * 1e6,
        delivered_per_s=delivered / elapsed,
        lost=events - delivered,
        lag_p99_ms=lags[int(len(lags) * 0.99)] * 1000 if lags else 0.0,
        cpu_us=cpu / events * 1e6,
        server_cpu_us=server_cpu / delivered * 1e6 if delivered else 0.0,
    )


# -- the three clients --------------------------------------------------------------------
async def run_asyncexp(url: str, events: int, queue_size: int | None) -> Result:
    # library defaults (memory budget, spool, batch 20 / request 100); only the spool
    # directory is a temporary one, so runs do not share files
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


def optimizely_client(url: str, queue_size: int | None) -> Any:
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
        event_queue=queue.Queue(maxsize=queue_size or OPTIMIZELY_DEFAULT_QUEUE),
        batch_size=100,
        flush_interval=30,
        timeout_interval=120,
    )
    return optimizely.Optimizely(datafile=example_datafile(), event_processor=processor)


async def run_optimizely(url: str, events: int, queue_size: int | None) -> Result:
    client = optimizely_client(url, queue_size)
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


async def run_sensors(url: str, events: int, queue_size: int | None) -> Result:
    import sensorsanalytics  # type: ignore[import-untyped]

    consumer = sensorsanalytics.AsyncBatchConsumer(
        url + "/sa",
        flush_max_time=3,
        flush_size=100,
        max_batch_size=100,
        max_size=queue_size or SENSORS_DEFAULT_QUEUE,
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


def posthog_missing() -> str | None:
    """Why the PostHog row cannot run here, or None."""
    try:
        import httpx  # noqa: F401  # posthog's AsyncClient sends with httpx
        from posthog.async_client import AsyncClient  # noqa: F401
    except ImportError as exc:
        return f"posthog[async] is not installed ({exc}); the PostHog row is skipped"
    return None


async def run_posthog(url: str, events: int, queue_size: int | None) -> Result:
    from posthog.async_client import AsyncClient

    options: dict[str, Any] = {}
    if queue_size is not None:
        options["max_queue_size"] = queue_size
    client = AsyncClient("bench-key", host=url, **options)  # defaults: flush_at 100
    props = {"price": 5000, "name": "treadmill", "vip": True}

    def produce(i: int) -> None:
        client.capture("purchase", distinct_id=USER_IDS[i % 1000], properties=props)

    return await measure(url, "posthog", events, produce, client.shutdown)


# -- decide with its impression ---------------------------------------------------------------
async def run_decide_asyncexp(url: str, events: int, queue_size: int | None) -> Result:
    collector = BatchCollector(
        optimizely_events_url=url + "/v1/events", spool=tempfile.mkdtemp(prefix="bench-spool-")
    )
    client = Client(datafile=example_datafile(), collector=collector)
    await client.start()
    keys = flag_keys()
    users = [
        client.create_user_context(uid, attrs)
        for uid, attrs in zip(USER_IDS, user_attributes(), strict=True)
    ]
    n_keys = len(keys)

    def produce(i: int) -> None:
        users[i % 1000].decide(keys[i % n_keys])

    result = await measure(url, "optimizely", events, produce, lambda: client.aclose(120))
    if collector.stats.produced != events or collector.stats.total_dropped:
        print(f"  asyncexp decide: {collector.stats.summary()}")
    return result


async def run_decide_optimizely(url: str, events: int, queue_size: int | None) -> Result:
    client = optimizely_client(url, queue_size)
    keys = flag_keys()
    users = [
        client.create_user_context(uid, attrs)
        for uid, attrs in zip(USER_IDS, user_attributes(), strict=True)
    ]
    n_keys = len(keys)

    def produce(i: int) -> None:
        users[i % 1000].decide(keys[i % n_keys])

    loop = asyncio.get_running_loop()
    return await measure(
        url, "optimizely", events, produce, lambda: loop.run_in_executor(None, client.close)
    )


Runner = Callable[[str, int, "int | None"], Awaitable[Result]]
EVENT_CLIENTS: dict[str, Runner] = {
    "asyncexp BatchCollector": run_asyncexp,
    "optimizely-sdk BatchEventProcessor": run_optimizely,
    "sensorsanalyticssdk AsyncBatchConsumer": run_sensors,
    "posthog AsyncClient": run_posthog,
}
DECIDE_CLIENTS: dict[str, Runner] = {
    "asyncexp decide + BatchCollector": run_decide_asyncexp,
    "optimizely-sdk decide + BatchEventProcessor": run_decide_optimizely,
}


async def bench(
    url: str, events: int, decide_events: int, rounds: int, queue_size: int | None
) -> tuple[dict[str, list[Result]], dict[str, list[Result]]]:
    event_clients = dict(EVENT_CLIENTS)
    if (why := posthog_missing()) is not None:
        print(why)
        del event_clients["posthog AsyncClient"]
    tables: tuple[dict[str, list[Result]], dict[str, list[Result]]] = (
        {name: [] for name in event_clients},
        {name: [] for name in DECIDE_CLIENTS} if decide_events else {},
    )
    for r in range(rounds):
        for runners, n, results in (
            (event_clients, events, tables[0]),
            (DECIDE_CLIENTS, decide_events, tables[1]),
        ):
            if not n:
                continue
            for name, runner in runners.items():
                result = await runner(url, n, queue_size)
                results[name].append(result)
                print(f"round {r + 1} {name}: {result}")
    return tables


def summarize(results: dict[str, list[Result]], title: str) -> dict[str, dict[str, float]]:
    names = list(results)
    base = statistics.median(r.delivered_per_s for r in results[names[0]])
    print(f"\n{title}\n")
    print(
        "| client | µs/call | CPU µs/event | server CPU µs/event | delivered events/s | lost "
        "| loop lag p99 ms | rate ratio |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    summary = {}
    for name, rs in results.items():
        row = {
            "enqueue_us": statistics.median(r.enqueue_us for r in rs),
            "cpu_us": statistics.median(r.cpu_us for r in rs),
            "server_cpu_us": statistics.median(r.server_cpu_us for r in rs),
            "delivered_per_s": statistics.median(r.delivered_per_s for r in rs),
            "lost": statistics.median(r.lost for r in rs),
            "lag_p99_ms": statistics.median(r.lag_p99_ms for r in rs),
        }
        summary[name] = row
        ratio = base / row["delivered_per_s"] if row["delivered_per_s"] else float("inf")
        print(
            f"| {name} | {row['enqueue_us']:.2f} | {row['cpu_us']:.2f} | "
            f"{row['server_cpu_us']:.2f} | "
            f"{row['delivered_per_s']:,.0f} | {row['lost']:,.0f} | {row['lag_p99_ms']:.2f} | "
            f"{ratio:.1f} |"
        )
    return summary


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--decide-events", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--queue", type=int, default=None)
    args = parser.parse_args()
    logging.disable(logging.WARNING)

    parent, child = multiprocessing.Pipe()
    proc = multiprocessing.get_context("spawn").Process(target=_serve, args=(child,))
    proc.start()
    url = parent.recv()
    try:
        events, decides = asyncio.run(
            bench(url, args.events, args.decide_events, args.rounds, args.queue)
        )
    finally:
        parent.send("stop")
        proc.join(10)

    queue_note = "library default queues" if args.queue is None else f"queue {args.queue}"
    summary = {
        "events": summarize(
            events,
            f"analytics events: {args.events} events, {queue_note}, batch 100, "
            f"median of {args.rounds}",
        )
    }
    if decides:
        summary["decide"] = summarize(
            decides,
            f"decide with its impression: {args.decide_events} decides, {queue_note}, "
            f"median of {args.rounds}",
        )
    print("\n" + json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
