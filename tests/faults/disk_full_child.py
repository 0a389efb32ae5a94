"""Child process of ``test_disk_full.py``: runs one scenario on a small tmpfs, prints JSON.

Run as ``python -m tests.faults.disk_full_child <scenario> <directory>`` where
``directory`` is the mount point of a tmpfs of a few hundred KiB (the parent
mounts it in a private mount namespace). Scenarios:

* ``spool``: the server is down, so a BatchCollector (library defaults, spool
  on the tmpfs) diverts everything to the spool until the disk is full; then
  the server comes back and a second collector re-sends what was written.
* ``log``: a LogCollector (library defaults, files on the tmpfs) gets records
  in a tight loop until the disk is full.

The last line of stdout is a JSON object with the figures the parent checks.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from pathlib import Path
from typing import Any

from asyncexp.aio.collectors import BatchCollector, LogCollector
from asyncexp.aio.collectors.spool import SpoolStore
from asyncexp.analytics.api import Analytics
from tests.faults.fault_server import FaultServer
from tests.faults.helpers import NoSleep, track_numbered

SPOOL_RECORDS = 20_000
LOG_RECORDS = 20_000
PADDING = "x" * 200  # records of about 450 bytes: the tmpfs fills after a few hundred lines


class _Messages(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


async def spool_scenario(root: Path) -> dict[str, Any]:
    spool = root / "spool"
    # the spool's own failures, whatever error the sender recorded last
    captured = _Messages()
    spool_logger = logging.getLogger("asyncexp")
    spool_logger.addHandler(captured)
    spool_logger.setLevel(logging.DEBUG)
    async with FaultServer() as server:
        await server.down()
        first = BatchCollector(server.url, spool=spool, probe_base=0.01, probe_max=0.02)
        await first.start()
        analytics = Analytics(first, app_key="shop")
        for start in range(0, SPOOL_RECORDS, 500):
            track_numbered(analytics, start, 500)
            await asyncio.sleep(0)  # pacing: let the sender divert
        await first.aclose()
        leftovers = sorted(p.name for p in spool.iterdir() if p.name.endswith(".tmp"))
        files = len(SpoolStore(spool).pending())
        await server.up()
        second = BatchCollector(server.url, spool=spool)
        await second.start()
        replayer = second.replayer
        assert replayer is not None
        await replayer.pass_done.wait()  # the start-up pass re-sends everything readable
        await second.aclose()
        return {
            "first": first.stats.as_dict(),
            "second": second.stats.as_dict(),
            "files": files,
            "tmp_leftovers": leftovers,
            "acked": sorted(server.acked),
            "duplicates": sum(1 for v in server.acked.values() if v > 1),
            "left": len(SpoolStore(spool).pending()),
            "spool_write_failures": [m for m in captured.messages if "spool write failed" in m],
        }


async def log_scenario(root: Path) -> dict[str, Any]:
    logs = root / "logs"
    collector = LogCollector(logs, sleep=NoSleep())  # retries of a failed write: no real wait
    await collector.start()
    for n in range(LOG_RECORDS):  # a tight loop: never yields
        collector.submit({"xwhat": "tick", "xwhen": 1_700_000_000_000, "n": n, "pad": PADDING})
    await collector.aclose()
    lines: list[bytes] = []
    torn = 0
    for path in sorted(logs.iterdir()):
        data = path.read_bytes()
        if data and not data.endswith(b"\n"):
            torn += 1
        lines.extend(line for line in data.split(b"\n") if line)
    parsed = []
    bad = 0
    for line in lines:
        try:
            parsed.append(json.loads(line)["n"])
        except (ValueError, KeyError):
            bad += 1
    return {
        "stats": collector.stats.as_dict(),
        "lines": len(lines),
        "unique": len(set(parsed)),
        "bad_lines": bad,
        "torn_files": torn,
    }


def main() -> None:
    scenario, directory = sys.argv[1], Path(sys.argv[2])
    run = {"spool": spool_scenario, "log": log_scenario}[scenario]
    print(json.dumps(asyncio.run(run(directory))))


if __name__ == "__main__":
    main()
