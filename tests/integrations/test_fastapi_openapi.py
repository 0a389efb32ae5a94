"""FastAPI: the user dependency declares its header and cookie in the OpenAPI schema."""

# No ``from __future__ import annotations``: FastAPI resolves the handlers' annotations.
from typing import Annotated, Any

import httpx
import pytest
from fastapi import Depends, FastAPI

from asyncexp import UserContext
from asyncexp.integrations.fastapi import CurrentUser, UserContextDependency, asyncexp_lifespan
from asyncexp.testing import IngestionServer
from tests.integrations.harness import client_factory, run_lifespan, with_state


def _parameters(app: FastAPI, path: str) -> list[dict[str, Any]]:
    params: list[dict[str, Any]] = app.openapi()["paths"][path]["get"].get("parameters", [])
    return [{k: p[k] for k in ("name", "in", "required")} for p in params]


def test_current_user_declares_the_x_user_id_header() -> None:
    app = FastAPI()

    @app.get("/decide")
    async def decide(user: CurrentUser) -> dict[str, str]:
        return {"user": user.user_id}

    assert _parameters(app, "/decide") == [{"name": "X-User-Id", "in": "header", "required": False}]
    schema = app.openapi()["paths"]["/decide"]["get"]["parameters"][0]
    assert schema["description"] == "The user id for flag decisions"


def test_custom_header_cookie_and_identify() -> None:
    both = UserContextDependency(header="X-Account", cookie="uid")
    cookie_only = UserContextDependency(header=None, cookie="uid")
    identify = UserContextDependency(identify=lambda request: ("u", None))
    app = FastAPI()

    @app.get("/both")
    async def b(user: Annotated[UserContext, Depends(both)]) -> str:
        return user.user_id

    @app.get("/cookie")
    async def c(user: Annotated[UserContext, Depends(cookie_only)]) -> str:
        return user.user_id

    @app.get("/identify")
    async def i(user: Annotated[UserContext, Depends(identify)]) -> str:
        return user.user_id

    assert _parameters(app, "/both") == [
        {"name": "X-Account", "in": "header", "required": False},
        {"name": "uid", "in": "cookie", "required": False},
    ]
    assert _parameters(app, "/cookie") == [{"name": "uid", "in": "cookie", "required": False}]
    assert _parameters(app, "/identify") == []  # the callable decides: nothing to declare


@pytest.mark.parametrize(
    ("headers", "status", "body"),
    [
        ({"X-Account": "h-1"}, 200, "h-1"),
        ({"Cookie": "uid=c-1"}, 200, "c-1"),
        ({"X-Account": "h-1", "Cookie": "uid=c-1"}, 200, "h-1"),  # the header first
        ({}, 400, {"detail": "missing user id: send the 'X-Account' header or the 'uid' cookie"}),
    ],
)
async def test_declared_parameters_still_resolve_the_user(
    ingest: IngestionServer, headers: dict[str, str], status: int, body: Any
) -> None:
    both = UserContextDependency(header="X-Account", cookie="uid")
    app = FastAPI(lifespan=asyncexp_lifespan(client_factory(ingest)))

    @app.get("/me")
    async def me(user: Annotated[UserContext, Depends(both)]) -> str:
        return user.user_id

    async with run_lifespan(app) as state:
        transport = httpx.ASGITransport(app=with_state(app, state))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            response = await http.get("/me", headers=headers)
    assert response.status_code == status
    assert response.json() == body
