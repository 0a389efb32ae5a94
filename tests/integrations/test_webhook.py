"""Optimizely's datafile webhook (X-Hub-Signature: sha1 HMAC of the body) for aiohttp and
ASGI: a signed POST refreshes the client; unsigned, wrongly signed or oversized ones are
refused and trigger nothing. Real servers on 127.0.0.1: the datafile host, the app."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
import pytest
import uvicorn
from aiohttp import web
from aiohttp.test_utils import TestServer
from starlette.applications import Starlette
from starlette.routing import Mount

from asyncexp import Client, ConfigError
from asyncexp.flags.notifications import NotificationType
from asyncexp.integrations.aiohttp import setup_client, setup_webhook
from asyncexp.integrations.asgi import asyncexp_lifespan
from asyncexp.integrations.webhook import SIGNATURE_HEADER, WebhookReceiver, asgi_webhook, sign
from asyncexp.testing import DatafileBuilder
from tests.local_servers import DatafileHost

SECRET = "whsec-do-not-leak-7f3a"
PAYLOAD = json.dumps(
    {
        "project_id": 1234,
        "timestamp": 1468447113,
        "event": "project.datafile_updated",
        "data": {"revision": 2, "origin_url": "https://cdn.example/datafiles/k.json"},
    }
).encode()


def datafile(revision: str) -> dict[str, object]:
    builder = DatafileBuilder(revision=revision)
    builder.flag("f").variation("on").serve("on")
    return builder.build()


@pytest.fixture
async def host() -> AsyncIterator[DatafileHost]:
    async with DatafileHost(datafile("1")) as server:
        yield server


def updated(client: Client) -> asyncio.Event:
    event = asyncio.Event()
    client.notifications.add_listener(NotificationType.CONFIG_UPDATE, event.set)
    return event


def test_signature_is_optimizelys_sha1_hmac_hexdigest() -> None:
    import hashlib
    import hmac

    expected = "sha1=" + hmac.new(SECRET.encode(), PAYLOAD, hashlib.sha1).hexdigest()
    assert sign(SECRET, PAYLOAD) == expected
    receiver = WebhookReceiver(SECRET)
    assert receiver.verify(PAYLOAD, expected) == 202
    assert receiver.verify(PAYLOAD, None) == 401
    assert receiver.verify(PAYLOAD, expected.upper()) == 403
    assert receiver.verify(PAYLOAD + b" ", expected) == 403
    assert receiver.verify(PAYLOAD, "sha1=é") == 403  # not ASCII: refused, no crash
    assert SECRET not in repr(receiver)


@pytest.mark.parametrize("secret", ["", b"", None, 5])
def test_secret_must_be_given(secret: object) -> None:
    with pytest.raises(ConfigError, match="secret"):
        WebhookReceiver(secret)  # type: ignore[arg-type]


# -- aiohttp --------------------------------------------------------------------------
@asynccontextmanager
async def aiohttp_app(host: DatafileHost) -> AsyncIterator[tuple[str, Client, WebhookReceiver]]:
    client = Client(datafile_url=host.url, update_interval=3600)
    app = web.Application()
    setup_client(app, client)
    receiver = setup_webhook(app, "/webhooks/optimizely", secret=SECRET)
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    try:
        yield str(server.make_url("/webhooks/optimizely")), client, receiver
    finally:
        await server.close()


async def post(url: str, body: bytes, signature: str | None) -> tuple[int, str]:
    headers = {"Content-Type": "application/json"}
    if signature is not None:
        headers[SIGNATURE_HEADER] = signature
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, data=body, headers=headers) as resp,
    ):
        return resp.status, await resp.text()


async def test_aiohttp_signed_request_refreshes(host: DatafileHost) -> None:
    async with aiohttp_app(host) as (url, client, receiver):
        assert client.config is not None
        assert client.config.revision == "1"
        host.datafile = datafile("2")
        arrived = updated(client)
        status, text = await post(url, PAYLOAD, sign(SECRET, PAYLOAD))
        assert (status, text) == (202, "refresh scheduled")
        await arrived.wait()
        assert client.config.revision == "2"
        assert host.gets == 2  # the start, then the webhook's
        assert receiver.stats.accepted == 1


async def test_aiohttp_bad_or_missing_signature_is_refused_and_triggers_nothing(
    host: DatafileHost, caplog: pytest.LogCaptureFixture
) -> None:
    async with aiohttp_app(host) as (url, client, receiver):
        host.datafile = datafile("2")
        with caplog.at_level(logging.DEBUG):
            missing = await post(url, PAYLOAD, None)
            wrong = await post(url, PAYLOAD, sign("another-secret", PAYLOAD))
            tampered = await post(url, PAYLOAD + b"x", sign(SECRET, PAYLOAD))
        assert missing == (401, "missing signature")
        assert wrong == (403, "invalid signature")
        assert tampered[0] == 403
        await receiver.drain()
        assert host.gets == 1  # only the start's fetch
        assert client.config is not None
        assert client.config.revision == "1"
        assert (receiver.stats.unsigned, receiver.stats.bad_signature) == (1, 2)
        assert all(SECRET not in r.getMessage() for r in caplog.records)
        assert all(SECRET not in text for _, text in (missing, wrong, tampered))
        # a signed one now is the first refresh: nothing was queued by the others
        await post(url, PAYLOAD, sign(SECRET, PAYLOAD))
        await receiver.drain()
        assert host.gets == 2


async def test_aiohttp_oversized_body_is_refused(host: DatafileHost) -> None:
    async with aiohttp_app(host) as (url, _client, receiver):
        body = b"x" * (receiver.max_body_bytes + 1)
        assert (await post(url, body, sign(SECRET, body)))[0] == 413
        await receiver.drain()
        assert host.gets == 1
        assert receiver.stats.too_large == 1


async def test_requests_during_a_refresh_coalesce_into_one_more(host: DatafileHost) -> None:
    async with aiohttp_app(host) as (url, client, receiver):
        signed = sign(SECRET, PAYLOAD)
        host.gate.clear()  # the webhook's fetch will hang until released
        assert await post(url, PAYLOAD, signed) == (202, "refresh scheduled")
        await host.wait_count(2)  # that refresh is in flight
        statuses = await asyncio.gather(*(post(url, PAYLOAD, signed) for _ in range(4)))
        assert [s for s, _ in statuses] == [202] * 4  # answered while the fetch hangs
        host.gate.set()
        await receiver.drain()
        # four webhooks during a refresh: one more refresh after it, not four
        assert host.gets == 3
        assert receiver.stats.refreshes == 2
        assert client.config is not None


# -- ASGI (Starlette under uvicorn) ---------------------------------------------------
@asynccontextmanager
async def asgi_app(host: DatafileHost) -> AsyncIterator[tuple[str, Client, WebhookReceiver]]:
    client = Client(datafile_url=host.url, update_interval=3600)
    webhook = asgi_webhook(SECRET)
    app = Starlette(
        routes=[Mount("/webhooks/optimizely", app=webhook)], lifespan=asyncexp_lifespan(client)
    )
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()  # listening before uvicorn starts: no race for the port
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, lifespan="on", log_level="warning"))
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        assert await client.ready(30)  # the lifespan started the client: revision 1
        yield f"http://127.0.0.1:{port}/webhooks/optimizely", client, webhook.receiver
    finally:
        server.should_exit = True
        await serving
        sock.close()


async def test_asgi_signed_request_refreshes(host: DatafileHost) -> None:
    async with asgi_app(host) as (url, client, receiver):
        assert client.config is not None
        assert client.config.revision == "1"
        host.datafile = datafile("2")
        status, text = await post(url, PAYLOAD, sign(SECRET, PAYLOAD))
        assert (status, text) == (202, "refresh scheduled")
        await receiver.drain()
        assert client.config is not None
        assert client.config.revision == "2"
        assert host.gets == 2


async def test_asgi_refuses_bad_missing_and_oversized(host: DatafileHost) -> None:
    async with asgi_app(host) as (url, client, receiver):
        host.datafile = datafile("2")
        assert await post(url, PAYLOAD, None) == (401, "missing signature")
        assert await post(url, PAYLOAD, sign("nope", PAYLOAD)) == (403, "invalid signature")
        big = b"x" * (receiver.max_body_bytes + 1)
        assert (await post(url, big, sign(SECRET, big)))[0] == 413
        async with aiohttp.ClientSession() as session, session.get(url) as resp:
            assert resp.status == 405
        await receiver.drain()
        assert host.gets == 1
        assert client.config is not None
        assert client.config.revision == "1"


async def test_asgi_webhook_served_on_its_own_with_an_explicit_client(host: DatafileHost) -> None:
    async with Client(datafile_url=host.url, update_interval=3600) as client:
        webhook = asgi_webhook(SECRET, client=client)
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        server = uvicorn.Server(uvicorn.Config(webhook, lifespan="on", log_level="warning"))
        serving = asyncio.create_task(server.serve(sockets=[sock]))
        try:
            host.datafile = datafile("2")
            url = f"http://127.0.0.1:{port}/"
            assert await post(url, PAYLOAD, sign(SECRET, PAYLOAD)) == (202, "refresh scheduled")
            await webhook.receiver.drain()
            assert client.config is not None
            assert client.config.revision == "2"
        finally:
            server.should_exit = True
            await serving  # the lifespan shutdown closed the receiver
            sock.close()
        assert not client.closed  # the webhook never closes a client it was given


async def test_aiohttp_without_a_client_answers_503() -> None:
    app = web.Application()
    receiver = setup_webhook(app, "/hook", secret=SECRET)
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    try:
        url = str(server.make_url("/hook"))
        assert await post(url, PAYLOAD, sign(SECRET, PAYLOAD)) == (503, "no client")
    finally:
        await server.close()
    assert receiver.stats.refreshes == 0


async def test_a_refresh_that_fetches_a_rejected_or_failed_datafile_counts_as_a_failure(
    host: DatafileHost,
) -> None:
    async with aiohttp_app(host) as (url, client, receiver):
        host.datafile = {**datafile("3"), "version": "99"}  # a version the client refuses
        status, _ = await post(url, PAYLOAD, sign(SECRET, PAYLOAD))
        assert status == 202
        await receiver.drain()
        assert (receiver.stats.refreshes, receiver.stats.refresh_failures) == (1, 1)
        assert client.config is not None
        assert client.config.revision == "1"
        host.failing = True  # 503
        await post(url, PAYLOAD, sign(SECRET, PAYLOAD))
        await receiver.drain()
        assert (receiver.stats.refreshes, receiver.stats.refresh_failures) == (2, 2)
        host.failing = False
        host.datafile = datafile("4")
        await post(url, PAYLOAD, sign(SECRET, PAYLOAD))
        await receiver.drain()
        assert (receiver.stats.refreshes, receiver.stats.refresh_failures) == (3, 2)
        assert client.config.revision == "4"
