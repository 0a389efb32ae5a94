"""Event-loop lag while a ~1 MB datafile is fetched over loopback and parsed.

A 1 ms ticker runs on the loop while ``Client(datafile_url=…)`` starts (first
fetch + parse) against a local aiohttp server. Reported: the parse time alone,
and the p50/max lateness of the ticker with the parse in the executor (what the
client does for bodies ≥ 128 KiB) and, for comparison, on the loop.

    python benchmarks/bench_datafile_lag.py [--rounds R]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import statistics
import time
from typing import Any

from aiohttp import web

from asyncexp.aio import datafile_source
from asyncexp.client import Client
from asyncexp.core.flags.datafile import parse_datafile
from asyncexp.examples_data import example_datafile


def big_datafile() -> str:
    doc: dict[str, Any] = json.loads(example_datafile())
    # Grow it to ~1 MB with more flags and rules, the expensive part to parse.
    extra_rollouts, extra_flags = [], []
    for n in range(7):
        for rollout in doc["rollouts"]:
            clone = json.loads(json.dumps(rollout))
            clone["id"] = f"{rollout['id']}_{n}"
            for rule in clone["experiments"]:
                rule["id"] = f"{rule['id']}_{n}"
            extra_rollouts.append(clone)
        for flag in doc["featureFlags"]:
            extra_flags.append(
                {
                    **flag,
                    "id": f"{flag['id']}_{n}",
                    "key": f"{flag['key']}_{n}",
                    "rolloutId": f"{flag['rolloutId']}_{n}",
                    "experimentIds": [],
                }
            )
    doc["rollouts"] += extra_rollouts
    doc["featureFlags"] += extra_flags
    return json.dumps(doc)


async def one_round(url: str, on_loop: bool) -> list[float]:
    threshold = datafile_source.EXECUTOR_PARSE_BYTES
    if on_loop:
        datafile_source.EXECUTOR_PARSE_BYTES = 1 << 40
    lateness: list[float] = []
    stop = asyncio.Event()

    async def ticker() -> None:
        while not stop.is_set():
            start = time.perf_counter()
            await asyncio.sleep(0.001)
            lateness.append((time.perf_counter() - start - 0.001) * 1000)

    task = asyncio.create_task(ticker())
    try:
        async with Client(datafile_url=url) as client:
            assert client.config is not None
    finally:
        stop.set()
        await task
        datafile_source.EXECUTOR_PARSE_BYTES = threshold
    return lateness


async def main(rounds: int) -> None:
    logging.disable(logging.CRITICAL)
    text = big_datafile()
    parse_ms = statistics.median(
        (lambda t: (parse_datafile(text), (time.perf_counter() - t) * 1000)[1])(time.perf_counter())
        for _ in range(5)
    )
    app = web.Application()
    app.router.add_get("/d.json", lambda request: web.Response(text=text))
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}/d.json"
    print(f"datafile {len(text) / 1e6:.2f} MB, parse alone {parse_ms:.1f} ms (median of 5)")
    for label, on_loop in (("executor (default)", False), ("on the loop", True)):
        samples = [await one_round(url, on_loop) for _ in range(rounds)]
        worst = statistics.median(max(s) for s in samples)
        p50 = statistics.median(statistics.median(s) for s in samples)
        print(f"{label:<20} loop lag p50 {p50:.2f} ms, max {worst:.1f} ms (median of {rounds})")
    await runner.cleanup()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    asyncio.run(main(parser.parse_args().rounds))
