"""Soak: BatchCollectors with a disk spool against a flapping server, for minutes on end.

The ingestion server runs in a separate process and flaps at random (seeded)
between four states, each held for ``--flap-min`` .. ``--flap-max`` seconds:

* ``ok``: ``{"code":200}``; the records are counted, de-duplicated on their ``n``;
* ``storm``: HTTP 503 to everything;
* ``down``: the listener and every connection closed (restarted on the same port);
* ``hang``: bodies are read and never answered until the state changes (then
  503, or the connection is aborted when it goes down); the client's
  ``request_timeout`` has to give up.

In this process, ``--collectors`` BatchCollectors (each with its own spool
directory) track ``--rate`` events/s in total, each event carrying a unique
``n``, from one asyncio loop in 10 ms ticks. Every ``--report-every`` seconds a
line gives produced / delivered / spooled / dropped / replayed, the spool size,
RSS (psutil) and the loop lag p99 over the interval (a 1 ms ticker on the same
loop). At the end the collectors are closed while the server still flaps, the
server is made healthy, and a fresh collector per spool directory re-sends what
was spooled. Final checks:

* ``produced == delivered + spooled + dropped`` (summed over the collectors);
* ``received unique == produced - dropped``: everything not counted as dropped
  reached the server, directly or through the spool.

    python benchmarks/soak.py [--minutes 10] [--rate 3000] [--collectors 2] [--seed 1]

Exit status 1 when a check fails. Everything runs on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import gzip
import logging
import multiprocessing
import random
import shutil
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import orjson
import psutil  # type: ignore[import-untyped]
from aiohttp import web

from asyncexp.aio.collectors import BatchCollector
from asyncexp.aio.collectors.spool import SpoolStore
from asyncexp.aio.collectors.wire import ANALYSYS_SUCCESS_BODY
from asyncexp.analytics.api import Analytics

STATES = ("ok", "storm", "down", "hang")
WEIGHTS = (0.45, 0.2, 0.15, 0.2)
TICK = 0.01  # producer tick, seconds
LAG_TICK = 0.001  # lag ticker period, seconds


# -- the flapping server (its own process) ------------------------------------------------
class FlappingServer:
    """An Analysys ``/up`` endpoint whose state flaps; counts unique ``n`` in a bitmap."""

    def __init__(self, seed: int, flap_min: float, flap_max: float) -> None:
        self.rng = random.Random(seed)
        self.flap_min = flap_min
        self.flap_max = flap_max
        self.state = "ok"
        self.seen = bytearray()
        self.unique = 0
        self.duplicates = 0
        self.bad = 0
        self.requests: Counter[str] = Counter()
        self.time_in: dict[str, float] = {}
        self.flaps = 0
        self.port = 0
        self._runner: web.AppRunner | None = None
        self._changed = asyncio.Event()
        self._flapper: asyncio.Task[None] | None = None

    async def up(self) -> None:
        if self._runner is not None:
            return
        app = web.Application(client_max_size=64 << 20)
        app.router.add_post("/up", self.handle)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", self.port, reuse_address=True)
        await site.start()
        self.port = int(runner.addresses[0][1])
        self._runner = runner

    async def down(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            self._wake()
            await runner.cleanup()

    def _wake(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def set_state(self, state: str) -> None:
        self.state = state
        if state == "down":
            await self.down()
        else:
            await self.up()
            self._wake()  # hung requests get their 503 now

    async def flap(self) -> None:
        while True:
            state = self.rng.choices(STATES, WEIGHTS)[0]
            hold = self.rng.uniform(self.flap_min, self.flap_max)
            await self.set_state(state)
            self.flaps += 1
            start = time.monotonic()
            try:
                await asyncio.sleep(hold)
            finally:
                self.time_in[state] = self.time_in.get(state, 0.0) + time.monotonic() - start

    def start_flapping(self) -> None:
        if self._flapper is None:
            self._flapper = asyncio.create_task(self.flap())

    async def healthy(self) -> None:
        flapper, self._flapper = self._flapper, None
        if flapper is not None:
            flapper.cancel()
            await asyncio.gather(flapper, return_exceptions=True)
        await self.set_state("ok")

    def count(self, raw: bytes) -> None:
        try:
            records = orjson.loads(gzip.decompress(base64.b64decode(raw, validate=True)))
        except (ValueError, OSError, EOFError):
            self.bad += 1
            return
        seen = self.seen
        for record in records:
            n = record.get("xcontext", {}).get("n") if isinstance(record, dict) else None
            if type(n) is not int or n < 0:
                self.bad += 1
                continue
            if n >= len(seen):
                seen.extend(bytes(max(n + 1 - len(seen), 1 << 16)))
            if seen[n]:
                self.duplicates += 1
            else:
                seen[n] = 1
                self.unique += 1

    async def handle(self, request: web.Request) -> web.StreamResponse:
        state = self.state
        self.requests[state] += 1
        raw = await request.read()
        if state == "ok":
            self.count(raw)
            return web.Response(body=ANALYSYS_SUCCESS_BODY, content_type="text/plain")
        if state == "hang":
            await self._changed.wait()
            if self._runner is None and request.transport is not None:
                request.transport.abort()  # went down while hanging
        return web.Response(status=503, text="unavailable")

    def stats(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "unique": self.unique,
            "duplicates": self.duplicates,
            "bad": self.bad,
            "flaps": self.flaps,
            "requests": dict(self.requests),
            "time_in": {k: round(v, 1) for k, v in self.time_in.items()},
            "rss": psutil.Process().memory_info().rss,
        }


def _serve(conn: Connection, seed: int, flap_min: float, flap_max: float) -> None:
    logging.disable(logging.CRITICAL)

    async def main() -> None:
        server = FlappingServer(seed, flap_min, flap_max)
        await server.up()
        conn.send(f"http://127.0.0.1:{server.port}")
        loop = asyncio.get_running_loop()
        while True:
            command = await loop.run_in_executor(None, conn.recv)
            if command == "flap":
                server.start_flapping()
                conn.send(None)
            elif command == "stats":
                conn.send(server.stats())
            elif command == "healthy":
                await server.healthy()
                conn.send(None)
            else:  # stop
                await server.healthy()
                await server.down()
                conn.send(None)
                return

    asyncio.run(main())


class ServerControl:
    """Commands to the server process, from the loop (through a thread)."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._lock = threading.Lock()

    def _call(self, command: str) -> Any:
        with self._lock:
            self._conn.send(command)
            return self._conn.recv()

    async def call(self, command: str) -> Any:
        return await asyncio.get_running_loop().run_in_executor(None, self._call, command)


