"""FastAPI: the ``UserContext`` and client dependencies, the composed lifespan, the extra."""

# No ``from __future__ import annotations``: FastAPI resolves the annotations of
# the handlers defined inside the tests, which refer to local dependencies.
import importlib
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

import httpx
import pytest
from fastapi import Depends, FastAPI, Request

from asyncexp import UserContext
from asyncexp.errors import ArgumentTypeError, MissingExtraError
from asyncexp.integrations.fastapi import (
    AsyncexpClient,
    CurrentUser,
    UserContextDependency,
    asyncexp_lifespan,
)
from asyncexp.testing import IngestionServer
from tests.integrations.harness import client_factory, event_names, run_lifespan, with_state

FLAG = "payments_sorting"


def build_app(ingest: IngestionServer, **lifespan_kwargs: Any) -> FastAPI:
    app = FastAPI(lifespan=asyncexp_lifespan(client_factory(ingest), **lifespan_kwargs))

    @app.get("/decide")
    async def decide(user: CurrentUser, client: AsyncexpClient) -> dict[str, Any]:
        decision = user.decide(FLAG)
        client.track(user.user_id, "Decided", {"flag": FLAG})
        return {
            "user": user.user_id,
            "flag": decision.flag_key,
            "attributes": user.get_user_attributes(),
        }

    return app


@asynccontextmanager
async def serving(app: FastAPI) -> AsyncIterator[tuple[httpx.AsyncClient, dict[str, Any]]]:
    async with run_lifespan(app) as state:
        transport = httpx.ASGITransport(app=with_state(app, state))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http, state


async def test_current_user_comes_from_the_header_and_events_flush_at_shutdown(
    ingest: IngestionServer,
) -> None:
    app = build_app(ingest)
    async with serving(app) as (http, state):
        for i in range(3):
            response = await http.get("/decide", headers={"X-User-Id": f"user-{i}"})
            assert response.status_code == 200
            assert response.json() == {"user": f"user-{i}", "flag": FLAG, "attributes": {}}
        assert ingest.request_count == 0  # nothing ships before the shutdown flush
        client = state["asyncexp"]
    assert client.closed
    assert [record["xwho"] for record in ingest.records] == ["user-0", "user-1", "user-2"]
    assert event_names(ingest) == ["Decided"] * 3
    assert ingest.event_count == 3


@pytest.mark.parametrize("headers", [{}, {"X-User-Id": ""}, {"X-User-Id": "   "}])
async def test_a_missing_user_id_is_a_400_that_says_what_to_send(
    ingest: IngestionServer, headers: dict[str, str]
) -> None:
    async with serving(build_app(ingest)) as (http, _):
        response = await http.get("/decide", headers=headers)
    assert response.status_code == 400
    assert response.json() == {"detail": "missing user id: send the 'X-User-Id' header"}
    assert ingest.records == []


async def test_cookie_header_attributes_and_a_custom_key(ingest: IngestionServer) -> None:
    def attributes(request: Request) -> dict[str, Any]:
        return {"country": request.headers.get("X-Country", "US"), "plan": "pro"}

    by_cookie = UserContextDependency(
        header="X-Account", cookie="uid", attributes=attributes, key="exp"
    )
    app = FastAPI(lifespan=asyncexp_lifespan(client_factory(ingest), key="exp"))

    @app.get("/me")
    async def me(user: Annotated[UserContext, Depends(by_cookie)]) -> dict[str, Any]:
        return {"user": user.user_id, "attributes": user.get_user_attributes()}

    async with serving(app) as (http, _):
        cookie = await http.get("/me", headers={"Cookie": "uid=c-1", "X-Country": "DE"})
        header = await http.get("/me", headers={"Cookie": "uid=c-1", "X-Account": "h-1"})
        neither = await http.get("/me")
    assert cookie.json() == {"user": "c-1", "attributes": {"country": "DE", "plan": "pro"}}
    assert header.json()["user"] == "h-1"  # the header comes before the cookie
    assert neither.status_code == 400
    assert neither.json()["detail"] == (
        "missing user id: send the 'X-Account' header or the 'uid' cookie"
    )


