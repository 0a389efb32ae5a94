"""Fixtures for the command-line tests: datafiles and local servers on 127.0.0.1."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiohttp import web

from asyncexp.examples_data import example_datafile
from asyncexp.testing import IngestionServer


@pytest.fixture
def datafile_text() -> str:
    return example_datafile()


@pytest.fixture
def datafile_path(tmp_path: Path, datafile_text: str) -> Path:
    path = tmp_path / "datafile.json"
    path.write_text(datafile_text, encoding="utf-8")
    return path


@pytest.fixture
async def ingestion() -> AsyncIterator[IngestionServer]:
    async with IngestionServer() as server:
        yield server


@dataclass
class DatafileServer:
    """Serves ``/datafiles/{name}`` from ``bodies`` (404 otherwise) and notes each request."""

    bodies: dict[str, bytes] = field(default_factory=dict)
    statuses: dict[str, int] = field(default_factory=dict)
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    url: str = ""

    def template(self) -> str:
        return self.url + "/datafiles/{sdk_key}.json"

    async def handle(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        self.requests.append((name, dict(request.headers)))
        if name not in self.bodies:
            return web.Response(status=404, text="not found")
        return web.Response(status=self.statuses.get(name, 200), body=self.bodies[name])


@pytest.fixture
async def datafile_server() -> AsyncIterator[DatafileServer]:
    server = DatafileServer()
    app = web.Application()
    app.router.add_get("/datafiles/{name}", server.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    server.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        yield server
    finally:
        await runner.cleanup()