# -- measurements in the client process ----------------------------------------------------
class LagHistogram:
    """Lateness of a periodic ticker, in 0.1 ms buckets (constant memory for long runs)."""

    BUCKET = 0.0001
    SIZE = 20_000  # up to 2 s; later goes into the last bucket

    def __init__(self) -> None:
        self.counts = [0] * (self.SIZE + 1)
        self.total = 0
        self.max = 0.0

    def add(self, lag: float) -> None:
        index = min(int(max(lag, 0.0) / self.BUCKET), self.SIZE)
        self.counts[index] += 1
        self.total += 1
        self.max = max(self.max, lag)

    def quantile(self, q: float) -> float:
        if not self.total:
            return 0.0
        rank = q * self.total
        seen = 0
        for index, count in enumerate(self.counts):
            seen += count
            if seen >= rank:
                return (index + 1) * self.BUCKET
        return self.max


@dataclass
class Meters:
    lag_all: LagHistogram = field(default_factory=LagHistogram)
    lag_interval: LagHistogram = field(default_factory=LagHistogram)
    rss_peak: int = 0
    running: bool = True


async def lag_ticker(meters: Meters) -> None:
    while meters.running:
        start = time.perf_counter()
        await asyncio.sleep(LAG_TICK)
        lag = time.perf_counter() - start - LAG_TICK
        meters.lag_all.add(lag)
        meters.lag_interval.add(lag)


async def rss_sampler(meters: Meters) -> None:
    process = psutil.Process()
    while meters.running:
        meters.rss_peak = max(meters.rss_peak, process.memory_info().rss)
        await asyncio.sleep(1.0)