async def test_an_async_identify_callable_gives_id_and_attributes(ingest: IngestionServer) -> None:
    async def identify(request: Request) -> tuple[str | None, dict[str, Any]]:
        token = request.headers.get("Authorization", "")
        user = token.removeprefix("Bearer ") or None
        return user, {"plan": "enterprise", "country": "FR"}

    async def attributes(request: Request) -> dict[str, Any]:
        return {"country": "BR"}  # added over what identify returned

    dependency = UserContextDependency(identify=identify, attributes=attributes)
    app = FastAPI(lifespan=asyncexp_lifespan(client_factory(ingest)))

    @app.get("/me")
    async def me(user: Annotated[UserContext, Depends(dependency)]) -> dict[str, Any]:
        return {"user": user.user_id, "attributes": user.get_user_attributes()}

    async with serving(app) as (http, _):
        known = await http.get("/me", headers={"Authorization": "Bearer tok-7"})
        unknown = await http.get("/me", headers={"X-User-Id": "ignored"})
    assert known.json() == {"user": "tok-7", "attributes": {"plan": "enterprise", "country": "BR"}}
    assert unknown.status_code == 400
    assert unknown.json()["detail"] == "missing user id: the identify callable returned none"


async def test_the_apps_lifespan_state_and_the_client_reach_the_handler(
    ingest: IngestionServer,
) -> None:
    @asynccontextmanager
    async def app_lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        app.state.asyncexp.register_super_properties({"release": "2026.1"})
        yield {"greeting": "hello"}

    app = FastAPI(lifespan=asyncexp_lifespan(client_factory(ingest), lifespan=app_lifespan))

    @app.get("/hello")
    async def hello(request: Request, client: AsyncexpClient, user: CurrentUser) -> dict[str, Any]:
        client.track(user.user_id, "Greeted")
        return {
            "greeting": request.state.greeting,
            "same_client": client is request.app.state.asyncexp,
        }

    async with serving(app) as (http, _):
        response = await http.get("/hello", headers={"X-User-Id": "u1"})
    assert response.json() == {"greeting": "hello", "same_client": True}
    (record,) = ingest.records
    assert record["xwhat"] == "Greeted"
    assert record["xcontext"]["release"] == "2026.1"  # set by the app's own startup


def test_a_dependency_with_no_source_is_refused() -> None:
    with pytest.raises(ArgumentTypeError, match="header, a cookie or an identify"):
        UserContextDependency(header=None)
    with pytest.raises(ArgumentTypeError, match="attributes must be callable"):
        UserContextDependency(attributes={"country": "US"})  # type: ignore[arg-type]


def test_without_fastapi_the_import_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "fastapi", None)  # makes `import fastapi` fail
    monkeypatch.delitem(sys.modules, "asyncexp.integrations.fastapi")
    with pytest.raises(MissingExtraError, match=r"asyncexp\[fastapi\]") as caught:
        importlib.import_module("asyncexp.integrations.fastapi")
    assert isinstance(caught.value, ImportError)


def test_the_asgi_lifespan_itself_needs_no_framework(monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncexp.integrations

    blocked = [n for n in sys.modules if n.split(".")[0] in ("starlette", "fastapi")]
    for name in [*blocked, "starlette", "fastapi"]:
        monkeypatch.setitem(sys.modules, name, None)  # any import of them fails
    # Restore the package attribute too: a fresh import rebinds it.
    monkeypatch.setattr(asyncexp.integrations, "asgi", asyncexp.integrations.asgi)
    monkeypatch.delitem(sys.modules, "asyncexp.integrations.asgi")
    module = importlib.import_module("asyncexp.integrations.asgi")
    assert callable(module.asyncexp_lifespan)
