"""Log files, shipped later: a LogCollector writes records, ``ship_directory`` sends them.

Runs on its own: ``python examples/logfile_ship.py``. Services that must not
depend on the collector's availability write analytics records to local files
(``LogCollector``: ``datas_YYYYMMDDHH.log``, one JSON record per line) and a
separate job ships them — here ``ship_directory``, the machinery behind
``asyncexp ship DIR --url URL``. A local ingestion server on 127.0.0.1
(``asyncexp.testing.IngestionServer``) stands in for the Analysys collector.

The second shipping run sends nothing: the acknowledged byte offsets are kept
in ``DIR/.asyncexp-ship.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from datetime import UTC
from pathlib import Path

from asyncexp import Client, LogCollector
from asyncexp.cli.shipping import ship_directory
from asyncexp.testing import IngestionServer

START_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z: the records span a few hourly files


def log_files(directory: Path) -> list[str]:
    return sorted(path.name for path in directory.glob("datas_*.log"))


async def main(records: int = 200, batch_size: int = 50) -> dict[str, int]:
    with tempfile.TemporaryDirectory(prefix="asyncexp-logs-") as tmp:
        directory = Path(tmp)
        # File names by the record's UTC hour, so the example gives the same files everywhere.
        collector = LogCollector(directory, batch=True, batch_size=100, tz=UTC)
        # Analytics only, no datafile: nothing to wait for at start.
        async with Client(collector=collector, app_key="demo", ready_timeout=0) as client:
            for i in range(records):
                when = START_MS + i * 60_000  # one a minute
                client.track(f"user-{i}", "DemoVisit", {"n": i}, xwhen=when)
        # Leaving the block flushed the collector: every record is in a file now.
        files = log_files(directory)
        print(f"wrote {records} records to {len(files)} files: {', '.join(files)}")

        async with IngestionServer() as server:
            first = await ship_directory(directory, server.url, batch_size=batch_size)
            print(f"shipped {first.records} records in {first.requests} requests")
            again = await ship_directory(directory, server.url, batch_size=batch_size)
            print(f"second run shipped {again.records} records")
            received = sorted(record["xcontext"]["n"] for record in server.records)
        once = received == list(range(records))
        print(f"server received {len(received)} records, each once: {once}")
        return {
            "files": len(files),
            "shipped": first.records,
            "requests": first.requests,
            "reshipped": again.records,
            "received": len(received),
            "distinct": len(set(received)),
        }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--records", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=50)
    options = parser.parse_args()
    asyncio.run(main(options.records, options.batch_size))