def totals(collectors: list[BatchCollector]) -> dict[str, int]:
    out = Counter[str]()
    for collector in collectors:
        stats = collector.stats
        out["produced"] += stats.produced
        out["delivered"] += stats.delivered
        out["spooled"] += stats.spooled
        out["dropped"] += stats.total_dropped
        out["replayed"] += stats.replayed
        out["replay_dropped"] += stats.replay_dropped
        out["queued"] += stats.queued
        out["in_flight"] += stats.in_flight
        out["requests"] += stats.requests
        out["failed_requests"] += stats.failed_requests
    return dict(out)


def _spool_usage(directories: list[Path]) -> tuple[int, int]:
    stores = [SpoolStore(d) for d in directories]  # not the collectors' (their byte cache)
    return sum(len(s.pending()) for s in stores), sum(s.bytes_used() for s in stores)


async def spool_usage(stores: list[SpoolStore]) -> tuple[int, int]:
    """Files and bytes in the spools, counted in a thread: a scan of thousands of
    files on the loop would show up in the loop lag this script measures."""
    return await asyncio.to_thread(_spool_usage, [s.directory for s in stores])


def make_collector(url: str, spool: SpoolStore, args: argparse.Namespace) -> BatchCollector:
    # library defaults for everything that decides what is kept (memory budget,
    # spool cap, retries, outage mode); only the spool directory is chosen here
    return BatchCollector(url, spool=spool)


async def soak(url: str, control: ServerControl, args: argparse.Namespace, root: Path) -> bool:
    stores = [SpoolStore(root / f"c{i}") for i in range(args.collectors)]
    collectors = [make_collector(url, store, args) for store in stores]
    for collector in collectors:
        await collector.start()
    fronts = [Analytics(collector, app_key="soak") for collector in collectors]
    users = [f"user-{i}" for i in range(1000)]
    meters = Meters()
    background = [asyncio.create_task(lag_ticker(meters)), asyncio.create_task(rss_sampler(meters))]
    process = psutil.Process()
    await control.call("flap")

    print(
        f"soak: {args.minutes} min, {args.rate}/s over {args.collectors} collector(s), "
        f"seed {args.seed}, flaps {args.flap_min}-{args.flap_max}s, spool {root}",
        flush=True,
    )
    start = time.monotonic()
    end = start + args.minutes * 60
    next_report = start + args.report_every
    produced = 0
    while (now := time.monotonic()) < end:
        due = int((now - start) * args.rate)  # steady rate: catch up after a slow tick
        while produced < due:
            fronts[produced % len(fronts)].track(users[produced % 1000], "tick", {"n": produced})
            produced += 1
        if now >= next_report:
            next_report += args.report_every
            await report(now - start, collectors, stores, meters, process, control)
        await asyncio.sleep(TICK)

    await report(time.monotonic() - start, collectors, stores, meters, process, control)
    # close while the server still flaps: what cannot be sent in time goes to the spool
    close_started = time.monotonic()
    await asyncio.gather(*(c.aclose(timeout=args.close_timeout) for c in collectors))
    close_s = time.monotonic() - close_started
    run = totals(collectors)
    await control.call("healthy")
    files_left, bytes_left = await spool_usage(stores)
    print(
        f"closed in {close_s:.1f}s; spool: {files_left} file(s), {bytes_left / 1e6:.2f} MB; "
        f"server made healthy; replaying",
        flush=True,
    )

    # a fresh collector per spool directory re-sends what is left
    replayed = 0
    for store in stores:
        fresh = make_collector(url, store, args)
        await fresh.start()
        replayer = fresh.replayer
        assert replayer is not None
        await replayer.pass_done.wait()
        while store.pending():  # a pass stops at the first failure; the server is healthy now
            replayer.pass_done.clear()
            replayer.kick()
            await replayer.pass_done.wait()
        await fresh.aclose()
        replayed += fresh.stats.replayed
    meters.running = False
    await asyncio.gather(*background)
    server = await control.call("stats")

    produced_total = run["produced"]
    settled = produced_total == run["delivered"] + run["spooled"] + run["dropped"]
    received_ok = server["unique"] == produced_total - run["dropped"]
    all_replayed = run["replayed"] + replayed == run["spooled"]
    print("\n== soak totals ==")
    print(f"produced            {produced_total:,}")
    print(f"delivered           {run['delivered']:,}")
    print(f"spooled             {run['spooled']:,}")
    print(f"dropped             {run['dropped']:,}  {dropped_by(collectors)}")
    print(f"replayed in run     {run['replayed']:,}")
    print(f"replayed at end     {replayed:,}")
    print(f"replay_dropped      {run['replay_dropped']:,}")
    print(f"requests / failed   {run['requests']:,} / {run['failed_requests']:,}")
    print(f"server unique       {server['unique']:,}  (duplicates {server['duplicates']:,})")
    print(f"server flaps        {server['flaps']}  time in state {server['time_in']}")
    print(f"server requests     {server['requests']}")
    print(f"peak RSS            {meters.rss_peak / 1e6:.1f} MB (client process)")
    print(f"server RSS          {server['rss'] / 1e6:.1f} MB")
    print(
        f"loop lag            p50 {meters.lag_all.quantile(0.5) * 1e3:.2f} ms, "
        f"p99 {meters.lag_all.quantile(0.99) * 1e3:.2f} ms, max {meters.lag_all.max * 1e3:.1f} ms"
    )
    print(f"check produced == delivered + spooled + dropped: {'OK' if settled else 'FAIL'}")
    print(f"check received unique == produced - dropped:     {'OK' if received_ok else 'FAIL'}")
    print(f"check every spooled item replayed:               {'OK' if all_replayed else 'FAIL'}")
    return settled and received_ok and all_replayed


