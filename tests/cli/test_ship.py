"""``asyncexp ship``: every record exactly once, resumable, and nothing re-sent."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import orjson

from asyncexp.cli.shipping import STATE_FILE, ship_directory
from asyncexp.testing import IngestionServer
from tests.cli.helpers import run_cli
from tests.cli.logs import as_multiset, read_records, write_records


def state_of(directory: Path) -> dict[str, Any]:
    data: dict[str, Any] = orjson.loads((directory / STATE_FILE).read_bytes())
    return data


def line_counts(directory: Path) -> list[int]:
    return [len(p.read_bytes().splitlines()) for p in sorted(directory.glob("datas_*.log"))]


async def test_ship_sends_each_record_once_and_resumes(
    tmp_path: Path, ingestion: IngestionServer
) -> None:
    logs = tmp_path / "logs"
    await write_records(logs, 0, 100)
    assert len(line_counts(logs)) == 3  # three hourly files

    first = await run_cli("ship", str(logs), "--url", ingestion.url, "--batch-size", "7")
    assert first.code == 0, first.err
    assert as_multiset(ingestion.records) == as_multiset(read_records(logs))
    assert ingestion.request_count == sum(math.ceil(n / 7) for n in line_counts(logs))
    assert {r.encoding for r in ingestion.requests} == {"gzip+base64"}
    assert "100 record(s) sent" in first.err
    assert [line for line in first.err.splitlines() if "record(s) sent" in line][:3] == [
        f"asyncexp ship: {p.name}: {n} record(s) sent"
        for p, n in zip(sorted(logs.glob("datas_*.log")), line_counts(logs), strict=True)
    ]

    requests = ingestion.request_count
    again = await run_cli("ship", str(logs), "--url", ingestion.url)
    assert again.code == 0, again.err
    assert ingestion.request_count == requests  # nothing re-sent
    assert "0 record(s) sent in 0 request(s) from 0 file(s)" in again.err

    # More records: the last file grows and a new hour starts.
    await write_records(logs, 100, 60)
    assert len(line_counts(logs)) == 5
    third = await run_cli("ship", str(logs), "--url", ingestion.url + "/up")
    assert third.code == 0, third.err
    assert "60 record(s) sent" in third.err
    assert as_multiset(ingestion.records) == as_multiset(read_records(logs))
    numbers = [r["xcontext"]["n"] for r in ingestion.records]
    assert sorted(numbers) == list(range(160))

    files = state_of(logs)["destinations"][ingestion.url + "/up"]
    for path in logs.glob("datas_*.log"):
        lines = len(path.read_bytes().splitlines())
        assert files[path.name] == {
            "offset": path.stat().st_size,
            "lines": lines,
            "records": lines,
            "malformed": 0,
        }


async def test_plain_json_encoding_and_progress_bar(
    tmp_path: Path, ingestion: IngestionServer
) -> None:
    await write_records(tmp_path, 0, 30)
    result = await run_cli(
        "ship", str(tmp_path), "--url", ingestion.url, "--encoding", "json", "--progress", "bar"
    )
    assert result.code == 0, result.err
    assert {r.encoding for r in ingestion.requests} == {"json"}
    assert as_multiset(ingestion.records) == as_multiset(read_records(tmp_path))
    assert "ship 1 file(s)" in result.err  # the tqdm bar
    assert "100%" in result.err
    assert "records=30" in result.err


async def test_another_destination_gets_everything(
    tmp_path: Path, ingestion: IngestionServer
) -> None:
    await write_records(tmp_path, 0, 20)
    assert (await run_cli("ship", str(tmp_path), "--url", ingestion.url)).code == 0
    async with IngestionServer() as other:
        result = await run_cli("ship", str(tmp_path), "--url", other.url, "--progress", "none")
        assert result.code == 0, result.err
        assert as_multiset(other.records) == as_multiset(ingestion.records)
        assert len(other.records) == 20
    assert set(state_of(tmp_path)["destinations"]) == {ingestion.url + "/up", other.url + "/up"}


async def test_ship_directory_in_process(tmp_path: Path, ingestion: IngestionServer) -> None:
    await write_records(tmp_path, 0, 25)
    report = await ship_directory(tmp_path, ingestion.url, batch_size=10)
    assert report.ok
    assert (report.records, report.requests, report.malformed, report.pending_bytes) == (
        25,
        3 + (len(line_counts(tmp_path)) - 1),  # the batches restart with each file
        0,
        0,
    )
    assert report.url == ingestion.url + "/up"
    again = await ship_directory(tmp_path, ingestion.url)
    assert (again.ok, again.records, again.requests, again.files) == (True, 0, 0, 0)
    assert len(ingestion.records) == 25
