"""A producer process for the stream tests: ``python -m tests.stores.stream_producer``.

Arguments: REDIS_URL COUNT PREFIX EVENTS_URL MODE (``run`` or ``pause``).
Every 10th item is an Optimizely conversion (uuid ``PREFIX-e<i>``), the others
Analysys records (``$record_id`` ``PREFIX-r<i>``). With ``pause`` it prints
``half`` after the first half and waits for ``go`` on stdin (the test kills
Redis meanwhile), produces the rest, waits until the failed appends put the
collector in outage mode, prints ``produced`` and waits for ``close``; then it
waits until the stream answers again (outage mode off) and closes. The last line on stdout is
the collector's counters as JSON.
"""

from __future__ import annotations

import asyncio
import sys

import orjson

from asyncexp.core.flags.events import EventContext, UserEvent
from asyncexp.stores import RedisStreamCollector


async def _line(expected: str) -> None:
    got = await asyncio.to_thread(sys.stdin.readline)
    assert got.strip() == expected, got


def _say(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


async def main(url: str, count: int, prefix: str, events_url: str, mode: str) -> None:
    collector = RedisStreamCollector(
        url, probe_base=0.05, probe_max=0.5, replay_interval=1.0, close_timeout=60.0
    )
    await collector.start()
    ctx = EventContext(account_id="a1", project_id="p1", revision="7", endpoint_override=events_url)

    async def produce(start: int, stop: int) -> None:
        for i in range(start, stop):
            if i % 10 == 9:
                uuid = f"{prefix}-e{i}"
                event = {"entity_id": "1", "key": "buy", "uuid": uuid, "timestamp": i}
                visitor = {"snapshots": [{"events": [event]}], "attributes": [], "visitor_id": "u"}
                collector.submit(UserEvent(ctx, visitor, "conversion", uuid, i))
            else:
                collector.submit(
                    {
                        "appid": "app",
                        "xwho": f"user{i % 97}",
                        "xwhat": "buy",
                        "xwhen": 1_700_000_000_000 + i,
                        "xcontext": {"$record_id": f"{prefix}-r{i}", "price": i},
                    }
                )
            if i % 1000 == 999:
                await asyncio.sleep(0)  # a web worker yields between requests

    half = count // 2 if mode == "pause" else count
    await produce(0, half)
    if mode == "pause":
        _say("half")
        await _line("go")
    await produce(half, count)
    if mode == "pause":
        replayer = collector.replayer
        assert replayer is not None
        while not collector.health.outage:  # Redis is down: the appends fail into outage mode
            replayer.pass_done.clear()
            await replayer.pass_done.wait()
        _say("produced")
        await _line("close")
        while collector.health.outage:  # the spool re-sender's probes end the outage
            replayer.pass_done.clear()
            await replayer.pass_done.wait()
    await collector.aclose()
    stats = collector.stats
    assert stats.settled, stats.as_dict()
    _say(
        orjson.dumps(
            {"stats": stats.as_dict(), "stream": collector.stream_stats.as_dict()}
        ).decode()
    )


if __name__ == "__main__":
    url, count, prefix, events_url, mode = sys.argv[1:6]
    asyncio.run(main(url, int(count), prefix, events_url, mode))
