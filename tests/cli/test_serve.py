"""``asyncexp serve``: URL on the first stdout line, both wire formats written, clean stop."""

from __future__ import annotations

import asyncio
import base64
import gzip
import signal
import socket
import sys
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from asyncexp.aio.collectors.wire import analysys_response_code
from tests.cli.helpers import TIMEOUT, Result, start_cli

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

RECORDS = [
    {"appid": "shop", "xwho": f"u{i}", "xwhat": "Visit", "xwhen": 1_700_000_000_000 + i}
    for i in range(5)
]
BATCH = {
    "account_id": "1",
    "project_id": "2",
    "revision": "7",
    "visitors": [{"visitor_id": "u1", "snapshots": [], "attributes": []}],
}


async def serve(*args: str) -> tuple[asyncio.subprocess.Process, str]:
    proc = await start_cli("serve", *args)
    assert proc.stdout is not None
    line = await asyncio.wait_for(proc.stdout.readline(), TIMEOUT)
    url = line.decode().strip()
    assert url.startswith("http://127.0.0.1:"), (url, proc.returncode)
    return proc, url


async def stop(proc: asyncio.subprocess.Process, sig: int) -> Result:
    proc.send_signal(sig)
    out, err = await asyncio.wait_for(proc.communicate(), TIMEOUT)
    assert proc.returncode is not None
    return Result(proc.returncode, out.decode(), err.decode())


def read_lines(path: Path) -> list[Any]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
async def test_serve_writes_both_formats_and_stops_on_a_signal(tmp_path: Path, sig: int) -> None:
    out = tmp_path / "received"
    proc, url = await serve("--out", str(out))
    try:
        async with aiohttp.ClientSession() as session:
            packed = base64.b64encode(gzip.compress(orjson.dumps(RECORDS[:3])))
            async with session.post(url + "/up", data=packed) as resp:
                assert resp.status == 200
                assert analysys_response_code(await resp.read()) == 200
            async with session.post(url + "/up", data=orjson.dumps(RECORDS[3:])) as resp:
                assert analysys_response_code(await resp.read()) == 200
            async with session.post(url + "/v1/events", json=BATCH) as resp:
                assert resp.status == 204
            async with session.post(url + "/up", data=b"garbage") as resp:
                assert analysys_response_code(await resp.read()) == 400
    finally:
        result = await stop(proc, sig)
    assert result.code == 0, result.err
    assert "Traceback" not in result.err
    assert read_lines(out / "analysys.jsonl") == RECORDS
    assert read_lines(out / "optimizely.jsonl") == [BATCH]
    assert "received 5 Analysys record(s) and 1 Optimizely event batch(es)" in result.err
    assert "1 request(s) rejected" in result.err
    assert "POST /up: rejected a body that does not decode (7 bytes)" in result.err


async def test_serve_appends_across_runs_and_runs_without_out(tmp_path: Path) -> None:
    out = tmp_path / "received"
    for _ in range(2):
        proc, url = await serve("--out", str(out), "--port", "0")
        async with aiohttp.ClientSession() as session:
            await (await session.post(url + "/up", data=orjson.dumps(RECORDS[:1]))).read()
        assert (await stop(proc, signal.SIGTERM)).code == 0
    assert read_lines(out / "analysys.jsonl") == RECORDS[:1] * 2

    proc, url = await serve()
    async with aiohttp.ClientSession() as session:
        await (await session.post(url + "/v1/events", json=BATCH)).read()
    result = await stop(proc, signal.SIGTERM)
    assert result.code == 0
    assert "not writing (no --out)" in result.err
    assert "0 Analysys record(s) and 1 Optimizely event batch(es)" in result.err


async def test_serve_on_a_busy_port_is_one_line() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = await start_cli("serve", "--port", str(port))
        out, err = await asyncio.wait_for(proc.communicate(), TIMEOUT)
    assert proc.returncode is not None
    result = Result(proc.returncode, out.decode(), err.decode())
    line = result.assert_one_line_error(1)
    assert f"cannot listen on 127.0.0.1:{port}" in line
    assert result.out == ""


async def test_serve_cannot_write_out(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    proc = await start_cli("serve", "--out", str(blocker / "sub"))
    out, err = await asyncio.wait_for(proc.communicate(), TIMEOUT)
    assert proc.returncode is not None
    line = Result(proc.returncode, out.decode(), err.decode()).assert_one_line_error(1)
    assert "cannot write to" in line
