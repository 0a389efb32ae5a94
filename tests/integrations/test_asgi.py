"""The ASGI lifespan on Starlette: start, state, composition with the app's lifespan, flush."""

from __future__ import annotations

import warnings
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from asyncexp import Client
from asyncexp.errors import ArgumentTypeError, ClientClosedError, ClientStateError
from asyncexp.integrations.asgi import asyncexp_lifespan, get_client, managed_client
from asyncexp.testing import CapturingCollector, IngestionServer
from tests.integrations.harness import (
    RecordingCollector,
    capturing_client,
    client_factory,
    event_names,
    run_lifespan,
    with_state,
)


async def page(request: Request) -> JSONResponse:
    client = get_client(request)
    decision = client.create_user_context(request.query_params["user"]).decide("search_redesign")
    client.track(request.query_params["user"], "PageServed")
    from_state = request.state.asyncexp if "asyncexp" in request.scope.get("state", {}) else None
    return JSONResponse(
        {"flag": decision.flag_key, "client_in_request_state": from_state is client}
    )


def make_app(lifespan: Any) -> Starlette:
    return Starlette(routes=[Route("/page", page)], lifespan=lifespan)


def http_client(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


async def test_lifespan_starts_the_client_and_flushes_it_on_shutdown(
    ingest: IngestionServer,
) -> None:
    client = client_factory(ingest)()
    app = make_app(asyncexp_lifespan(client))
    async with run_lifespan(app) as state:
        assert state == {"asyncexp": client}
        assert app.state.asyncexp is client
        async with http_client(with_state(app, state)) as http:
            for i in range(4):
                response = await http.get("/page", params={"user": f"u{i}"})
                assert response.json() == {
                    "flag": "search_redesign",
                    "client_in_request_state": True,
                }
        assert not client.closed
        assert ingest.request_count == 0  # only the shutdown flush ships (interval: an hour)
    assert client.closed
    assert event_names(ingest) == ["PageServed"] * 4
    assert ingest.event_count == 4


async def test_app_state_serves_requests_when_the_server_passes_no_state(
    ingest: IngestionServer,
) -> None:
    app = make_app(asyncexp_lifespan(client_factory(ingest)))
    async with run_lifespan(app), http_client(app) as http:  # no per-request state
        response = await http.get("/page", params={"user": "u1"})
        assert response.json() == {"flag": "search_redesign", "client_in_request_state": False}
    assert event_names(ingest) == ["PageServed"]


async def test_the_apps_own_lifespan_runs_inside_the_clients(ingest: IngestionServer) -> None:
    seen: list[str] = []

    @asynccontextmanager
    async def app_lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        client = app.state.exp  # already started: startup code may track
        client.track("system", "AppStarted")
        seen.append("app startup")
        yield {"db": "connection"}
        client.track("system", "AppStopping")  # still open: shipped by the final flush
        seen.append(f"app shutdown, client closed: {client.closed}")

    client = client_factory(ingest)()
    app = make_app(asyncexp_lifespan(client, lifespan=app_lifespan, key="exp"))
    async with run_lifespan(app) as state:
        assert state == {"db": "connection", "exp": client}
        assert seen == ["app startup"]
        with pytest.raises(ClientStateError, match="'asyncexp'"):
            get_client({"state": state})  # the default key is not where it was put
        assert get_client({"state": state}, "exp") is client
    assert seen == ["app startup", "app shutdown, client closed: False"]
    assert event_names(ingest) == ["AppStarted", "AppStopping"]


async def test_a_bare_async_generator_lifespan_is_accepted_as_fastapi_does(
    ingest: IngestionServer,
) -> None:
    seen: list[str] = []

    async def app_lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        seen.append("up")
        yield {"cache": "warm"}
        seen.append("down")

    app = make_app(asyncexp_lifespan(client_factory(ingest), lifespan=app_lifespan))
    async with run_lifespan(app) as state:
        assert state["cache"] == "warm"
        state["asyncexp"].track("u1", "Inside")
    assert seen == ["up", "down"]
    assert event_names(ingest) == ["Inside"]


async def test_a_failing_app_startup_still_closes_the_client() -> None:
    collector = CapturingCollector()

    @asynccontextmanager
    async def broken(app: Starlette) -> AsyncIterator[None]:
        raise RuntimeError("database unreachable")
        yield

    app = make_app(asyncexp_lifespan(capturing_client(collector), lifespan=broken))
    with pytest.raises(RuntimeError, match="database unreachable"):
        async with run_lifespan(app):
            pass
    assert collector.started
    assert collector.closed


async def test_a_factory_gives_each_startup_a_fresh_client(ingest: IngestionServer) -> None:
    made: list[Client] = []

    async def factory() -> Client:
        made.append(client_factory(ingest)())
        return made[-1]

    app = make_app(asyncexp_lifespan(factory))
    for _ in range(2):
        async with run_lifespan(app) as state:
            state["asyncexp"].track("u1", "Run")
    assert len(made) == 2
    assert made[0] is not made[1]
    assert all(client.closed for client in made)
    assert event_names(ingest) == ["Run", "Run"]


async def test_a_client_instance_cannot_start_a_second_time() -> None:
    app = make_app(asyncexp_lifespan(capturing_client(CapturingCollector())))
    async with run_lifespan(app):
        pass
    with pytest.raises(ClientClosedError):
        async with run_lifespan(app):
            pass


def test_starlette_testclient_runs_the_lifespan() -> None:
    # Starlette's TestClient runs the app on its own loop in a thread; the client
    # must start and close there.
    with warnings.catch_warnings():
        # Newer Starlette asks for httpx2 instead of httpx; either drives the app.
        warnings.filterwarnings("ignore", message=".*httpx2", category=UserWarning)
        from starlette.testclient import TestClient

    collector = CapturingCollector()
    app = make_app(asyncexp_lifespan(lambda: capturing_client(collector)))
    with TestClient(app) as http:
        assert collector.started
        assert not collector.closed
        body = http.get("/page", params={"user": "u1"}).json()
        assert body == {"flag": "search_redesign", "client_in_request_state": True}
    assert collector.closed
    assert [record["xwhat"] for record in collector.records] == ["PageServed"]
    assert len(collector.events) == 1  # the impression of the decision


async def test_managed_client_closes_with_the_timeout_even_when_the_body_fails() -> None:
    collector = RecordingCollector()
    client = capturing_client(collector)

    async def failing_body() -> None:
        async with managed_client(client, close_timeout=1.5):
            assert collector.started
            raise KeyError("handler bug")

    with pytest.raises(KeyError):
        await failing_body()
    assert client.closed
    assert collector.close_timeouts == [1.5]


async def test_get_client_without_the_lifespan_names_the_fix() -> None:
    app = Starlette(routes=[Route("/page", page)])
    async with http_client(app) as http:
        with pytest.raises(ClientStateError, match="asyncexp_lifespan"):
            await http.get("/page", params={"user": "u1"})


async def test_a_factory_returning_something_else_fails_the_startup() -> None:
    app = make_app(asyncexp_lifespan(lambda: object()))  # type: ignore[arg-type,return-value]
    with pytest.raises(ArgumentTypeError, match="returned object"):
        async with run_lifespan(app):
            pass


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"source": "client"}, "Client or a factory"),
        ({"source": Client, "lifespan": "not callable"}, "lifespan must be callable"),
        ({"source": Client, "key": ""}, "key must be a non-empty str"),
    ],
)
def test_bad_arguments_are_refused_when_the_app_is_built(
    kwargs: dict[str, Any], message: str
) -> None:
    source = kwargs.pop("source")
    with pytest.raises(ArgumentTypeError, match=message):
        asyncexp_lifespan(source, **kwargs)
