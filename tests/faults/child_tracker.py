"""A child process for ``test_process_kill.py``: a small service that tracks events.

Run as ``python child_tracker.py track|replay --url URL --spool DIR [options]``.

``track``: builds a :class:`~asyncexp.Client` with a ``BatchCollector`` (spool in
``DIR``) and tracks events ``{"n": 0}, {"n": 1}, …`` in ticks, printing one
``progress {json}`` line of collector counters per tick. Like a real service it
handles SIGTERM with a loop signal handler that stops producing and closes the
client gracefully (``aclose``), then prints ``closed {json}`` and exits 0. A
``pause`` line on stdin stops producing (the collector keeps shipping) and prints
``paused {json}``: the test then knows exactly how many events were produced.

``replay``: starts a collector on the same spool, waits for its start-up re-send
pass, closes and prints ``replayed {json}`` (with the files still pending).

Every line is flushed at once: the parent synchronises on them.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
from typing import Any

from asyncexp import BatchCollector, Client
from asyncexp.aio.http import RetryPolicy

RETRY = RetryPolicy(max_retries=2, base_delay=0.01, max_delay=0.05)


def emit(kind: str, collector: BatchCollector, **extra: Any) -> None:
    stats = collector.stats
    line = {
        "produced": stats.produced,
        "delivered": stats.delivered,
        "spooled": stats.spooled,
        "dropped": stats.total_dropped,
        "dropped_by": stats.dropped,
        "queued": stats.queued,
        "in_flight": stats.in_flight,
        "replayed": stats.replayed,
        "settled": stats.settled,
        **extra,
    }
    print(kind, json.dumps(line), flush=True)


def make_collector(args: argparse.Namespace, replay_interval: float) -> BatchCollector:
    return BatchCollector(
        args.url,
        spool=args.spool,
        batch_size=args.batch_size,
        max_request_size=args.batch_size,
        max_interval=0.05,
        max_queue_size=args.max_queue,
        max_concurrency=args.concurrency,
        retry=RETRY,
        request_timeout=args.request_timeout,
        replay_interval=replay_interval,
    )


async def watch_stdin(paused: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := await reader.readline():
        if line.strip() == b"pause":
            paused.set()


async def track(args: argparse.Namespace) -> None:
    collector = make_collector(args, replay_interval=1.0)
    client = Client(collector=collector, app_key="shop")
    stop = asyncio.Event()
    paused = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)  # what a real service does
    stdin_task = loop.create_task(watch_stdin(paused))
    await client.start()
    n = 0
    announced = False
    while not stop.is_set():
        if not paused.is_set():
            for _ in range(args.per_tick):
                client.track(f"user-{n % 7}", "tick", {"n": n})
                n += 1
            emit("progress", collector)
        elif not announced:
            announced = True
            emit("paused", collector)
        else:
            emit("progress", collector)
        with contextlib.suppress(TimeoutError):  # the tick, cut short by SIGTERM
            await asyncio.wait_for(stop.wait(), args.tick)
    await client.aclose(timeout=args.close_timeout)
    stdin_task.cancel()
    emit("closed", collector)


async def replay(args: argparse.Namespace) -> None:
    collector = make_collector(args, replay_interval=3600.0)
    client = Client(collector=collector, app_key="shop")
    await client.start()
    assert collector.replayer is not None
    assert collector.spool is not None
    await collector.replayer.pass_done.wait()
    pending = len(collector.spool.pending())
    await client.aclose()
    emit("replayed", collector, pending=pending, replay_dropped=collector.stats.replay_dropped)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=("track", "replay"))
    parser.add_argument("--url", required=True)
    parser.add_argument("--spool", required=True)
    parser.add_argument("--per-tick", type=int, default=50)
    parser.add_argument("--tick", type=float, default=0.01)
    parser.add_argument("--batch-size", type=int, default=50)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--max-queue", type=int, default=50_000)
    parser.add_argument("--request-timeout", type=float, default=30.0)
    parser.add_argument("--close-timeout", type=float, default=10.0)
    args = parser.parse_args()
    asyncio.run(track(args) if args.mode == "track" else replay(args))


if __name__ == "__main__":
    main()