def dropped_by(collectors: list[BatchCollector]) -> dict[str, int]:
    out = Counter[str]()
    for collector in collectors:
        out.update(collector.stats.dropped)
    return dict(out)


async def report(
    elapsed: float,
    collectors: list[BatchCollector],
    stores: list[SpoolStore],
    meters: Meters,
    process: psutil.Process,
    control: ServerControl,
) -> None:
    t = totals(collectors)
    files, used = await spool_usage(stores)
    rss = process.memory_info().rss
    meters.rss_peak = max(meters.rss_peak, rss)
    lag = meters.lag_interval
    meters.lag_interval = LagHistogram()
    server = await control.call("stats")
    print(
        f"[{elapsed:6.0f}s] server={server['state']:<5} produced={t['produced']:,} "
        f"delivered={t['delivered']:,} spooled={t['spooled']:,} dropped={t['dropped']:,} "
        f"replayed={t['replayed']:,} queued={t['queued']:,} in_flight={t['in_flight']:,} "
        f"spool={files} files/{used / 1e6:.2f}MB rss={rss / 1e6:.1f}MB "
        f"(peak {meters.rss_peak / 1e6:.1f}) lag p99={lag.quantile(0.99) * 1e3:.2f}ms "
        f"max={lag.max * 1e3:.1f}ms server_unique={server['unique']:,}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--rate", type=int, default=3000, help="events/s, all collectors")
    parser.add_argument("--collectors", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--flap-min", type=float, default=2.0)
    parser.add_argument("--flap-max", type=float, default=8.0)
    parser.add_argument("--report-every", type=float, default=30.0)
    parser.add_argument("--request-timeout", type=float, default=2.0)
    parser.add_argument("--queue", type=int, default=50_000, help="max_queue_size per collector")
    parser.add_argument("--close-timeout", type=float, default=15.0)
    parser.add_argument("--spool-dir", type=Path, default=None, help="default: a temp dir")
    args = parser.parse_args()
    logging.disable(logging.WARNING)  # the collectors warn on every spooled batch

    root = args.spool_dir or Path(tempfile.mkdtemp(prefix="asyncexp-soak-"))
    parent, child = multiprocessing.Pipe()
    proc = multiprocessing.get_context("spawn").Process(
        target=_serve, args=(child, args.seed, args.flap_min, args.flap_max)
    )
    proc.start()
    url = parent.recv()
    control = ServerControl(parent)
    try:
        ok = asyncio.run(soak(url, control, args, root))
    finally:
        with contextlib.suppress(OSError, EOFError):
            control._call("stop")
        proc.join(10)
        if args.spool_dir is None:
            shutil.rmtree(root, ignore_errors=True)
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()
