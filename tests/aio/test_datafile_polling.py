"""Datafile polling against a real aiohttp server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web

from asyncexp.aio.datafile_source import DatafileSource, datafile_url_for
from asyncexp.aio.http import HttpTransport, RetryPolicy
from asyncexp.aio.refresh_result import RefreshResult
from asyncexp.client import Client
from asyncexp.errors import ConfigError
from tests.datafiles import base_datafile


def datafile_text(revision: str, version: str = "4") -> str:
    doc = base_datafile()
    doc["revision"] = revision
    doc["version"] = version
    return json.dumps(doc)


LAST_MODIFIED = "Wed, 21 Oct 2026 07:28:00 GMT"


@dataclass
class DatafileServer:
    """Serves ``body`` with an ETag/Last-Modified; ``mode`` switches failures."""

    body: str = field(default_factory=lambda: datafile_text("1"))
    etag: str = '"v1"'
    mode: str = "ok"  # ok | 500 | hang | reset
    requests: list[dict[str, str]] = field(default_factory=list)
    hang: asyncio.Event = field(default_factory=asyncio.Event)
    arrived: asyncio.Queue[None] = field(default_factory=asyncio.Queue)
    url: str = ""

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(dict(request.headers))
        self.arrived.put_nowait(None)
        if self.mode == "500":
            return web.Response(status=500)
        if self.mode == "hang":
            await self.hang.wait()
        if self.mode == "reset":
            assert request.transport is not None
            request.transport.close()
            return web.Response(status=200)
        if self.etag and request.headers.get("If-None-Match") == self.etag:
            return web.Response(status=304)
        if not self.etag and request.headers.get("If-Modified-Since") == LAST_MODIFIED:
            return web.Response(status=304)
        headers = {"Last-Modified": LAST_MODIFIED}
        if self.etag:
            headers["ETag"] = self.etag
        return web.Response(text=self.body, content_type="application/json", headers=headers)


@pytest.fixture
async def df_server() -> AsyncIterator[DatafileServer]:
    state = DatafileServer()
    app = web.Application()
    app.router.add_get("/{tail:.*}", state.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    state.url = f"http://127.0.0.1:{port}"
    yield state
    state.hang.set()
    await runner.cleanup()


async def test_first_fetch_then_304_with_both_validators(df_server: DatafileServer) -> None:
    updates: list[str] = []
    client = Client(datafile_url=df_server.url + "/datafile.json", request_timeout=5)
    client.notifications.add_listener("CONFIG_UPDATE", lambda: updates.append("u"))
    async with client:
        assert client.config is not None
        assert client.config.revision == "1"
        assert updates == ["u"]
        assert await client.refresh() is RefreshResult.NOT_MODIFIED
        sent = df_server.requests[-1]
        assert sent["If-None-Match"] == '"v1"'
        assert sent["If-Modified-Since"] == "Wed, 21 Oct 2026 07:28:00 GMT"
        stats = client.datafile_stats
        assert stats is not None
        assert stats.not_modified == 1
        assert updates == ["u"]
    assert "If-None-Match" not in df_server.requests[0]


async def test_304_from_last_modified_alone(df_server: DatafileServer) -> None:
    df_server.etag = ""  # a server that only knows Last-Modified
    async with Client(datafile_url=df_server.url + "/d.json") as client:
        assert await client.refresh() is RefreshResult.NOT_MODIFIED
        assert "If-None-Match" not in df_server.requests[-1]
        assert df_server.requests[-1]["If-Modified-Since"] == LAST_MODIFIED
        assert client.datafile_stats is not None
        assert client.datafile_stats.not_modified == 1
        assert client.config is not None
        assert client.config.revision == "1"


async def test_revision_change_fires_one_update(df_server: DatafileServer) -> None:
    updates: list[str] = []
    async with Client(datafile_url=df_server.url + "/d.json") as client:
        client.notifications.add_listener("OPTIMIZELY_CONFIG_UPDATE", lambda: updates.append("a"))
        client.notifications.add_listener("EYEOFCLOUD_CONFIG_UPDATE", lambda: updates.append("b"))
        df_server.body, df_server.etag = datafile_text("2"), '"v2"'
        assert await client.refresh() is RefreshResult.UPDATED
        assert client.config is not None
        assert client.config.revision == "2"
        assert updates == ["a", "b"]
        df_server.body, df_server.etag = datafile_text("2"), '"v2-again"'
        # a new body with the same revision is not applied
        assert await client.refresh() is RefreshResult.UNCHANGED
        assert updates == ["a", "b"]
        assert client.datafile_stats is not None
        assert client.datafile_stats.unchanged_revision == 1


@pytest.mark.parametrize(
    ("mode", "body", "kind"),
    [
        ("ok", "{not json", "invalid_datafile"),
        ("ok", datafile_text("9", version="5"), "invalid_datafile"),
        ("500", "", "http_500"),
        ("reset", "", "network"),
        ("hang", "", "timeout"),
    ],
)
async def test_failures_keep_the_working_config(
    df_server: DatafileServer, mode: str, body: str, kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with Client(datafile_url=df_server.url + "/d.json", request_timeout=0.2) as client:
        assert client.config is not None
        df_server.mode, df_server.etag = mode, '"bad"'
        if body:
            df_server.body = body
        result = await client.refresh()
        # a body that arrived but was refused is REJECTED, anything else FAILED; neither
        # is truthy: the client does not serve what the server serves
        assert result is (RefreshResult.REJECTED if mode == "ok" else RefreshResult.FAILED)
        assert not result
        assert await client.refresh() is result
        assert client.config.revision == "1"
        stats = client.datafile_stats
        assert stats is not None
        assert stats.errors == {kind: 2}
        assert client.create_user_context("u", {"age": 30}).decide("checkout").rule_key
    if kind == "invalid_datafile":  # logged once per distinct body, not per fetch
        assert caplog.text.count("Ignoring datafile") == 1


async def test_bad_first_datafile_then_good_one(df_server: DatafileServer) -> None:
    df_server.body = "{broken"
    client = Client(datafile_url=df_server.url + "/d.json", ready_timeout=0.05)
    async with client:
        decision = client.create_user_context("u").decide("checkout")
        assert decision.reasons == ["Optimizely SDK not configured properly yet."]
        df_server.body, df_server.etag = datafile_text("3"), '"v3"'
        await client.refresh()
        assert await client.ready(0) is True
        assert client.create_user_context("u", {"age": 30}).decide("checkout").rule_key


async def test_bearer_token_only_on_the_authenticated_url(df_server: DatafileServer) -> None:
    template = df_server.url + "/auth/{sdk_key}.json"
    client = Client(sdk_key="key1", datafile_access_token="s3cret", url_template=template)
    async with client:
        assert client.config is not None
    assert df_server.requests[0]["Authorization"] == "Bearer s3cret"
    assert "s3cret" not in repr(client._source)
    async with Client(sdk_key="key1", url_template=df_server.url + "/{sdk_key}.json"):
        pass
    assert "Authorization" not in df_server.requests[-1]


async def test_bootstrap_datafile_then_polling(df_server: DatafileServer) -> None:
    df_server.body, df_server.etag = datafile_text("5"), '"v5"'
    client = Client(datafile=datafile_text("4"), datafile_url=df_server.url + "/d.json")
    assert client.config is not None
    assert client.config.revision == "4"  # usable before start
    async with client:
        await client.refresh()
        assert client.config.revision == "5"


async def test_ready_timeout_and_prompt_close(df_server: DatafileServer) -> None:
    df_server.mode = "hang"
    client = Client(datafile_url=df_server.url + "/d.json", ready_timeout=0.05, request_timeout=60)
    await client.start()
    assert client.config is None
    assert await client.ready(0) is False
    await df_server.arrived.get()
    await client.aclose()  # cancels the hanging fetch instead of waiting 60 s
    assert client.closed


async def test_backoff_grows_then_resets(df_server: DatafileServer) -> None:
    waited: asyncio.Queue[float] = asyncio.Queue()
    gate: asyncio.Queue[None] = asyncio.Queue()

    async def fake_wait(seconds: float) -> None:
        waited.put_nowait(seconds)
        await gate.get()

    applied: list[str] = []
    df_server.mode = "500"
    source = DatafileSource(
        df_server.url + "/d.json",
        lambda config: applied.append(config.revision),
        update_interval=300,
        backoff=RetryPolicy(base_delay=1.0, max_delay=300),
        jitter=lambda: 1.0,
        wait=fake_wait,
    )
    transport = HttpTransport()
    source.start(transport)
    waits = [await waited.get()]
    for _ in range(2):
        gate.put_nowait(None)
        waits.append(await waited.get())
    df_server.mode = "ok"
    gate.put_nowait(None)
    waits.append(await waited.get())
    await source.aclose()
    await transport.aclose()
    assert waits == [1.0, 2.0, 4.0, 300]
    assert applied == ["1"]
    assert source.stats.errors == {"http_500": 3}


def test_url_templates() -> None:
    assert datafile_url_for("K") == "https://cdn.optimizely.com/datafiles/K.json"
    assert datafile_url_for("K", vendor="eyeofcloud") == (
        "https://cdn.eyeofcloud.com/datafiles/K.json"
    )
    assert datafile_url_for("K", authenticated=True) == (
        "https://config.optimizely.com/datafiles/auth/K.json"
    )
    with pytest.raises(ConfigError):
        datafile_url_for("K", vendor="nope")
    with pytest.raises(ConfigError):
        datafile_url_for(None)
    with pytest.raises(ConfigError):
        datafile_url_for("K", url_template="https://x/static.json")


async def test_large_datafile_is_parsed_off_the_loop(
    df_server: DatafileServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    from asyncexp.flags import parsing

    doc: dict[str, Any] = json.loads(datafile_text("big"))
    doc["padding"] = ["x" * 1000] * 1100  # ~1.1 MB
    df_server.body = json.dumps(doc)
    threads: list[bool] = []
    real_parse = parsing.parse_datafile

    def spy(body: Any) -> Any:
        threads.append(threading.current_thread() is threading.main_thread())
        return real_parse(body)

    monkeypatch.setattr(parsing, "parse_datafile", spy)
    async with Client(datafile_url=df_server.url + "/d.json") as client:
        assert client.config is not None
        assert client.config.revision == "big"
    assert threads == [False]  # parsed in the executor, not on the loop's thread


async def test_config_view_is_built_once_per_revision(df_server: DatafileServer) -> None:
    async with Client(datafile_url=df_server.url + "/d.json") as client:
        view = client.get_config()
        assert view is not None
        assert client.get_config() is view  # cached while the revision stays
        assert view.revision == "1"
        assert view.get_datafile() == df_server.body
        assert set(view.to_dict()["featuresMap"]) == {
            "checkout",
            "grouped_a",
            "grouped_b",
            "rollout_only",
        }
        df_server.body, df_server.etag = datafile_text("2"), '"v2"'
        await client.refresh()
        fresh = client.get_config()
        assert fresh is not None
        assert fresh is not view
        assert fresh.revision == "2"
    assert Client().get_config() is None
