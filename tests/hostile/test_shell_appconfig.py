"""A hostile AppConfig endpoint cannot stall start-up or bloat the process.

Issue 15, shell rows: an AppConfig endpoint that accepts the connection and never
answers made ``async with Client(...)`` return after 306 s (botocore's 60 s
connect and read timeouts, five legacy attempts) and ``ready_timeout`` did not
apply. Now botocore gets connect/read timeouts and retries from the settings and
``start`` waits for the first round at most ``ready_timeout``. Also: an oversized
answer is refused unparsed, and a source that changes flag key each round keeps
one run, not one per key.

The never-answering endpoint is a real TCP server on 127.0.0.1 that accepts and
reads nothing; botocore reaches it through ``endpoint_url``.
"""

from __future__ import annotations

import asyncio
import copy
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest
from aiohttp import web

from asyncexp import Client
from asyncexp.aio.appconfig import AppConfigExperiments, RunSource
from asyncexp.aio.appconfig.limits import MAX_RUN_RESPONSE_BYTES
from tests.appconfig_samples import run_dict

pytest.importorskip("aiobotocore")

SOURCE = RunSource("app1", "exp1", 3)
PATH = "/applications/{app}/experimentdefinitions/{definition}/experimentruns/{run}"


@pytest.fixture(autouse=True)
def isolated_aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@dataclass
class Silent:
    """Accepts every connection and never answers (nor reads) until closed."""

    url: str = ""
    connections: int = 0
    connected: asyncio.Event = field(default_factory=asyncio.Event)
    _hold: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.connected.set()
        await self._hold.wait()
        writer.close()


@pytest.fixture
async def silent() -> AsyncIterator[Silent]:
    server = Silent()
    tcp = await asyncio.start_server(server.handle, "127.0.0.1", 0)
    server.url = f"http://127.0.0.1:{tcp.sockets[0].getsockname()[1]}"
    yield server
    server._hold.set()
    tcp.close()
    await tcp.wait_closed()


class Parked:
    """An injected poll sleep that never returns by itself."""

    async def __call__(self, seconds: float) -> None:
        await asyncio.get_running_loop().create_future()


def options(endpoint: str, **extra: Any) -> dict[str, Any]:
    return {
        "region": "us-east-1",
        "sleep": Parked(),
        "client_kwargs": {
            "endpoint_url": endpoint,
            "aws_access_key_id": "AKIDLOCALHOSTILE",
            "aws_secret_access_key": "hostile-secret-not-used",
        },
        **extra,
    }


async def test_a_never_answering_endpoint_does_not_hold_client_start(silent: Silent) -> None:
    client = Client(
        appconfig_sources=[SOURCE],
        appconfig_options=options(silent.url, ready_timeout=0.05),
    )
    async with client:
        await silent.connected.wait()  # the request really went out and hangs
        exp = client.appconfig
        assert exp.runs == {}
        assert exp.stats.start_timeouts == 1
        assert (exp.stats.fetches, exp.stats.fetch_errors) == (1, 0)  # still in flight
        assert "state=running" in repr(exp)
        # the bounds botocore got: not its 60 s / 60 s / five legacy attempts
        config = exp._poller._client.meta.config
        assert (config.connect_timeout, config.read_timeout) == (5.0, 10.0)
        assert config.retries == {"mode": "standard", "total_max_attempts": 2}
    assert client.closed


async def test_the_read_timeout_and_attempts_end_a_hanging_request(
    silent: Silent, caplog: pytest.LogCaptureFixture
) -> None:
    failed = asyncio.Event()

    class Watch(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if "get_experiment_run" in record.getMessage():
                failed.set()

    watch = Watch()
    logging.getLogger("asyncexp.appconfig").addHandler(watch)
    caplog.set_level(logging.WARNING, logger="asyncexp.appconfig")
    exp = AppConfigExperiments(
        sources=[SOURCE],
        **options(silent.url, ready_timeout=0, request_timeout=0.2, max_attempts=2),
    )
    try:
        await exp.start()
        assert exp.stats.start_timeouts == 1
        await failed.wait()
        assert exp.stats.fetch_errors == 1
        assert "ReadTimeout" in (exp.stats.last_error or "")
        assert silent.connections == 2  # max_attempts, not botocore's five
        assert exp._poller.timeouts == {
            "connect_timeout": 5.0,
            "read_timeout": 0.2,
            "max_attempts": 2,
            "ready_timeout": 0,
        }
    finally:
        logging.getLogger("asyncexp.appconfig").removeHandler(watch)
        await exp.aclose()
    messages = [r.getMessage() for r in caplog.records]
    assert any("no answer for 1 run source(s) within 0.0s" in m for m in messages)


async def test_a_user_config_is_merged_over_the_bounds(silent: Silent) -> None:
    from aiobotocore.config import AioConfig

    opts = options(silent.url, ready_timeout=0.05)
    opts["client_kwargs"]["config"] = AioConfig(read_timeout=3)
    async with AppConfigExperiments(sources=[SOURCE], **opts) as exp:
        config = exp._poller._client.meta.config
        assert (config.connect_timeout, config.read_timeout) == (5.0, 3)


# -- answers that are too big, or move to a new flag key each round -----------------------------


@dataclass
class Scripted:
    bodies: list[bytes]
    url: str = ""

    async def handle(self, request: web.Request) -> web.Response:
        body = self.bodies.pop(0) if len(self.bodies) > 1 else self.bodies[0]
        return web.Response(body=body, content_type="application/json")


async def serve(server: Scripted) -> web.AppRunner:
    app = web.Application(client_max_size=MAX_RUN_RESPONSE_BYTES * 2)
    app.router.add_get(PATH, server.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    server.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    return runner


def wire(data: dict[str, Any]) -> bytes:
    return orjson.dumps(data)


async def test_an_oversized_answer_is_refused_unparsed_and_the_run_stays() -> None:
    good = wire(run_dict())
    huge = copy.deepcopy(run_dict())
    huge["Description"] = "x" * (MAX_RUN_RESPONSE_BYTES + 1)
    server = Scripted([good, wire(huge)])
    runner = await serve(server)
    try:
        async with AppConfigExperiments(sources=[SOURCE], **options(server.url)) as exp:
            assert len(exp.runs) == 1
            before = dict(exp.runs)
            assert await exp.refresh() is False
            assert exp.runs == before  # the loaded run stays
            assert exp.stats.rejected_runs == 1
            assert "exceeds the 4194304-byte cap" in (exp.stats.last_error or "")
    finally:
        await runner.cleanup()


async def test_a_source_changing_flag_key_keeps_one_run() -> None:
    bodies = []
    for i in range(5):
        data = copy.deepcopy(run_dict())
        data["ExperimentDefinitionSnapshot"]["FlagKey"] = f"flag-{i}"
        bodies.append(wire(data))
    server = Scripted(bodies)
    runner = await serve(server)
    try:
        async with AppConfigExperiments(sources=[SOURCE], **options(server.url)) as exp:
            for _ in range(4):
                assert await exp.refresh() is True
            assert list(exp.runs) == ["flag-4"]
    finally:
        await runner.cleanup()
