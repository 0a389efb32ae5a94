"""``asyncexp ship`` failures: exit status 1, one error line, the state kept for what succeeded."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from asyncexp.cli._ship_files import exclusive
from asyncexp.cli.shipping import STATE_FILE
from asyncexp.testing import IngestionServer, Reply
from tests.cli.helpers import Result, closed_port, run_cli
from tests.cli.logs import as_multiset, read_records, write_records


def offsets(directory: Path, url: str) -> dict[str, int]:
    path = directory / STATE_FILE
    if not path.exists():
        return {}
    files: dict[str, Any] = orjson.loads(path.read_bytes())["destinations"].get(url + "/up", {})
    return {name: entry["offset"] for name, entry in files.items() if entry["offset"]}


def log_files(directory: Path) -> list[Path]:
    return sorted(directory.glob("datas_*.log"))


def first_lines_size(path: Path, count: int) -> int:
    return sum(len(line) for line in path.read_bytes().splitlines(keepends=True)[:count])


def last_line_error(result: Result) -> str:
    assert result.code == 1, (result.code, result.err)
    assert "Traceback" not in result.err
    line = result.err.strip().splitlines()[-1]
    assert line.startswith("asyncexp ship: error: "), line
    return line


@pytest.mark.parametrize(
    ("reply", "detail"),
    [
        (Reply(status=200, code=400), "response code 400 (HTTP 200)"),  # Analysys refusal
        (Reply(status=400, code=None), "HTTP 400"),
        (Reply(status=500, code=None), "HTTP 500"),  # retried, then given up
        (Reply(status=200, code=500), "response code 500 (HTTP 200)"),
    ],
)
async def test_a_failed_batch_stops_the_run_and_keeps_the_state(
    tmp_path: Path, ingestion: IngestionServer, reply: Reply, detail: str
) -> None:
    await write_records(tmp_path, 0, 100)
    first_file = log_files(tmp_path)[0]
    retries = reply.status == 500 or reply.code == 500
    ingestion.script("analysys", Reply(), Reply(), *([reply] * (2 if retries else 1)))
    result = await run_cli(
        "ship",
        str(tmp_path),
        "--url",
        ingestion.url,
        "--batch-size",
        "10",
        "--retries",
        "1" if retries else "3",  # a refusal is never retried, whatever --retries says
        "--progress",
        "none",
    )
    line = last_line_error(result)
    assert f"{first_file.name} lines 21-30 not accepted by {ingestion.url}/up: {detail}" in line
    assert "20 record(s) sent in 3 request(s)" in result.err
    assert ingestion.request_count == (4 if retries else 3)
    assert len(ingestion.records) == 20
    assert offsets(tmp_path, ingestion.url) == {first_file.name: first_lines_size(first_file, 20)}

    # The server is back: the rest goes, nothing twice.
    resumed = await run_cli("ship", str(tmp_path), "--url", ingestion.url, "--batch-size", "10")
    assert resumed.code == 0, resumed.err
    assert "80 record(s) sent" in resumed.err
    assert as_multiset(ingestion.records) == as_multiset(read_records(tmp_path))


async def test_a_retried_batch_is_delivered_once(
    tmp_path: Path, ingestion: IngestionServer
) -> None:
    await write_records(tmp_path, 0, 15)
    ingestion.script("analysys", Reply(status=503, code=None, retry_after="0"))
    result = await run_cli("ship", str(tmp_path), "--url", ingestion.url, "--retries", "2")
    assert result.code == 0, result.err
    assert ingestion.request_count == 2
    assert as_multiset(ingestion.records) == as_multiset(read_records(tmp_path))


async def test_unreachable_server(tmp_path: Path) -> None:
    await write_records(tmp_path, 0, 5)
    url = f"http://127.0.0.1:{closed_port()}"
    result = await run_cli("ship", str(tmp_path), "--url", url, "--retries", "0")
    line = last_line_error(result)
    assert f"not accepted by {url}/up" in line
    assert "0 record(s) sent" in result.err
    assert offsets(tmp_path, url) == {}


async def test_a_password_in_the_url_is_never_printed_nor_stored(
    tmp_path: Path, ingestion: IngestionServer
) -> None:
    await write_records(tmp_path, 0, 5)
    url = f"http://shipper:hunter2-secret@127.0.0.1:{closed_port()}"
    result = await run_cli("ship", "-vvv", str(tmp_path), "--url", url, "--retries", "1")
    assert "not accepted by http://127.0.0.1:" in last_line_error(result)
    assert "hunter2-secret" not in result.err

    with_password = ingestion.url.replace("http://", "http://shipper:hunter2-secret@")
    shipped = await run_cli("ship", "-vvv", str(tmp_path), "--url", with_password)
    assert shipped.code == 0, shipped.err
    assert len(ingestion.records) == 5
    assert "hunter2-secret" not in shipped.err
    state = (tmp_path / STATE_FILE).read_text()
    assert "hunter2-secret" not in state
    assert offsets(tmp_path, ingestion.url)  # keyed by the URL without credentials


async def test_malformed_lines_are_skipped_and_incomplete_lines_wait(
    tmp_path: Path, ingestion: IngestionServer
) -> None:
    path = tmp_path / "datas_2024010112.log"
    good = [{"xwhat": "a", "n": 1}, {"xwhat": "b", "n": 2}, {"xwhat": "c", "n": 3}]
    lines = [orjson.dumps(good[0]), b"not json", b"[1, 2]", b"", orjson.dumps(good[1])]
    path.write_bytes(b"\n".join(lines) + b"\n" + orjson.dumps(good[2])[:5])
    result = await run_cli("ship", str(tmp_path), "--url", ingestion.url)
    assert result.code == 0, result.err
    assert "asyncexp: warning: datas_2024010112.log:2: not valid JSON" in result.err
    assert "asyncexp: warning: datas_2024010112.log:3: a JSON list, not an object" in result.err
    assert "2 malformed line(s) skipped" in result.err
    assert "5 byte(s) of an incomplete line left" in result.err
    assert ingestion.records == good[:2]

    with path.open("ab") as file:  # the writer finishes its line
        file.write(orjson.dumps(good[2])[5:] + b"\n")
    again = await run_cli("ship", str(tmp_path), "--url", ingestion.url)
    assert again.code == 0, again.err
    assert "warning" not in again.err  # skipped lines are not looked at again
    assert ingestion.records == good
    assert offsets(tmp_path, ingestion.url) == {path.name: path.stat().st_size}


async def test_strict_stops_before_a_malformed_line(
    tmp_path: Path, ingestion: IngestionServer
) -> None:
    path = tmp_path / "datas_2024010112.log"
    first = orjson.dumps({"n": 1}) + b"\n"
    path.write_bytes(first + b"{broken\n" + orjson.dumps({"n": 2}) + b"\n")
    result = await run_cli("ship", str(tmp_path), "--url", ingestion.url, "--strict")
    line = last_line_error(result)
    assert "datas_2024010112.log:2: not valid JSON" in line
    assert ingestion.records == [{"n": 1}]
    assert offsets(tmp_path, ingestion.url) == {path.name: len(first)}


async def test_a_truncated_file_is_an_error(tmp_path: Path, ingestion: IngestionServer) -> None:
    await write_records(tmp_path, 0, 10)
    assert (await run_cli("ship", str(tmp_path), "--url", ingestion.url)).code == 0
    path = log_files(tmp_path)[0]
    path.write_bytes(path.read_bytes()[:10])
    line = last_line_error(await run_cli("ship", str(tmp_path), "--url", ingestion.url))
    assert f"{path.name} is shorter (10 bytes) than what was shipped from it" in line


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        (b"{oops", "fix or delete it"),
        (b'{"version": 2, "destinations": {}}', "not a valid state file (version 2"),
        (b'{"version": 1, "destinations": {"u": {"f": {"offset": -1}}}}', "not a valid state"),
        (b'{"version": 1, "destinations": {"u": {"f": {"size": 1}}}}', "not a valid state"),
        (b"[]", "not a valid state file"),
    ],
)
async def test_a_bad_state_file_is_one_line(tmp_path: Path, state: bytes, expected: str) -> None:
    await write_records(tmp_path, 0, 3)
    (tmp_path / STATE_FILE).write_bytes(state)
    url = f"http://127.0.0.1:{closed_port()}"
    line = (await run_cli("ship", str(tmp_path), "--url", url)).assert_one_line_error(1)
    assert expected in line
    assert (tmp_path / STATE_FILE).read_bytes() == state  # never overwritten


async def test_missing_directory_and_a_concurrent_run(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    missing = (await run_cli("ship", str(tmp_path / "nope"), "--url", url)).assert_one_line_error(1)
    assert "is not a directory" in missing
    with exclusive(tmp_path):
        busy = (await run_cli("ship", str(tmp_path), "--url", url)).assert_one_line_error(1)
    assert "another 'asyncexp ship' is running" in busy
