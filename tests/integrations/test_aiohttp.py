"""aiohttp.web: ``setup_client`` starts the client with the app and flushes it on cleanup."""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import Callable

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer, make_mocked_request

from asyncexp import Client
from asyncexp.errors import ArgumentTypeError, ClientClosedError, ClientStateError
from asyncexp.integrations.aiohttp import CLIENT_KEY, get_client, setup_client
from asyncexp.testing import CapturingCollector, IngestionServer
from tests.integrations.harness import (
    APP_KEY,
    RecordingCollector,
    capturing_client,
    client_factory,
    event_names,
)

FLAG = "checkout_widget"


def decide_and_track(request: web.Request) -> web.Response:
    client = get_client(request)
    user_id = request.query["user"]
    decision = client.create_user_context(user_id, {"country": "US"}).decide(FLAG)
    client.track(user_id, "PageServed", {"path": request.path})
    return web.json_response({"flag": decision.flag_key, "variation": decision.variation_key})


async def handler(request: web.Request) -> web.Response:
    return decide_and_track(request)


def make_app(factory: Callable[[], Client] | Client, **kwargs: object) -> web.Application:
    app = web.Application()
    setup_client(app, factory, **kwargs)  # type: ignore[arg-type]
    app.router.add_get("/page", handler)
    return app


async def test_client_started_on_startup_and_flushed_on_cleanup(ingest: IngestionServer) -> None:
    made: list[Client] = []

    def factory() -> Client:
        made.append(client_factory(ingest)())
        return made[-1]

    app = make_app(factory)
    assert made == []  # built at startup, inside the running loop
    http = TestClient(TestServer(app))
    await http.start_server()
    try:
        (client,) = made
        assert app[CLIENT_KEY] is client
        bodies = []
        for i in range(5):
            response = await http.get("/page", params={"user": f"u{i}"})
            assert response.status == 200
            bodies.append(await response.json())
        assert {body["flag"] for body in bodies} == {FLAG}
        # The collector waits an hour between sends: nothing has left yet.
        assert ingest.request_count == 0
    finally:
        await http.close()
    assert client.closed
    assert event_names(ingest) == ["PageServed"] * 5
    assert {record["appid"] for record in ingest.records} == {APP_KEY}
    assert ingest.event_count == 5  # one impression per decision
    with pytest.raises(ClientClosedError):
        client.create_user_context("late")


async def test_a_client_instance_and_an_async_factory_both_work(ingest: IngestionServer) -> None:
    collector = CapturingCollector()
    instance = capturing_client(collector)

    async def async_factory() -> Client:
        await asyncio.sleep(0)  # a factory may await, e.g. to read secrets
        return client_factory(ingest)()

    app = make_app(instance)
    other_key = web.AppKey("second_client", Client)
    setup_client(app, async_factory, key=other_key)

    async def both(request: web.Request) -> web.Response:
        first, second = get_client(request), get_client(request, other_key)
        first.track("u1", "First")
        second.track("u1", "Second")
        return web.Response(text=f"{first is second}")

    app.router.add_get("/both", both)
    async with TestClient(TestServer(app)) as http:
        assert collector.started
        response = await http.get("/both")
        assert await response.text() == "False"
    assert collector.closed
    assert [record["xwhat"] for record in collector.records] == ["First"]
    assert event_names(ingest) == ["Second"]


async def test_sub_application_handlers_reach_the_root_client() -> None:
    collector = CapturingCollector()
    root = make_app(capturing_client(collector))
    sub = web.Application()
    sub.router.add_get("/page", handler)
    root.add_subapp("/sub", sub)
    async with TestClient(TestServer(root)) as http:
        response = await http.get("/sub/page", params={"user": "u9"})
        assert response.status == 200
    assert [record["xwhat"] for record in collector.records] == ["PageServed"]


async def test_storing_the_client_does_not_touch_a_frozen_app() -> None:
    app = make_app(capturing_client(CapturingCollector()))
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        async with TestClient(TestServer(app)) as http:
            response = await http.get("/page", params={"user": "u1"})
            assert response.status == 200


async def test_close_timeout_reaches_the_collector() -> None:
    collector = RecordingCollector()
    app = make_app(capturing_client(collector), close_timeout=2.5)
    async with TestClient(TestServer(app)):
        assert collector.close_timeouts == []
    assert collector.close_timeouts == [2.5]


async def test_get_client_without_setup_says_what_to_do() -> None:
    request = make_mocked_request("GET", "/", app=web.Application())
    with pytest.raises(ClientStateError, match="setup_client"):
        get_client(request)


async def test_a_factory_that_returns_something_else_fails_the_startup() -> None:
    app = make_app(lambda: "not a client")  # type: ignore[arg-type,return-value]
    server = TestServer(app)
    with pytest.raises(ArgumentTypeError, match="returned str"):
        await server.start_server()
    await server.close()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("not an app", CapturingCollector), "web.Application"),
        ((web.Application(), 42), "Client or a factory"),
    ],
)
def test_bad_arguments_are_refused_at_setup(args: tuple[object, object], message: str) -> None:
    with pytest.raises(ArgumentTypeError, match=message):
        setup_client(*args)  # type: ignore[arg-type]


def test_a_plain_string_key_is_refused() -> None:
    with pytest.raises(ArgumentTypeError, match="AppKey"):
        setup_client(web.Application(), Client(), key="asyncexp")  # type: ignore[arg-type]


async def test_get_client_before_startup_says_it_is_registered_but_not_running() -> None:
    app = web.Application()
    setup_client(app, lambda: capturing_client(CapturingCollector()))
    request = make_mocked_request("GET", "/", app=app)
    with pytest.raises(ClientStateError) as info:
        get_client(request)
    assert "setup_client registered it" in str(info.value)
    assert "call setup_client" not in str(info.value)
    other = web.Application()
    with pytest.raises(ClientStateError, match="call setup_client"):  # never registered
        get_client(make_mocked_request("GET", "/", app=other))
